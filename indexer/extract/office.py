"""Office documents: OOXML (Word, PowerPoint, Excel), OpenDocument and legacy binaries.

Every OOXML and ODF file is a zip, so it first passes the same zip-bomb checks as a
courseware package. python-docx and python-pptx then open the package and resolve its
relationships (which header belongs to which document, which slide comes first), but
the text itself is read by walking the part XML: their object models leave out text
boxes, content controls, tracked insertions and equations, which teachers use a lot
(a maths worksheet is mostly equations). Deleted tracked changes and the fallback
copies that Office writes for older readers (``mc:Fallback``) are skipped, so the
text reads like the document with all changes accepted.

Legacy ``.xls`` workbooks are read by xlrd, in process. Legacy ``.doc``/``.ppt`` and
RTF are converted to OOXML by LibreOffice when ``soffice`` is on the ``PATH``; without
it they are kept with no text.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import signal
import subprocess
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docx.package
import openpyxl
import pptx.package
import xlrd
from lxml import etree
from pptx.parts.presentation import PresentationPart

from indexer.extract.job import Job, Source
from indexer.extract.xmlsafe import local_name, parse_xml
from indexer.extract.zips import MemberUnreadable, SafeZip, ZipDamaged, ZipRejected

__all__ = [
    "ENCRYPTED_PROBLEM",
    "LEGACY_PROBLEM",
    "extract_docx",
    "extract_encrypted_ooxml",
    "extract_legacy",
    "extract_odf",
    "extract_pptx",
    "extract_xlsx",
    "ooxml_text",
    "open_safe_zip",
]

LEGACY_PROBLEM = "legacy binary Office format; install LibreOffice to extract text"
ENCRYPTED_PROBLEM = (
    "encrypted with a password; text not indexed (save a copy without a password to "
    "make it searchable)"
)

#: Cells read from one spreadsheet at most; the rest is rarely prose.
MAX_SPREADSHEET_CELLS = 1_000_000

# Element local names whose whole subtree holds no text a reader sees: deleted or
# moved-away revisions, fallback copies, field codes, properties.
_OOXML_SKIP = frozenset(
    {"del", "moveFrom", "Fallback", "instrText", "delText", "rPr", "pPr", "sectPr"}
)
_WORD_PART_TYPES = frozenset({"header", "footer", "footnotes", "endnotes"})
_GENERIC_TITLES = frozenset(
    {
        "presentation",
        "powerpoint presentation",
        "powerpoint 演示文稿",
        "演示文稿1",
        "presentation1",
        "document1",
        "文档1",
        "slide 1",
        "幻灯片 1",
    }
)
#: docProps/core.xml element -> metadata key.
_CORE_PROPERTIES = {
    "creator": "author",
    "lastModifiedBy": "last_modified_by",
    "subject": "subject",
    "keywords": "keywords",
    "description": "description",
    "created": "created",
    "modified": "modified",
}
_ODF_SKIP = frozenset(
    {"tracked-changes", "annotation", "deletion", "notes-configuration"}
)
_ODF_BLOCK = frozenset({"p", "h", "list-item", "table-row", "page"})
_LEGACY_TARGETS = {
    "application/msword": "docx",
    "application/rtf": "docx",
    "text/rtf": "docx",
    "application/vnd.ms-excel": "xlsx",
    "application/vnd.ms-powerpoint": "pptx",
}
_CFB_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_XLS_MIME = "application/vnd.ms-excel"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")


def open_safe_zip(src: Source, job: Job, label: str) -> SafeZip | None:
    """Open ``src`` as a zip under the job's limits, or reject the job and say why."""
    stream = src.open()
    try:
        return SafeZip(
            stream,
            max_members=job.limits.max_zip_members,
            max_total_bytes=job.limits.max_zip_total_bytes,
            max_ratio=job.limits.max_zip_ratio,
            max_member_bytes=job.limits.max_member_bytes,
        )
    except ZipDamaged:
        stream.close()
        job.reject(
            f"the {label} file is damaged or truncated and cannot be opened; upload "
            "the complete file again"
        )
    except ZipRejected as exc:
        stream.close()
        job.reject(str(exc))

    return None


