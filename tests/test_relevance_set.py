"""The judged relevance set of ``bench/relevance.py`` is well-formed.

Structure only: the sizes and proportions the issue asks for, keys that name real
resources, valid grades and vocabulary codes. Nothing here searches or times.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from config.vocabularies import FIELD_KINDS, Vocabularies, load_vocabularies

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "bench" / "relevance"
CORPUS = REPO.parent / "shared" / "corpus"

CJK = re.compile(r"[\u3400-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")
KEY = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
GRADES = {1, 2, 3}
SCRIPTS = {"zh", "en", "mixed"}


@pytest.fixture(scope="module")
def queries() -> list[dict[str, Any]]:
    data = json.loads((DATA / "queries.json").read_text(encoding="utf-8"))
    return data["queries"]


@pytest.fixture(scope="module")
def classes() -> dict[str, str]:
    return json.loads((DATA / "queries.json").read_text(encoding="utf-8"))["classes"]


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    return json.loads((DATA / "resources.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def vocab() -> Vocabularies:
    return load_vocabularies()


def test_at_least_sixty_queries(queries: list[dict[str, Any]]) -> None:
    assert len(queries) >= 60


def test_two_thirds_chinese_one_third_english_or_mixed(
    queries: list[dict[str, Any]],
) -> None:
    chinese = sum(1 for q in queries if q["script"] == "zh")
    assert abs(chinese / len(queries) - 2 / 3) <= 0.05


def test_script_says_what_the_text_is_written_in(queries: list[dict[str, Any]]) -> None:
    for q in queries:
        text = q["text"]
        assert q["script"] in SCRIPTS, text
        if q["script"] == "zh":
            assert CJK.search(text) and not LATIN.search(text), text
        elif q["script"] == "en":
            assert LATIN.search(text) and not CJK.search(text), text
        else:
            # Chinese and Latin letters together, or pinyin alone.
            assert LATIN.search(text), text


def test_every_class_of_query_is_present_and_declared(
    queries: list[dict[str, Any]], classes: dict[str, str]
) -> None:
    used = {q["class"] for q in queries}
    assert used == set(classes)
    for needed in ("misspelling", "pinyin", "synonym", "metadata", "corpus"):
        assert needed in used


def test_no_query_is_there_twice(queries: list[dict[str, Any]]) -> None:
    def folded(text: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", text).casefold().split())

    texts = [folded(q["text"]) for q in queries]
    assert len(texts) == len(set(texts))


def test_grades_are_one_to_three_and_each_query_has_an_ideal_resource(
    queries: list[dict[str, Any]],
) -> None:
    for q in queries:
        grades = set(q["judged"].values())
        assert grades and grades <= GRADES, q["text"]
        assert 3 in grades, q["text"]


def test_generated_keys_are_unique_and_cannot_be_taken_for_paths(
    resources: dict[str, Any],
) -> None:
    keys = [r["key"] for r in resources["resources"]]
    assert len(keys) == len(set(keys))
    for key in keys:
        assert KEY.fullmatch(key), key
        # Background resources are numbered bg-00001 ...; judged ones never are.
        assert not key.startswith("bg-"), key


def test_every_judged_key_names_a_generated_resource_or_a_corpus_file(
    queries: list[dict[str, Any]], resources: dict[str, Any]
) -> None:
    generated = {r["key"] for r in resources["resources"]}
    paths = {key for q in queries for key in q["judged"] if key not in generated}
    for path in paths:
        assert "/" in path, f"{path!r} is neither a generated key nor a corpus path"
    if not CORPUS.is_dir():
        pytest.skip(f"no corpus at {CORPUS}")
    for path in paths:
        assert (CORPUS / path).is_file(), path


def test_generated_resources_use_vocabulary_codes(
    resources: dict[str, Any], vocab: Vocabularies
) -> None:
    for r in resources["resources"]:
        assert r["title"].strip(), r["key"]
        for name, kind in FIELD_KINDS.items():
            if name in r:
                assert vocab.is_valid(kind, r[name]), (r["key"], name, r[name])


def test_linked_chapters_exist(resources: dict[str, Any], vocab: Vocabularies) -> None:
    for r in resources["resources"]:
        for ref in r.get("chapters", []):
            textbook, _, code = ref.partition("#")
            codes = {n.code for top in vocab.chapter_tree(textbook) for n in top.walk()}
            assert code in codes, (r["key"], ref)


def test_background_topics_hold_no_reserved_word(
    resources: dict[str, Any], vocab: Vocabularies
) -> None:
    background = resources["background"]
    reserved = [word.lower() for word in background["reserved"]]
    topics = [
        topic
        for stages in background["topics"].values()
        for stage_topics in stages.values()
        for topic in stage_topics
    ]
    topics += [t for stage in background["english_topics"].values() for t in stage]
    topics += background["sentences"]
    topics += [w for words in background["type_words"].values() for w in words]
    for topic in topics:
        clash = [word for word in reserved if word in topic.lower()]
        assert not clash, (topic, clash)

    for subject in background["topics"]:
        assert vocab.is_valid("subjects", subject), subject
    for rule in background["excluded"]:
        for name, code in rule.items():
            assert vocab.is_valid(FIELD_KINDS[name], code), rule
