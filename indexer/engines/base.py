"""The interface every search engine implements.

A *document* is a flat mapping built by :mod:`indexer.documents`; its fields are listed
in :data:`TEXT_FIELDS`, :data:`FACET_FIELDS` and :data:`OTHER_FIELDS`. Engines never
see database objects.

Access control lives inside the engine query: every document carries ``acl`` tokens
(``"public"``, ``"org:<id>"``, ``"user:<id>"``, ``"manage:<id>"``) and every query carries
the asker's tokens; a document matches only when the two sets meet. Facet counts and
totals are therefore computed over visible documents only. The token :data:`ACL_ALL`
sees every document; it belongs to the command line's system principal only.

A full rebuild never empties the index that searches read: :meth:`SearchEngine.rebuild`
fills a new index beside the live one and :meth:`Rebuild.commit` makes it live in one
atomic step (see :class:`Rebuild`).
"""

from __future__ import annotations

import abc
import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

log = logging.getLogger("kejian.search")

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

#: Results can be paged by ``offset`` up to this depth (``offset + limit``); beyond
#: it, :attr:`SearchQuery.search_after` pages on without a limit.
MAX_RESULT_WINDOW = 10_000

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
    rebuilds it (:meth:`SearchEngine.rebuild` builds a current index beside it)."""


@dataclass
class SearchQuery:
    """One search.

    Facets are *multi-select*: the counts of a field that is filtered are computed
    with the filters of every other field but without its own, so a user who picked
    数学 still sees how many 语文 and 英语 resources there are and can add them. The
    total and the hits always honour every filter.

    Results are ordered by the sort key and then by ``id`` (as a string, ascending),
    so equal scores, equal dates and equal download counts still come in one stable
    order and pages never repeat or skip a document.

    Paging is by ``offset`` up to :data:`MAX_RESULT_WINDOW`, or without a limit by
    ``search_after``: pass the :attr:`SearchResult.cursor` of the previous page (and
    ``offset`` 0) to get the page after it.
    """

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
    #: Only documents whose ``updated_at`` (the date ``newest`` sorts by) is at or
    #: after ``date_from`` and before ``date_to``; timezone-aware datetimes.
    date_from: dt.datetime | None = None
    date_to: dt.datetime | None = None
    #: The :attr:`SearchResult.cursor` of the page before; only with ``offset`` 0.
    search_after: Sequence[Any] | None = None


#: What a hit carries of its document, so that a page of results is shown from the
#: index alone, as the index ranked it: the title, the codes shown beside it, the
#: owner organisation's code and the date of the last change.
SHOWN_FIELDS = ("title", "stage", "subject", "resource_type", "owner_org", "updated_at")


@dataclass
class Hit:
    id: str
    score: float
    #: Field -> snippet with matches wrapped in ``<em>``…``</em>``; the rest HTML-escaped.
    highlights: dict[str, str] = field(default_factory=dict)
    #: The document's :data:`SHOWN_FIELDS`: text, or ``None`` where the document has
    #: none; ``updated_at`` is an aware UTC datetime, to the second.
    shown: dict[str, Any] = field(default_factory=dict)


@dataclass
class SearchResult:
    total: int
    hits: list[Hit]
    #: Facet field -> [(value, count)], most frequent first, then by value.
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    #: The sort key of the last hit, a short list of JSON values (str, int, float)
    #: to pass as :attr:`SearchQuery.search_after` for the next page; ``None`` when
    #: there are no hits. Engines check the cursors they are given: a malformed one
    #: is a :class:`QueryError`.
    cursor: list[Any] | None = None


class Rebuild(abc.ABC):
    """A new, empty index filled beside the live one, which it replaces in one step.

    Until :meth:`commit`, searches and the engine's own :meth:`SearchEngine.index`
    and :meth:`SearchEngine.delete` keep using the live index, so a rebuild that
    takes an hour never shows a partial index and one that fails changes nothing.
    Changes written to the live index meanwhile are not copied into the new one:
    the caller catches up on them after the commit (``kejian reindex`` re-delivers
    what changed in the database since it started).

    Use it as a context manager: leaving the block without :meth:`commit`, normally
    or by an exception, calls :meth:`abort`::

        with engine.rebuild() as rebuild:
            for batch in batches:
                rebuild.index(batch)
            rebuild.commit()

    How backends do it:

    * the embedded tantivy engine builds a new directory beside the live one and
      renames a small pointer file over the old one; every process reads the
      pointer before each search or write, so they all switch at their next call;
    * an Elasticsearch backend keeps each generation in a physical index
      (``kejian-resources-<timestamp>``) behind the alias that searches and writes
      name (``kejian-resources``). :meth:`SearchEngine.rebuild` creates the physical
      index with the mapping, no replicas and refreshing turned off; :meth:`index`
      bulk-loads into it by its own name; :meth:`commit` restores replicas and
      refreshing, refreshes, moves the alias with a single ``POST /_aliases``
      (``remove`` the old index and ``add`` the new one in one request, which
      Elasticsearch applies atomically) and deletes the old physical index;
      :meth:`abort` deletes the new physical index and leaves the alias alone.
    """

    @abc.abstractmethod
    def index(self, documents: Iterable[Mapping[str, Any]]) -> int:
        """Add or replace documents (by ``id``) in the new index; return how many
        distinct ids were written. Nothing is searchable before :meth:`commit`.

        :raises ValueError: for a bad document; nothing of this call is written and
            the rebuild can go on.
        :raises SearchEngineError: when the rebuild is finished or cannot write.
        """

    @abc.abstractmethod
    def commit(self) -> None:
        """Make the new index the live one, atomically for every reader, and remove
        the index it replaces.

        :raises SearchEngineError: when the switch fails; the rebuild is then
            aborted and the live index is the one it was before.
        """

    @abc.abstractmethod
    def abort(self) -> None:
        """Remove the new index; the live index is untouched.

        Calling it after :meth:`commit` or a first :meth:`abort` does nothing, so
        that cleaning up is always safe.
        """

    def __enter__(self) -> Rebuild:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if exc is None:
            self.abort()
            return

        # The caller's exception is the one worth seeing; a failing clean-up is
        # only logged (its leftovers are removed by the next rebuild).
        try:
            self.abort()
        except Exception:  # noqa: BLE001 - never mask the original error
            log.exception("could not remove an aborted search index rebuild")


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
    def rebuild(self) -> Rebuild:
        """Start filling a new index that replaces this one when committed.

        It works on an outdated index too: the new index has the current layout.

        :raises SearchUnavailable: when the new index cannot be created.
        """

    def clear(self) -> None:
        """Remove every document (an outdated index is replaced by an empty one).

        An empty rebuild committed at once: searches switch from the old content to
        none in one step, and an outdated index is replaced without being read.
        """
        with self.rebuild() as rebuild:
            rebuild.commit()

    def check(self) -> None:
        """Raise :class:`SearchUnavailable` when the engine cannot be used."""

    def close(self) -> None:
        """Release files, writers and connections."""