def ooxml_text(root: etree._Element) -> str:
    """Visible text of a WordprocessingML or DrawingML part, paragraph by paragraph."""
    parts: list[str] = []
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        name = local_name(element)
        if event == "start":
            if name in _OOXML_SKIP:
                walker.skip_subtree()
            elif name == "t" and element.text:
                parts.append(element.text)
            elif name == "tab":
                parts.append("\t")
            elif name in ("br", "cr"):
                parts.append("\n")
        elif name in ("p", "tr"):
            parts.append("\n")
        elif name == "tc":
            parts.append("\t")

    return "".join(parts)


def _part_root(part: Any) -> etree._Element | None:
    # XML parts come parsed (python-docx's parser resolves no entities either);
    # parts of types python-docx does not know (macro-enabled documents) as bytes.
    element = getattr(part, "element", None)
    if isinstance(element, etree._Element):
        return element

    return parse_xml(part.blob)


def _ooxml_properties(src: Source, job: Job, label: str) -> bool:
    """Check the zip, then read docProps: title, author, dates, page or slide count.

    The properties are read from the XML rather than through the libraries, which
    invent values (a title of "Word Document", a modification time of now) for files
    that have none. Returns ``False`` when the zip was refused.
    """
    archive = open_safe_zip(src, job, label)
    if archive is None:
        return False

    with archive:
        core = archive.get("docProps/core.xml")
        root = _read_xml(archive, core) if core is not None else None
        for element in root.iter(etree.Element) if root is not None else ():
            name = local_name(element)
            value = " ".join((element.text or "").split())
            if not value:
                continue

            if name == "title":
                if value.lower() not in _GENERIC_TITLES:
                    job.result.title = value
            elif name in _CORE_PROPERTIES:
                job.result.metadata[_CORE_PROPERTIES[name]] = value

        app = archive.get("docProps/app.xml")
        root = _read_xml(archive, app) if app is not None else None
        for element in root.iter(etree.Element) if root is not None else ():
            value = (element.text or "").strip()
            if local_name(element) in ("Pages", "Slides") and value.isdigit():
                job.result.pages = int(value)
            elif local_name(element) == "Application" and value:
                job.result.metadata["producer"] = value

    return True


def extract_docx(src: Source, job: Job) -> None:
    """Word documents: body, headers, footers, footnotes, text boxes, equations."""
    if not _ooxml_properties(src, job, "Word"):
        return

    with src.open() as stream:
        package = docx.package.Package.open(stream)

    main = package.main_document_part

    root = _part_root(main)
    if root is None:
        job.reject("the Word document's main part is not valid XML")
        return

    body = ooxml_text(root)
    job.add_text(body)
    if job.result.title is None:
        job.result.title = _first_heading(root)

    # Headers repeat on every page, often identically across sections: keep each once.
    seen: set[str] = set()
    for rel in main.rels.values():
        if rel.is_external or rel.reltype.rsplit("/", 1)[-1] not in _WORD_PART_TYPES:
            continue

        part_root = _part_root(rel.target_part)
        text = ooxml_text(part_root).strip() if part_root is not None else ""
        if text and text not in seen:
            seen.add(text)
            if not job.add_text("\n\n" + text):
                return


def _first_heading(root: etree._Element) -> str | None:
    """Text of the first paragraph styled Title or Heading 1."""
    for paragraph in root.iter(etree.Element):
        if local_name(paragraph) != "p":
            continue

        style = next(
            (
                element
                for element in paragraph.iter(etree.Element)
                if local_name(element) == "pStyle"
            ),
            None,
        )
        if style is None:
            continue

        value = next(iter(style.attrib.values()), "").replace(" ", "").lower()
        if value in ("title", "heading1"):
            text = " ".join(ooxml_text(paragraph).split())
            if text:
                return text

    return None


