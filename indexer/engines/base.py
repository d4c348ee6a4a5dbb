"""The interface every search engine implements.

A *document* is a flat mapping built by :mod:`indexer.documents`; its fields are listed
in :data:`TEXT_FIELDS`, :data:`FACET_FIELDS` and :data:`OTHER_FIELDS`. Engines never
see database objects.

Access control lives inside the engine query: every document carries ``acl`` tokens
(``"public"``, ``"org:<id>"``, ``"user:<id>"``, ``"manage:<id>"``) and every query carries
the asker's tokens; a document matches only when the two sets meet. Facet counts and
totals are therefore computed over visible documents only. The token :data:`ACL_ALL`
sees every document; it belongs to the command line's system principal only.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Full-text fields with their relevance boosts: title matches rank above body matches.
TEXT_FIELDS: dict[str, float] = {
    "title": 5.0,
    "keywords": 3.0,
    "labels": 2.0,  # vocabulary labels of the metadata (数学, Mathematics, 人教版, ...)
    "description": 1.5,
    "text": 1.0,  # extracted text of the files
}

#: Keyword fields that can be filtered on and counted. Multi-valued fields take lists.
FACET_FIELDS: tuple[str, ...] = (
    "stage",
    "grade",
    "subject",
    "edition",
    "volume",
    "chapter",
    "resource_type",
    "licence",
    "language",
    "owner_org",
    "school",
    "district",
    "locality",
    "mime_group",
)

#: Other stored fields: ``id`` (str), ``acl`` (list of str), ``status``, ``visibility``,
#: ``created_at`` / ``updated_at`` (timezone-aware datetimes), ``downloads`` (int).
OTHER_FIELDS: tuple[str, ...] = (
    "id",
    "acl",
    "status",
    "visibility",
    "created_at",
    "updated_at",
    "downloads",
)

SORTS = ("relevance", "newest", "popular")

#: The access token that sees every document (``kejian`` commands, never a request).
ACL_ALL = "*"


class SearchEngineError(Exception):
    """Base class of search engine errors."""


class SearchUnavailable(SearchEngineError):
    """The engine cannot be reached; callers answer 503 and keep writes working."""


class QueryError(SearchEngineError):
    """The query cannot be run as asked (bad field, bad value); callers answer 400."""


class IndexOutdated(SearchUnavailable):
    """The stored index was built for another document layout; ``kejian reindex``
    rebuilds it (its :meth:`SearchEngine.clear` replaces the old index)."""


@dataclass
class SearchQuery:
    text: str = ""
    #: Field -> accepted values (OR within a field, AND across fields).
    filters: Mapping[str, Sequence[str]] = field(default_factory=dict)
    #: Facet fields to count.
    facets: Sequence[str] = ()
    sort: str = "relevance"
    offset: int = 0
    limit: int = 20
    #: The asker's access tokens; an empty list sees nothing, :data:`ACL_ALL` all.
    acl: Sequence[str] = ("public",)
    highlight: bool = True


@dataclass
class Hit:
    id: str
    score: float
    #: Field -> snippet with matches wrapped in ``<em>``…``</em>``; the rest HTML-escaped.
    highlights: dict[str, str] = field(default_factory=dict)


@dataclass
class SearchResult:
    total: int
    hits: list[Hit]
    #: Facet field -> [(value, count)], most frequent first.
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


class SearchEngine(abc.ABC):
    """A full-text index of resource documents."""

    name: str = "abstract"

    @abc.abstractmethod
    def index(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Add or replace documents (by ``id``); return how many were written.

        The change is visible to searches when the call returns.
        """

    @abc.abstractmethod
    def delete(self, ids: Iterable[str]) -> None:
        """Remove documents; missing ids are ignored."""

    @abc.abstractmethod
    def search(self, query: SearchQuery) -> SearchResult:
        """:raises QueryError: for a query that cannot run.
        :raises SearchUnavailable: when the engine cannot be reached."""

    def suggest(self, prefix: str, acl: Sequence[str], limit: int = 10) -> list[str]:
        """Titles of visible documents for a search box's completion list.

        A title is suggested when its text, its full pinyin or its pinyin initials
        start with or contain *prefix* (``sx`` and ``shux`` both find 数学 titles);
        titles that start with it come first, then more downloaded ones. The access
        rule is the one of :meth:`search`: an empty *acl* sees nothing.
        """
        raise NotImplementedError(f"{type(self).__name__} does not suggest titles")

    @abc.abstractmethod
    def ids(self) -> set[str]:
        """Every document id in the index (for consistency checks)."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Remove every document (an outdated index is replaced by an empty one)."""

    def check(self) -> None:
        """Raise :class:`SearchUnavailable` when the engine cannot be used."""

    def close(self) -> None:
        """Release files, writers and connections."""
