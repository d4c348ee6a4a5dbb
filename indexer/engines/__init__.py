"""Search engines behind one interface (:class:`~indexer.engines.base.SearchEngine`).

:func:`open_engine` picks the backend from ``KEJIAN_SEARCH_URL``: unset means the
embedded tantivy index under ``KEJIAN_HOME``, an ``http(s)://`` URL an Elasticsearch
cluster (:mod:`indexer.engines.elasticsearch_engine`).
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


def open_engine(
    url: str | None,
    *,
    home: Path,
    index: str | None = None,
    api_key: str | None = None,
    ca_certs: str | Path | None = None,
    analyzer: str | None = None,
) -> SearchEngine:
    """Open the search engine named by *url* (the value of ``KEJIAN_SEARCH_URL``).

    :param home: ``KEJIAN_HOME``; the embedded index lives in its ``index`` directory.
    :param index: ``KEJIAN_SEARCH_INDEX``, the alias of an Elasticsearch cluster.
    :param api_key: ``KEJIAN_SEARCH_API_KEY``, to log in to the cluster.
    :param ca_certs: ``KEJIAN_SEARCH_CA_CERTS``, the CA bundle of its certificate.
    :param analyzer: ``KEJIAN_SEARCH_ANALYZER``: ``cjk``, ``smartcn`` or ``ik``.
        The last four apply to Elasticsearch only; ``None`` takes the default.
    :raises SearchEngineError: when *url* names no supported engine, a setting
        cannot be used (the message names it), or the cluster lacks the analyzer.
    """
    if not url:
        from indexer.engines.tantivy_engine import TantivyEngine

        return TantivyEngine(Path(home) / "index")

    if url.startswith(("http://", "https://")):
        from indexer.engines.elasticsearch_engine import ElasticsearchEngine

        return ElasticsearchEngine(
            url, index=index, api_key=api_key, ca_certs=ca_certs, analyzer=analyzer
        )

    raise SearchEngineError(
        "KEJIAN_SEARCH_URL must be empty (the embedded index) or an http(s):// URL "
        f"of an Elasticsearch cluster, got {url!r}"
    )
