"""Engines for the search conformance suite, each behind one ``engine`` fixture.

* ``tantivy``: a :class:`TantivyEngine` in the test's temporary folder.
* ``elasticsearch``: an :class:`ElasticsearchEngine` on the test cluster of
  :mod:`tests.search_cluster` (osmem-server, or a real cluster when
  ``KEJIAN_TEST_ELASTICSEARCH_URL`` is set), under an alias of its own that is
  deleted afterwards.
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
from tests.search_cluster import (
    SearchCluster,
    search_alias,
    search_cluster,
    search_gate,
)

__all__ = ["search_alias", "search_cluster", "search_gate"]  # fixtures for the tests

ENGINES = ["tantivy", "elasticsearch"]

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
    if request.param == "elasticsearch":
        cluster: SearchCluster = request.getfixturevalue("search_cluster")
        opened: SearchEngine = cluster.engine(request.getfixturevalue("search_alias"))
    else:
        opened = open_test_engine(request.param, tmp_path)
    yield opened
    opened.close()
