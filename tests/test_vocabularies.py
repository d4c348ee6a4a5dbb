"""Controlled vocabularies: the shipped JSON, its loader and the script that builds it.

Tests marked ``corpus`` read the ChinaTextbook catalogue in ../shared/corpus and are
skipped where it is absent.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from config.vocabularies import DEFAULT_PATH, KINDS, Vocabularies, load_vocabularies

REPO = Path(__file__).parents[1]
CATALOGUE = REPO.parent / "shared/corpus/zh/textbook-tree-cache.json"
SCRIPT = REPO / "scripts/build_vocabularies.py"
IGNORED_TOP = {"大学", "学数学最重要的刷习题在这里", ".cache", "README.md"}
CJK = re.compile(r"[\u4e00-\u9fff]")
DEMO_TREES = [
    "senior/math/pep-a/-/required1",
    "junior/math/pep/g7/vol1",
    "junior/chinese/moe-unified/g7/vol1",
    "primary/math/pep/g1/vol1",
]


@pytest.fixture(scope="module")
def vocab() -> Vocabularies:
    return load_vocabularies()


@pytest.fixture
def document() -> dict[str, Any]:
    return json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))


def test_shipped_file_validates(vocab: Vocabularies) -> None:
    vocab.validate()
    assert vocab.version == 1
    assert all(vocab.terms(kind) for kind in KINDS)
    assert load_vocabularies() is vocab


@pytest.mark.parametrize("kind", KINDS)
def test_every_term_has_both_labels(vocab: Vocabularies, kind: str) -> None:
    for term in vocab.terms(kind):
        assert re.fullmatch(r"[a-z0-9][a-zA-Z0-9.-]*", term.code), term
        assert CJK.search(term.zh), term
        assert term.en.strip() and term.en.isascii(), term
        assert vocab.label(kind, term.code, "en") == term.en
        assert vocab.label(kind, term.code) == term.zh


@pytest.mark.parametrize(
    ("kind", "value", "code"),
    [
        ("subjects", "数学", "math"),
        ("subjects", "math", "math"),
        ("subjects", "  MATHEMATICS ", "math"),
        ("subjects", "生物", "biology"),
        ("stages", "初中", "junior"),
        ("stages", "小学（五•四学制）", "primary-54"),
        ("grades", "七年级", "g7"),
        ("grades", "初一", "g7"),
        ("grades", "高一", "g10"),
        ("editions", "人教版", "pep"),
        ("editions", "人教版-人民教育出版社", "pep"),
        ("editions", "PEP (People's Education Press)", "pep"),
        ("editions", "部编版", "moe-unified"),
        ("editions", "人教版(A版)(主编:章建跃&李增沪)", "pep-a"),
        ("volumes", "上册", "vol1"),
        ("volumes", "必修第一册", "required1"),
        ("volumes", "必修1", "required1"),
        ("volumes", "selective compulsory, book 2", "selective2"),
        ("resource_types", "微课", "micro-lecture"),
        ("resource_types", "Lesson plan", "lesson-plan"),
        ("licences", "CC BY-SA 4.0", "cc-by-sa-4.0"),
        ("licences", "保留所有权利", "all-rights-reserved"),
        ("languages", "English", "en"),
        ("languages", "zh-CN", "zh"),
    ],
)
def test_resolve_accepts_codes_and_labels(
    vocab: Vocabularies, kind: str, value: str, code: str
) -> None:
    assert vocab.resolve(kind, value) == code
    assert vocab.is_valid(kind, code)


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("subjects", "烹饪"),
        ("subjects", ""),
        ("subjects", None),
        ("subjects", "g7"),
        ("editions", "人教"),
        ("grades", "十三年级"),
    ],
)
def test_resolve_rejects_unknown(
    vocab: Vocabularies, kind: str, value: str | None
) -> None:
    assert vocab.resolve(kind, value) is None


def test_lookups_refuse_wrong_arguments(vocab: Vocabularies) -> None:
    assert not vocab.is_valid("subjects", "数学")
    with pytest.raises(ValueError, match="kind must be one of"):
        vocab.resolve("colours", "red")
    with pytest.raises(KeyError, match="not a code of subjects"):
        vocab.label("subjects", "cooking")
    with pytest.raises(ValueError, match="lang must be one of"):
        vocab.label("subjects", "math", "fr")
    with pytest.raises(KeyError, match="not a textbook key"):
        vocab.chapter_tree("senior/math/pep/-/required9")


def test_as_json_labels_every_kind(vocab: Vocabularies) -> None:
    english = vocab.as_json("en")
    assert english["lang"] == "en" and set(KINDS) <= set(english)
    math = next(s for s in english["subjects"] if s["code"] == "math")
    assert math["label"] == "Mathematics"
    assert math["stages"][:3] == ["primary", "junior", "senior"]
    assert "aliases" not in math
    assert vocab.as_json()["grades"][6] == {
        "code": "g7",
        "label": "七年级",
        "stage": "junior",
    }


def test_textbooks_can_be_filtered(vocab: Vocabularies) -> None:
    books = vocab.textbooks(stage="senior", subject="math", edition="pep-a")
    assert [b.volume for b in books][:2] == ["required1", "required2"]
    assert books[0].title == "普通高中教科书·数学（A版）必修 第一册"
    grade7 = vocab.textbooks(stage="junior", subject="chinese", grade="g7")
    assert {b.volume for b in grade7} == {"vol1", "vol2"}
    assert vocab.textbook("junior/chinese/moe-unified/g7/vol1") == grade7[0]


@pytest.mark.parametrize("key", DEMO_TREES)
def test_demo_chapter_trees_are_well_formed(vocab: Vocabularies, key: str) -> None:
    chapters = vocab.chapter_tree(key)
    assert len(chapters) >= 4
    for number, chapter in enumerate(chapters, 1):
        assert chapter.code == str(number) and chapter.title
        for index, section in enumerate(chapter.children, 1):
            assert section.code == f"{number}.{index}" and section.title
            assert not section.children
    assert any(chapter.children for chapter in chapters)


def test_textbook_without_tree_has_no_chapters(vocab: Vocabularies) -> None:
    assert vocab.chapter_tree("senior/math/pep-a/-/required2") == []


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """A change to the document that sets ``value`` at ``path`` (``kind.0.field``)."""

    def change(document: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = document
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        target[last] = value

    return change


def _duplicate_textbook_key(document: dict[str, Any]) -> None:
    document["textbooks"][1]["key"] = document["textbooks"][0]["key"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("subjects.1.code", "chinese"), "code 'chinese' is used 2 times"),
        (_set("subjects.1.en", "Chinese"), "'chinese' names more than one term"),
        (_set("editions.0.en", " "), "lacks a zh or en label"),
        (_set("grades.0.stage", "kindergarten"), "stage 'kindergarten' is not in"),
        (_set("subjects.0.stages", ["nursery"]), "stage 'nursery' is not in"),
        (_set("textbooks.0.subject", "alchemy"), "subject 'alchemy' is not in"),
        (_set("textbooks.0.volume", "vol9"), "volume 'vol9' is not in volumes"),
        (_duplicate_textbook_key, "is used 2 times"),
        (_set("chapters.0.textbook", "no/such/book"), "is not a textbook key"),
        (_set("chapters.0.nodes.1.code", "1"), "code '1' is repeated"),
        (_set("chapters.0.nodes.0.title", ""), "lacks a code or title"),
        (_set("languages", []), "languages is missing or empty"),
    ],
)
def test_validate_reports_inconsistencies(
    document: dict[str, Any], change: Callable[[dict[str, Any]], None], message: str
) -> None:
    change(document)
    with pytest.raises(ValueError, match=re.escape(message)):
        Vocabularies(document).validate()


# --- The build script ---------------------------------------------------------------


@pytest.fixture(scope="module")
def builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("build_vocabularies", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def _catalogue(tmp_path: Path, *paths: str) -> Path:
    tree = [{"path": path, "type": "blob"} for path in paths]
    catalogue = tmp_path / "tree.json"
    catalogue.write_text(json.dumps({"tree": tree}, ensure_ascii=False), "utf-8")
    return catalogue


def test_build_derives_textbooks_from_paths(
    builder: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_version = "高中/数学/人教版（A版）（主编：章建跃&李增沪）-人民教育出版社/"
    split = "初中/物理/北师大版（主编：郭玉英）-北京师范大学出版社/九年级/"
    merged = split + "x.pdf_merge_folder/"
    catalogue = _catalogue(
        tmp_path,
        a_version + "普通高中教科书·数学（A版）必修 第一册.pdf.1",
        a_version + "普通高中教科书·数学（A版）必修 第一册.pdf.2",
        merged + "义务教育教科书·物理九年级全一册.pdf.1",
        merged + "义务教育教科书·物理九年级全一册.pdf.2",
        "小学/英语/某某版/义务教育教科书 · 英语（三年级起点）三年级上册.pdf",
        "小学/体育与健康/人教版/义务教育教科书·体育与健康 3至4年级全一册.pdf",
        "大学/高等数学/同济/高等数学.pdf",
        "README.md",
    )
    document = builder.build(catalogue)

    books = {book["key"]: book for book in document["textbooks"]}
    bnup = next(e["code"] for e in document["editions"] if "郭玉英" in e["zh"])
    unknown = next(e["code"] for e in document["editions"] if e["zh"] == "某某版")
    assert set(books) == {
        "senior/math/pep-a/-/required1",
        f"junior/physics/{bnup}/g9/single",
        f"primary/english/{unknown}/g3/vol1",
        "primary/pe/pep/g3-g4/single",
    }
    assert re.fullmatch(r"bnup-[0-9a-f]{6}", bnup)
    assert re.fullmatch(r"edition-[0-9a-f]{6}", unknown)
    assert "'某某版' is not in EDITION_BASES" in capsys.readouterr().err
    assert books["primary/pe/pep/g3-g4/single"]["grades"] == ["g3", "g4"]
    assert books[f"primary/english/{unknown}/g3/vol1"]["title"] == (
        "义务教育教科书·英语（三年级起点）三年级上册"
    )
    Vocabularies(document).validate()


def test_build_stops_on_an_unknown_subject(builder: ModuleType, tmp_path: Path) -> None:
    catalogue = _catalogue(tmp_path, "初中/烹饪/人教版-人民教育出版社/七年级/a.pdf")
    with pytest.raises(
        ValueError, match="初中/烹饪 is missing from STAGES or SUBJECTS"
    ):
        builder.build(catalogue)


# --- Against the catalogue ----------------------------------------------------------

needs_catalogue = pytest.mark.skipif(
    not CATALOGUE.is_file(), reason=f"{CATALOGUE} is missing"
)


@pytest.fixture(scope="module")
def catalogue_paths() -> list[list[str]]:
    tree = json.loads(CATALOGUE.read_text(encoding="utf-8"))["tree"]
    paths = [entry["path"].split("/") for entry in tree if entry["type"] == "blob"]
    return [
        parts
        for parts in paths
        if len(parts) >= 4 and parts[0] not in IGNORED_TOP and ".pdf" in parts[-1]
    ]


@pytest.mark.corpus
@needs_catalogue
@pytest.mark.parametrize(
    ("level", "kind"), [(0, "stages"), (1, "subjects"), (2, "editions")]
)
def test_every_catalogue_folder_resolves(
    vocab: Vocabularies, catalogue_paths: list[list[str]], level: int, kind: str
) -> None:
    names = {parts[level] for parts in catalogue_paths}
    assert sorted(name for name in names if not vocab.resolve(kind, name)) == []
    if kind == "editions":
        # A label alone (人教版, as primary-school folders write it) resolves too,
        # unless the catalogue uses it with several publishers.
        labels = {name.partition("-")[0] for name in names}
        unresolved = {label for label in labels if not vocab.resolve(kind, label)}
        assert unresolved == {"配套人教版"}


@pytest.mark.corpus
@needs_catalogue
def test_every_catalogue_book_is_one_textbook(
    vocab: Vocabularies, catalogue_paths: list[list[str]]
) -> None:
    books = set()
    for parts in catalogue_paths:
        folders = [p for p in parts[:-1] if not p.endswith(".pdf_merge_folder")]
        title = re.sub(r"\s*·\s*", "·", re.sub(r"\.pdf(\.\d+)?$", "", parts[-1]))
        books.add((*folders, title))

    textbooks = vocab.textbooks()
    assert len(textbooks) == len(books)
    assert {book.title for book in textbooks} == {book[-1] for book in books}


@pytest.mark.corpus
@needs_catalogue
def test_build_is_deterministic_and_matches_the_shipped_file(tmp_path: Path) -> None:
    outputs = [tmp_path / "first.json", tmp_path / "second.json"]
    for output in outputs:
        subprocess.run(
            [sys.executable, str(SCRIPT), str(CATALOGUE), "-o", str(output)],
            check=True,
            capture_output=True,
        )

    first, second = (output.read_bytes() for output in outputs)
    assert first == second
    assert first == DEFAULT_PATH.read_bytes(), "run scripts/build_vocabularies.py"