def extract_pptx(src: Source, job: Job) -> None:
    """Slides in show order (shapes, groups, tables, equations) and speaker notes."""
    if not _ooxml_properties(src, job, "PowerPoint"):
        return

    with src.open() as stream:
        package = pptx.package.Package.open(stream)

    main = package.main_document_part
    if not isinstance(main, PresentationPart):
        job.reject("the file has no PowerPoint presentation part")
        return

    presentation = main.presentation
    slides = presentation.slides
    count = len(slides)
    job.result.pages = count

    for index, slide in enumerate(slides):
        if job.out_of_time():
            job.stopped(f"after slide {index} of {count}")
            return

        text = ooxml_text(slide.element)
        if slide.has_notes_slide:
            text += "\n" + ooxml_text(slide.notes_slide.element)

        if job.result.title is None:
            job.result.title = _slide_title(slide)

        if not job.add_text(text + "\n\n"):
            return


def _slide_title(slide: Any) -> str | None:
    shape = slide.shapes.title
    if shape is None or not shape.has_text_frame:
        return None

    return " ".join(shape.text_frame.text.split()) or None


def extract_xlsx(src: Source, job: Job) -> None:
    """Cell values, sheet by sheet, row by row (values as last calculated)."""
    if not _ooxml_properties(src, job, "Excel"):
        return

    with src.open() as stream, warnings.catch_warnings():
        # openpyxl warns about every extension it does not know (slicers, ...).
        warnings.simplefilter("ignore")
        workbook = openpyxl.load_workbook(
            stream, read_only=True, data_only=True, keep_links=False
        )
        try:
            _read_workbook(workbook, job)
        finally:
            workbook.close()


def _read_workbook(workbook: Any, job: Job) -> None:
    sheets = workbook.worksheets
    job.result.metadata["sheets"] = [sheet.title for sheet in sheets]

    cells = 0
    for sheet in sheets:
        if not job.add_text(f"{sheet.title}\n"):
            return

        for row_number, row in enumerate(sheet.iter_rows(values_only=True)):
            values = [str(value) for value in row if value is not None]
            cells += len(row)
            if values and not job.add_text("\t".join(values) + "\n"):
                return

            if cells > MAX_SPREADSHEET_CELLS:
                job.partial(
                    f"only the first {MAX_SPREADSHEET_CELLS:,} cells were indexed"
                )
                return

            if row_number % 1000 == 999 and job.out_of_time():
                job.stopped(f"in sheet {sheet.title!r}")
                return

        job.add_text("\n")


def extract_odf(src: Source, job: Job) -> None:
    """OpenDocument text, presentations and spreadsheets (content.xml, meta.xml)."""
    archive = open_safe_zip(src, job, "OpenDocument")
    if archive is None:
        return

    with archive:
        if _odf_encrypted(archive):
            job.result.encrypted = True
            job.partial(ENCRYPTED_PROBLEM)
            return

        meta = archive.get("meta.xml")
        if meta is not None:
            _odf_meta(_read_xml(archive, meta), job)

        content = archive.get("content.xml")
        if content is None:
            job.reject("the OpenDocument file has no content.xml: it is damaged")
            return

        root = _read_xml(archive, content)
        if root is None:
            job.reject("the OpenDocument file's content.xml is not valid XML")
            return

        text, first_heading, slides = _odf_text(
            root, lambda href: _odf_object_text(archive, href)
        )

    job.add_text(text)
    if job.result.title is None:
        job.result.title = first_heading

    if job.result.kind == "presentation":
        job.result.pages = slides


def _read_xml(archive: SafeZip, member: Any) -> etree._Element | None:
    try:
        return parse_xml(archive.read(member))
    except MemberUnreadable:
        return None


def _odf_encrypted(archive: SafeZip) -> bool:
    manifest = archive.get("META-INF/manifest.xml")
    if manifest is None:
        return False

    root = _read_xml(archive, manifest)
    if root is None:
        return False

    return any(
        local_name(element) == "encryption-data" for element in root.iter(etree.Element)
    )


