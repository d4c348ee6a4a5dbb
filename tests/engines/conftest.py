"""Engines for the search conformance suite, each behind one ``engine`` fixture.

* ``tantivy``: a :class:`TantivyEngine` in the test's temporary folder.

An Elasticsearch backend joins by adding its name to ``ENGINES`` and a branch to
:func:`engine` that opens it on a fresh index; every contract test then runs on it.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from indexer.engines.base import SearchEngine
from indexer.engines.tantivy_engine import TantivyEngine

ENGINES = ["tantivy"]

Doc = dict[str, Any]
MakeDoc = Callable[..., Doc]

_numbers = itertools.count(1)


def make_doc(doc_id: str | None = None, **fields: Any) -> Doc:
    """A public, empty-text document; keyword arguments set or override fields."""
    doc: Doc = {
        "id": doc_id or f"doc-{next(_numbers)}",
        "title": "",
        "description": "",
        "keywords": [],
        "labels": [],
        "text": "",
        "stage": "junior",
        "grade": "g7",
        "subject": "math",
        "edition": "pep",
        "volume": "v1",
        "chapter": [],
        "resource_type": "slides",
        "licence": "cc-by",
        "language": "zh",
        "owner_org": "s1",
        "school": "s1",
        "district": "d1",
        "locality": "urban",
        "mime_group": ["presentation"],
        "acl": ["public"],
        "status": "published",
        "visibility": "public",
        "created_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        "updated_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
        "downloads": 0,
    }
    doc.update(fields)
    return doc


@pytest.fixture(name="make_doc")
def make_doc_fixture() -> MakeDoc:
    return make_doc


def open_test_engine(name: str, path: Path) -> SearchEngine:
    if name == "tantivy":
        return TantivyEngine(path / "index")
    raise ValueError(f"unknown engine {name}")


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SearchEngine]:
    opened = open_test_engine(request.param, tmp_path)
    yield opened
    opened.close()
