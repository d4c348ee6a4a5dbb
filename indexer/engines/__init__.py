"""Search engines behind one interface (:class:`~indexer.engines.base.SearchEngine`).

:func:`open_engine` picks the backend from ``KEJIAN_SEARCH_URL``: unset means the
embedded tantivy index under ``KEJIAN_HOME``, an ``http(s)://`` URL an Elasticsearch
cluster.
"""

from __future__ import annotations

from pathlib import Path

from indexer.engines.base import (
    IndexOutdated,
    QueryError,
    SearchEngine,
    SearchEngineError,
    SearchQuery,
    SearchResult,
    SearchUnavailable,
)

__all__ = [
    "IndexOutdated",
    "QueryError",
    "SearchEngine",
    "SearchEngineError",
    "SearchQuery",
    "SearchResult",
    "SearchUnavailable",
    "open_engine",
]


def open_engine(url: str | None, *, home: Path) -> SearchEngine:
    """Open the search engine named by *url* (the value of ``KEJIAN_SEARCH_URL``).

    :param home: ``KEJIAN_HOME``; the embedded index lives in its ``index`` directory.
    :raises SearchEngineError: when *url* names no supported engine.
    """
    if not url:
        from indexer.engines.tantivy_engine import TantivyEngine

        return TantivyEngine(Path(home) / "index")

    if url.startswith(("http://", "https://")):
        raise SearchEngineError(
            "KEJIAN_SEARCH_URL points at Elasticsearch, which this release does not "
            "support yet; leave it unset to use the embedded index"
        )

    raise SearchEngineError(
        "KEJIAN_SEARCH_URL must be empty (the embedded index) or an http(s):// URL "
        f"of an Elasticsearch cluster, got {url!r}"
    )