def _odf_meta(root: etree._Element | None, job: Job) -> None:
    if root is None:
        return

    for element in root.iter(etree.Element):
        name = local_name(element)
        value = (element.text or "").strip()
        if name == "title" and value:
            job.result.title = value
        elif name in ("initial-creator", "creator") and value:
            job.result.metadata.setdefault("author", value)
        elif name == "creation-date" and value:
            job.result.metadata["created"] = value
        elif name == "date" and value:
            job.result.metadata["modified"] = value
        elif name == "generator" and value:
            job.result.metadata["producer"] = value
        elif name == "document-statistic":
            pages = next(
                (v for k, v in element.attrib.items() if k.endswith("page-count")),
                None,
            )
            if pages and pages.isdigit():
                job.result.pages = int(pages)


def _odf_object_text(archive: SafeZip, href: str) -> str:
    """Text of an embedded formula (``./Object 1``): its StarMath source if present."""
    path = posixpath.normpath(href.removeprefix("./")) + "/content.xml"
    member = archive.get(path)
    root = _read_xml(archive, member) if member is not None else None
    if root is None or local_name(root) != "math":
        return ""

    for element in root.iter(etree.Element):
        if local_name(element) == "annotation" and element.text:
            return f" {element.text.strip()} "

    return " " + "".join(root.itertext()).strip() + " "


def _odf_text(
    root: etree._Element, resolve_object: Callable[[str], str]
) -> tuple[str, str | None, int]:
    """``(text, first heading, slide count)`` of an ODF content.xml.

    ``resolve_object`` gives the text of an embedded object from its ``xlink:href``.
    """
    parts: list[str] = []
    first_heading: str | None = None
    heading_start: int | None = None
    slides = 0
    walker = etree.iterwalk(root, events=("start", "end"))
    for event, element in walker:
        name = local_name(element)
        if event == "start":
            if name in _ODF_SKIP:
                walker.skip_subtree()
                continue

            if name == "page":
                slides += 1
            elif name == "h" and first_heading is None:
                heading_start = len(parts)

            if element.text and name not in ("s", "tab", "line-break"):
                parts.append(element.text)
            elif name == "s":
                parts.append(" " * int(_attribute(element, "c") or 1))
            elif name == "tab":
                parts.append("\t")
            elif name == "line-break":
                parts.append("\n")
            elif name == "object":
                href = _attribute(element, "href", digits=False)
                if href and "://" not in href:
                    parts.append(resolve_object(href))
            continue

        if name == "h" and heading_start is not None and first_heading is None:
            first_heading = " ".join("".join(parts[heading_start:]).split()) or None
            heading_start = None

        if name in _ODF_BLOCK:
            parts.append("\n")
        elif name == "table-cell":
            parts.append("\t")

        # Text after a child element (a span, a link) belongs to the parent.
        if element.tail and element.getparent() is not None:
            parts.append(element.tail)

    return "".join(parts), first_heading, slides


def _attribute(
    element: etree._Element, name: str, *, digits: bool = True
) -> str | None:
    """Value of the attribute with local name ``name`` (digits only, if asked)."""
    for key, value in element.attrib.items():
        if key.rsplit("}", 1)[-1] == name:
            return value if value.isdigit() or not digits else None

    return None


def extract_encrypted_ooxml(src: Source, job: Job) -> None:
    """A password-protected OOXML file: an OLE2 container holding the real package."""
    job.result.encrypted = True
    head = src.head(512 * 1024)
    if head.startswith(_CFB_SIGNATURE) and _ENCRYPTED_PACKAGE in head:
        job.partial(ENCRYPTED_PROBLEM)
    else:
        job.partial("encrypted or protected file; text not indexed")


