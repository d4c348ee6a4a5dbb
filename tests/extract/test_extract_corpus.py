"""Every file of the shared corpus, read as an upload would be.

Expectations come from the corpus manifest (its kind column and notes) plus the
explicit tables below, which record a decision per file wherever the manifest alone
cannot say what the outcome should be.
"""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest

from indexer.extract import Extraction, Limits, extract

#: The shared corpus lives beside the repository (``../shared/corpus``), where CI
#: copies it too; ``KEJIAN_CORPUS`` points elsewhere when needed.
CORPUS = Path(
    os.environ.get(
        "KEJIAN_CORPUS",
        Path(__file__).resolve().parents[2].parent / "shared" / "corpus",
    )
)


@dataclass(frozen=True)
class CorpusRow:
    path: str
    kind: str
    notes: str

    @property
    def file(self) -> Path:
        return CORPUS / self.path


def corpus_rows() -> list[CorpusRow]:
    """Rows of the corpus ``MANIFEST.tsv``; none when the corpus is missing."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.is_file():
        return []

    with manifest.open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [CorpusRow(row["path"], row["kind"], row["notes"]) for row in reader]


pytestmark = [
    pytest.mark.corpus,
    pytest.mark.skipif(
        not (CORPUS / "MANIFEST.tsv").is_file(), reason=f"no corpus at {CORPUS}"
    ),
]

ROWS = corpus_rows()

#: Kind expected from the file extension, for rows outside ``broken/``.
KIND_BY_SUFFIX = {
    ".pdf": "pdf",
    ".docx": "document",
    ".odt": "document",
    ".pptx": "presentation",
    ".odp": "presentation",
    ".xlsx": "spreadsheet",
    ".ods": "spreadsheet",
    ".xls": "spreadsheet",
    ".zip": "package",
    ".imscc": "package",
    ".mp4": "video",
    ".webm": "video",
    ".mp3": "audio",
    ".vtt": "text",
    ".svg": "image",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".webp": "image",
    ".json": "text",
    ".md": "text",
}

#: Rows whose kind the extension does not predict, and why.
KIND_EXCEPTIONS = {
    # No manifest or descriptor: a plain zip of two text files, kept as an archive.
    "package/testZipEntryNameCharsetShiftSJIS.zip": "archive",
}

DOCM_AS_DOC = (
    "broken/cpansearch.perl.org_src_tobyink_acme-rundoc-0.001_word-lib_hello_world.docm"
)

#: The outcome decided for each file of ``broken/``: (kind, status, problem excerpt).
#: ``ok`` is only allowed with a reason in :data:`BROKEN_BUT_OK`.
BROKEN: dict[str, tuple[str, str, str | None]] = {
    "broken/invalid.pdf": ("pdf", "rejected", "damaged"),
    "broken/zen_of_python_corrupted.pdf": ("pdf", "ok", None),
    "broken/bug1020226.pdf": ("pdf", "rejected", "damaged"),
    "broken/issue15590.pdf": ("pdf", "rejected", "no visible content"),
    "broken/PDFBOX-3148-2-fuzzed.pdf": ("pdf", "rejected", "no visible content"),
    "broken/badscorm.zip": (
        "package",
        "rejected",
        "no imsmanifest.xml at the package root",
    ),
    "broken/invalid.zip": ("archive", "rejected", "all 1 of its files are empty"),
    "broken/singlescobasic_missingorg.zip": ("package", "partial", "no <organization>"),
    "broken/validaicc.zip": ("package", "rejected", "incomplete AICC package"),
    "broken/truncated62886.docx": ("document", "rejected", "damaged or truncated"),
    "broken/Divino_Revelado.pptx": (
        "presentation",
        "rejected",
        "damaged or truncated",
    ),
    DOCM_AS_DOC: ("document", "partial", "legacy binary Office format"),
    "broken/testMP3truncated.mp3": ("audio", "partial", "ends inside its ID3 tag"),
    "broken/testMP3i18n_truncated.mp3": ("audio", "partial", "truncated"),
    "broken/testMP4_truncated.m4a": ("audio", "partial", "truncated"),
    "broken/testMP3_id3_false_aac.mp3": ("audio", "partial", "truncated"),
    "broken/emptyfile.mp3": ("other", "rejected", "the file is empty"),
    "broken/too-short.mp3": ("audio", "partial", "only 1 audio frame"),
    "broken/bad-xing.mp3": ("audio", "partial", "Xing"),
    "broken/broken.png": ("image", "rejected", "PNG image is damaged"),
}

#: Broken files accepted as ``ok``, and why that is right for the uploader.
BROKEN_BUT_OK = {
    "broken/zen_of_python_corrupted.pdf": (
        "PDFium rebuilds the damaged objects and reads the whole page and all its "
        "text; browsers' viewers open it too, so nothing is lost for a teacher"
    ),
}

HAVE_LIBREOFFICE = shutil.which("soffice") is not None
if HAVE_LIBREOFFICE:
    BROKEN[DOCM_AS_DOC] = ("document", "ok", None)
    BROKEN_BUT_OK[DOCM_AS_DOC] = (
        "LibreOffice converts the legacy .doc inside; only the name was wrong, "
        "which a problem note tells the uploader"
    )

#: A word each CJK row's text must contain, with the language guessed; ``None`` for
#: rows whose text is not read (with the reason).
CJK_WORDS: dict[str, tuple[str, str] | None] = {
    "pdf/issue2128r.pdf": ("校长的魅力", "zh"),
    "pdf/issue12823.pdf": ("知识库", "zh"),
    "pdf/issue4061.pdf": ("轉", "zh"),
    "pdf/jo.pdf": ("みんな", "ja"),
    "office/stress009.docx": ("固态硬盘", "zh"),
    "office/stress020.xlsx": ("泰州市", "zh"),
    "office/49273.xlsx": ("合并单元格", "zh"),
    "office/51519.xlsx": ("豊田", "ja"),
    "office/chinese-provinces.xls": ("北京", "zh"),  # read by xlrd, no LibreOffice
    "package/testZipEntryNameCharsetShiftSJIS.zip": ("文章1.txt", "ja"),
    "media/jpn-vert.jpeg": None,  # an image: text in pixels needs OCR
    "zh/2010-2022_Math_I_MCQs.json": ("已知集合", "zh"),
    "zh/2010-2022_Chinese_Language_Ancient_Poetry_Reading.json": ("乐府诗", "zh"),
    "zh/sanzijing-new.json": ("人之初", "zh"),
    "zh/sanzijing-traditional.json": ("習相遠", "zh"),
    "zh/tangshisanbaishou.json": ("登鸛雀樓", "zh"),
    "zh/lunyu.json": ("学而时习之", "zh"),
    "zh/trig-basics.md": ("三角函数", "zh"),
    "zh/ap.md": ("等差数列", "zh"),
    "zh/rate.md": ("化学反应速率", "zh"),
    "zh/combination.md": ("排列组合", "zh"),
    "zh/textbook-tree-cache.json": ("义务教育教科书", "zh"),
}

#: Text-bearing rows that hold no text at all (checked in their XML), or whose text
#: needs a tool this machine may lack.
NO_TEXT = {
    "office/having-images.docx": "only images, no w:t run",
    "office/tbl-having-tables.docx": "empty nested tables, no w:t run",
    "office/cht-charts.pptx": "a chart and no text shape",
    "office/shp-groupshape.pptx": "grouped shapes without text",
    "office/shp-movie-props.pptx": "a movie shape only",
}

#: SCANNED rows whose pages nevertheless carry some real text.
SCANNED_WITH_TEXT = {
    "pdf/multipage.pdf": "page 4 is a vector chart whose labels are real text",
}

MIN_TEXT_CHARS = 5
TEXT_KINDS = ("pdf", "document", "presentation", "spreadsheet", "text", "package")


def _expected_kind(row: CorpusRow) -> str:
    if row.path in BROKEN:
        return BROKEN[row.path][0]

    return (
        KIND_EXCEPTIONS.get(row.path) or KIND_BY_SUFFIX[PurePosixPath(row.path).suffix]
    )


def _is_cjk(row: CorpusRow) -> bool:
    return row.kind == "zh" or "CJK" in row.notes


@pytest.fixture(scope="module")
def results() -> dict[str, Extraction]:
    """Every corpus file extracted once, shared by the tests of this module."""
    limits = Limits(max_seconds=30.0)
    return {row.path: extract(row.file, limits=limits) for row in ROWS}


def test_manifest_is_covered() -> None:
    paths = {row.path for row in ROWS}
    broken = {path for path in paths if path.startswith("broken/")}
    cjk = {row.path for row in ROWS if _is_cjk(row)}

    assert broken == set(BROKEN), "every broken file needs a decided outcome"
    assert cjk == set(CJK_WORDS), "every CJK row needs a word to look for"
    assert set(BROKEN_BUT_OK) <= {p for p, (_, s, _) in BROKEN.items() if s == "ok"}


@pytest.mark.parametrize("row", ROWS, ids=[row.path for row in ROWS])
def test_corpus_file(row: CorpusRow, results: dict[str, Extraction]) -> None:
    result = results[row.path]

    assert result.kind == _expected_kind(row)
    assert result.status in ("ok", "partial", "rejected")
    assert all(isinstance(problem, str) and problem for problem in result.problems)
    if result.status != "ok":
        assert result.problems, "a degraded result must say why"

    if row.kind == "pdf":
        assert result.mime == "application/pdf"

    if "ENCRYPTED" in row.notes:
        assert result.encrypted

    if row.kind == "broken":
        _check_broken(row, result)
    elif "ENCRYPTED" in row.notes:
        _check_encrypted(row, result)
    elif "SCANNED" in row.notes and row.path not in SCANNED_WITH_TEXT:
        assert result.status == "partial"
        assert any("no text layer" in problem for problem in result.problems)
    else:
        _check_readable(row, result)

    if _is_cjk(row):
        _check_cjk(row, result)


def _check_broken(row: CorpusRow, result: Extraction) -> None:
    _, status, excerpt = BROKEN[row.path]
    assert result.status == status, result.problems
    if excerpt is None:
        assert row.path in BROKEN_BUT_OK
        assert len(result.text) > MIN_TEXT_CHARS
    else:
        assert any(excerpt in problem for problem in result.problems), result.problems


def _check_encrypted(row: CorpusRow, result: Extraction) -> None:
    if "EMPTY user password" in row.notes:
        # Opens without a prompt: only copying is restricted, the text is readable.
        assert result.status == "ok"
        assert len(result.text) > 1000
    else:
        assert result.status == "partial"
        assert any("password" in problem for problem in result.problems)
        assert result.text == ""


def _check_readable(row: CorpusRow, result: Extraction) -> None:
    assert result.status == "ok", result.problems
    if result.kind in TEXT_KINDS and row.path not in NO_TEXT:
        assert len(result.text) > MIN_TEXT_CHARS
        assert result.language is not None

    if result.kind == "package":
        assert result.package_type is not None
        assert result.outline or row.path == "package/empty.imscc"


def _check_cjk(row: CorpusRow, result: Extraction) -> None:
    expected = CJK_WORDS[row.path]
    if expected is None or (result.status == "partial" and not result.text):
        return

    word, language = expected
    assert word in result.text
    assert result.language == language