def extract_legacy(src: Source, job: Job) -> None:
    """Legacy binary Office and RTF: workbooks read by xlrd, the rest converted by
    LibreOffice when it is installed."""
    if job.result.mime == _XLS_MIME and src.head(8) == _CFB_SIGNATURE:
        extract_xls(src, job)
        return

    soffice = shutil.which("soffice")
    target = _LEGACY_TARGETS.get(job.result.mime)
    if soffice is None or target is None:
        job.partial(LEGACY_PROBLEM)
        return

    with tempfile.TemporaryDirectory(prefix="kejian-soffice-") as workdir:
        converted = _convert(soffice, src, target, Path(workdir), job)
        if converted is None:
            return

        job.result.metadata["converted_by"] = "LibreOffice"
        reader = {"docx": extract_docx, "xlsx": extract_xlsx, "pptx": extract_pptx}
        reader[target](Source(name=converted.name, path=converted), job)


def extract_xls(src: Source, job: Job) -> None:
    """Excel 97-2003 workbooks: cell values, sheet by sheet, row by row."""
    # From the file, xlrd maps it rather than reading it into memory.
    where: dict[str, Any] = (
        {"filename": str(src.path)}
        if src.path is not None
        else {"file_contents": src.read()}
    )
    try:
        workbook = xlrd.open_workbook(**where, on_demand=True, logfile=_Discard())
    except xlrd.XLRDError as exc:
        if "encrypted" in str(exc).lower():
            job.result.encrypted = True
            job.partial(ENCRYPTED_PROBLEM)
            return
        raise
    try:
        _read_workbook(_XlsWorkbook(workbook), job)
    finally:
        workbook.release_resources()


class _XlsSheet:
    """An xlrd sheet seen as the openpyxl read-only sheet that _read_workbook reads."""

    def __init__(self, sheet: Any) -> None:
        self._sheet = sheet
        self.title = sheet.name

    def iter_rows(self, values_only: bool = True) -> Any:
        empty = (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK)
        for number in range(self._sheet.nrows):
            yield tuple(
                None if cell.ctype in empty else _xls_value(cell.value)
                for cell in self._sheet.row(number)
            )


def _xls_value(value: Any) -> Any:
    # Every number is a float in the file: 95 reads as 95, not 95.0.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _XlsWorkbook:
    def __init__(self, book: Any) -> None:
        self.worksheets = [
            _XlsSheet(book.sheet_by_index(i)) for i in range(book.nsheets)
        ]


class _Discard:
    """xlrd's log, which reports harmless oddities of old writers: not wanted."""

    def write(self, text: str) -> int:
        return len(text)


def _convert(
    soffice: str, src: Source, target: str, workdir: Path, job: Job
) -> Path | None:
    # The uploader's file name never reaches the command line or the file system.
    source = workdir / f"input{src.suffix if src.suffix.isascii() else ''}"
    with src.open() as stream, source.open("wb") as copy:
        shutil.copyfileobj(stream, copy)

    outdir = workdir / "out"
    command = [
        soffice,
        # A private profile: concurrent conversions must not share (and lock) one.
        f"-env:UserInstallation={(workdir / 'profile').as_uri()}",
        "--headless",
        "--norestore",
        "--convert-to",
        target,
        "--outdir",
        str(outdir),
        str(source),
    ]
    timeout = max(1.0, job.seconds_left())
    try:
        _run(command, timeout)
    except subprocess.TimeoutExpired:
        job.partial(
            f"LibreOffice did not convert the file within {timeout:.0f} s; text not "
            "indexed"
        )
        return None
    except OSError as exc:
        job.partial(f"LibreOffice could not be started ({exc}); text not indexed")
        return None

    converted = next(iter(sorted(outdir.glob(f"*.{target}"))), None)
    if converted is None:
        job.partial(
            "LibreOffice could not convert the file (damaged or password-protected?); "
            "text not indexed"
        )

    return converted


def _run(command: list[str], timeout: float) -> None:
    """Run ``command``; on timeout kill its whole process group (soffice forks)."""
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
