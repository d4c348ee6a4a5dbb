"""The order of the embedded engine's results, its pages and its cursors.

Kejian orders hits by a sort key and then by ``id`` (see
:class:`~indexer.engines.base.SearchQuery`). Tantivy ranks them by one key only, a
score or a fast field, and leaves equal keys in the order they have in the index.
This module builds the full order on top of tantivy's:

* **By a field** (``newest``: ``updated_at``; ``popular``: ``downloads``), hits come
  in runs of equal values. A run that the end of a page cuts is read again from the
  index, restricted to its value and sorted by the ``id`` text fast field. A cursor
  ``[value, id]`` selects the rest of its run (same value, a greater id) and then
  every lower value by range filters, so pages go on without a depth limit.
* **By relevance**, a score cannot be filtered on: hits are fetched until every run
  of equal scores that the page touches is complete, and those runs are ordered by
  id here. A cursor ``[score, id]`` is found again among the hits ranked above it,
  which is practical up to :data:`RELEVANCE_DEPTH` hits; a deeper cursor is refused.

Ids compare as strings. Besides the ``id`` text fast field, every document holds
``id_key`` (see :func:`id_key`), a number that never orders two ids against their
text: it turns "ids after this one" into a numeric range filter and lets a run be
ordered by reading one numeric fast field; only ids that share their first eight
bytes are compared by their stored text.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import tantivy

from indexer.engines import common
from indexer.engines.base import QueryError

#: The field that each sort but relevance orders by, highest first.
SORT_FIELDS = {"newest": "updated_at", "popular": "downloads"}
_FIELD_TYPES = {
    "updated_at": tantivy.FieldType.Date,
    "downloads": tantivy.FieldType.Integer,
}
ID_FIELD = "id"
ID_KEY_FIELD = "id_key"
_ID_KEY_BYTES = 8

#: How deep relevance order is computed: the hits ranked above a cursor are fetched
#: again for each page, which stays within tens of milliseconds up to this depth.
RELEVANCE_DEPTH = 100_000
#: Hits fetched first to find a relevance cursor's place again (then four times
#: more each time it lies deeper).
_FIRST_FETCH = 1_000
#: Hits fetched beyond a page, so that a run of equal keys that the page's end
#: cuts is usually whole among them and need not be read again.
_LOOKAHEAD = 32

#: Tantivy counts dates in nanoseconds, stored here to the second.
_NANOS = 1_000_000_000
#: The Unix seconds tantivy can hold in a date (years 1677 to 2262).
FIRST_SECOND = math.ceil(tantivy.MIN_DATETIME.timestamp())
LAST_SECOND = math.floor(tantivy.MAX_DATETIME.timestamp())
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_INT64 = 2**63

#: A hit's sort value: its score, the second of its ``updated_at`` (``None``
#: without one) or its download count.
SortValue = float | int | None


def id_key(doc_id: str) -> int:
    """The first eight bytes of *doc_id*'s UTF-8 text as a big-endian number, padded
    with zero bytes: ``id_key(a) < id_key(b)`` implies ``a < b`` as strings (UTF-8
    byte order is code point order), and equal keys say nothing."""
    head = doc_id.encode("utf-8")[:_ID_KEY_BYTES]
    return int.from_bytes(head.ljust(_ID_KEY_BYTES, b"\0"), "big")


@dataclass(frozen=True)
class After:
    """Where a cursor points: the sort value and id of the last hit seen."""

    value: SortValue
    id: str


@dataclass(frozen=True)
class Entry:
    """A hit in result order."""

    value: SortValue
    address: tantivy.DocAddress


@dataclass(frozen=True)
class Page:
    """Some hits in result order, and how many the search matches in all."""

    total: int
    entries: list[Entry]


def parse_cursor(sort: str, cursor: Sequence[Any] | None) -> After | None:
    """Read a cursor made by :func:`cursor_for` for the same *sort*.

    ``relevance``: ``[score, id]``; ``newest``: ``[second, id]`` with the Unix time of
    ``updated_at`` in whole seconds, or ``None`` for an undated document;
    ``popular``: ``[downloads, id]``.

    :raises QueryError: for anything else (another length, other types, a date that
        no document can have).
    """
    if cursor is None:
        return None

    values = list(cursor)
    if len(values) == 2 and isinstance(values[1], str):
        value, doc_id = values
        if _valid_value(sort, value):
            if sort == "relevance":
                value = float(value)
            return After(value, common.clean(doc_id))
    raise QueryError(
        f"search_after is not a cursor of a search sorted by {sort}; pass the "
        "cursor of the page before, from a search with the same sort"
    )


def _valid_value(sort: str, value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if sort == "relevance":
        return isinstance(value, int | float) and math.isfinite(value)
    if sort == "newest" and value is None:
        return True
    if not isinstance(value, int):
        return False
    if sort == "newest":
        return FIRST_SECOND <= value <= LAST_SECOND
    return -_INT64 <= value < _INT64


def epoch_second(moment: dt.datetime) -> int:
    """The Unix second *moment* falls in (a naive datetime is UTC), at any date."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    # Subtracting never overflows, unlike moving datetime.max to UTC.
    return (moment - _EPOCH) // dt.timedelta(seconds=1)


def second_datetime(second: int | None) -> dt.datetime | None:
    """The UTC datetime of a Unix second within tantivy's dates."""
    return None if second is None else _EPOCH + dt.timedelta(seconds=second)


def cursor_for(entry: Entry, doc_id: str) -> list[Any]:
    """The cursor that pages on after *entry*, whose document is *doc_id*."""
    return [entry.value, doc_id]


class Pager:
    """Pages of the hits of one search in Kejian's order, from one searcher."""

    def __init__(self, searcher: tantivy.Searcher, schema: tantivy.Schema) -> None:
        self._searcher = searcher
        self._schema = schema

    def page(
        self,
        sort: str,
        *,
        ranked: tantivy.Query,
        matching: tantivy.Query,
        offset: int,
        limit: int,
        after: After | None,
    ) -> Page:
        """The hits at *offset*, or after the cursor *after*, up to *limit*.

        :param ranked: the query that scores hits, for ``relevance``.
        :param matching: the same documents, unscored, for the other sorts.
        :raises QueryError: when relevance order would have to be computed deeper
            than :data:`RELEVANCE_DEPTH` hits.
        """
        if limit == 0:
            return Page(self._count(matching), [])
        if sort == "relevance":
            return self._by_score(ranked, offset, limit, after)
        return self._by_field(SORT_FIELDS[sort], matching, offset, limit, after)

    # -------------------------------------------------------------- by a field

    def _by_field(
        self,
        field: str,
        matching: tantivy.Query,
        offset: int,
        limit: int,
        after: After | None,
    ) -> Page:
        if after is None:
            return self._field_window(field, matching, offset, limit, count=True)

        total = self._count(matching)
        entries = self._rest_of_run(field, matching, after, limit)
        # Undated documents come last: after their run there is nothing.
        if len(entries) < limit and after.value is not None:
            lower = _both(matching, self._below(field, after.value))
            more = self._field_window(field, lower, 0, limit - len(entries))
            entries += more.entries
        return Page(total, entries)

    def _field_window(
        self,
        field: str,
        query: tantivy.Query,
        offset: int,
        limit: int,
        *,
        count: bool = False,
    ) -> Page:
        """Hits *offset* to *offset* + *limit* of *query* by *field*, then id; the
        total is only counted when *count* is true (-1 otherwise)."""
        wanted = offset + limit
        fetch = wanted + _LOOKAHEAD
        result = self._sorted(query, fetch, field, tantivy.Order.Desc, count=count)
        fetched = [(_field_value(field, key), address) for key, address in result.hits]
        runs = _runs_between([value for value, _ in fetched], offset, wanted)

        # A run that reaches the last fetched hit may go on: the index has its
        # first ids. The runs before it are complete.
        open_run = None
        if runs and runs[-1][1] == len(fetched) == fetch:
            open_run = runs.pop()
        entries = self._entries(fetched, runs, offset, wanted)
        if open_run is not None:
            start = open_run[0]
            first = max(start, offset)
            value = fetched[start][0]
            addresses = self._run_from_index(
                field, query, value, skip=first - start, limit=wanted - first
            )
            entries += [Entry(value, address) for address in addresses]
        return Page(_total(result) if count else -1, entries)

    def _run_from_index(
        self,
        field: str,
        query: tantivy.Query,
        value: SortValue,
        *,
        skip: int,
        limit: int,
    ) -> list[tantivy.DocAddress]:
        """The hits of *query* whose *field* is *value*, by id, after *skip*."""
        same = _both(query, self._equal(field, value))
        hits = self._sorted(same, limit, ID_FIELD, tantivy.Order.Asc, skip=skip).hits
        return [address for _, address in hits]

    def _rest_of_run(
        self, field: str, query: tantivy.Query, after: After, limit: int
    ) -> list[Entry]:
        """Up to *limit* hits with the cursor's value and a greater id, by id."""
        same = _both(
            query,
            self._equal(field, after.value),
            # Ids that sort before the cursor's have a lower id_key, except those
            # sharing its first bytes: they are fetched and dropped below.
            tantivy.Query.range_query(
                self._schema,
                ID_KEY_FIELD,
                tantivy.FieldType.Unsigned,
                lower_bound=id_key(after.id),
            ),
        )
        fetch = limit + 1
        while True:
            hits = self._sorted(same, fetch, ID_FIELD, tantivy.Order.Asc).hits
            rest = [address for doc_id, address in hits if doc_id > after.id]
            if len(rest) >= limit or len(hits) < fetch:
                return [Entry(after.value, address) for address in rest[:limit]]
            fetch *= 2

    def _equal(self, field: str, value: SortValue) -> tantivy.Query:
        if value is None:
            return _missing(field)
        bound = _bound(field, value)
        return tantivy.Query.range_query(
            self._schema, field, _FIELD_TYPES[field], bound, bound
        )

    def _below(self, field: str, value: float) -> tantivy.Query:
        """Documents that come after every one with *value*: lower, or none."""
        lower = tantivy.Query.range_query(
            self._schema,
            field,
            _FIELD_TYPES[field],
            upper_bound=_bound(field, value),
            include_upper=False,
        )
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Should, lower), (tantivy.Occur.Should, _missing(field))]
        )

    # ------------------------------------------------------------ by relevance

    def _by_score(
        self, ranked: tantivy.Query, offset: int, limit: int, after: After | None
    ) -> Page:
        fetch = offset + limit + _LOOKAHEAD if after is None else _FIRST_FETCH
        result = self._searcher.search(ranked, fetch, count=True)
        total = _total(result)
        while True:
            hits = result.hits
            scores = [float(score) for score, _ in hits]
            complete = len(hits) >= total
            start = offset
            if after is not None:
                if not complete and scores[-1] >= _score(after):
                    # The cursor's place, after its whole run, lies further down.
                    fetch = _deeper(fetch, fetch + 1)
                    result = self._searcher.search(ranked, fetch, count=False)
                    continue
                start = self._place(hits, scores, after)

            end = start + limit
            if complete or (len(hits) > end and scores[-1] != scores[end - 1]):
                break
            # The run of equal scores at the end of the page may go on unseen.
            fetch = _deeper(fetch, end + 1)
            result = self._searcher.search(ranked, fetch, count=False)

        fetched = [(score, address) for score, (_, address) in zip(scores, hits)]
        runs = _runs_between(scores, start, end)
        return Page(total, self._entries(fetched, runs, start, end))

    def _place(
        self,
        hits: Sequence[tuple[Any, tantivy.DocAddress]],
        scores: list[float],
        after: After,
    ) -> int:
        """How many of *hits* (best first, with every hit scoring at least the
        cursor's) come before or at the cursor."""
        value = _score(after)
        # Scores descend: bisect on their negation.
        above = bisect.bisect_left(scores, -value, key=lambda score: -score)
        run_end = bisect.bisect_right(scores, -value, key=lambda score: -score)
        run = [address for _, address in hits[above:run_end]]
        wanted = id_key(after.id)
        keys = self._id_keys(run)
        seen = sum(
            1
            for key, address in zip(keys, run, strict=True)
            if key < wanted or (key == wanted and self._id(address) <= after.id)
        )
        return above + seen

    # ------------------------------------------------------------------ shared

    def _sorted(
        self,
        query: tantivy.Query,
        limit: int,
        field: str,
        order: tantivy.Order,
        *,
        skip: int = 0,
        count: bool = False,
    ) -> tantivy.SearchResult:
        """Hits of *query* sorted by the fast field *field* alone."""
        return self._searcher.search(
            query, limit, count=count, offset=skip, order_by_field=field, order=order
        )

    def _count(self, query: tantivy.Query) -> int:
        # tantivy refuses a limit of 0: one hit is fetched and dropped.
        return _total(self._searcher.search(query, 1, count=True))

    def _entries(
        self,
        fetched: Sequence[tuple[SortValue, tantivy.DocAddress]],
        runs: list[tuple[int, int]],
        start: int,
        end: int,
    ) -> list[Entry]:
        """Hits *start* to *end* of *fetched*, whose *runs* of equal values are
        complete and in any order, in Kejian's order."""
        members = [
            [address for _, address in fetched[first:last]] for first, last in runs
        ]
        entries: list[Entry] = []
        for (first, last), run in zip(runs, self._in_id_order(members), strict=True):
            value = fetched[first][0]
            chosen = run[max(first, start) - first : min(last, end) - first]
            entries += [Entry(value, address) for address in chosen]
        return entries

    def _in_id_order(
        self, runs: list[list[tantivy.DocAddress]]
    ) -> list[list[tantivy.DocAddress]]:
        """Each run ordered by the ids of its documents."""
        shared = [address for run in runs if len(run) > 1 for address in run]
        # One read of the id keys for every run.
        keys = iter(self._id_keys(shared))
        ordered = []
        for run in runs:
            if len(run) < 2:
                ordered.append(run)
                continue

            run_keys = [next(keys) for _ in run]
            # Ids that share their first bytes are told apart by their text.
            repeated = {key for key, times in Counter(run_keys).items() if times > 1}
            ids = [
                self._id(address) if key in repeated else ""
                for key, address in zip(run_keys, run, strict=True)
            ]
            order = sorted(range(len(run)), key=lambda i: (run_keys[i], ids[i]))
            ordered.append([run[index] for index in order])
        return ordered

    def _id_keys(self, addresses: list[tantivy.DocAddress]) -> list[int]:
        if not addresses:
            return []
        values = self._searcher.fast_field_values(ID_KEY_FIELD, addresses)
        return [int(value or 0) for value in values]

    def _id(self, address: tantivy.DocAddress) -> str:
        return str(self._searcher.doc(address)[ID_FIELD][0])


# ------------------------------------------------------------------------ helpers


def _runs_between(values: Sequence[Any], start: int, end: int) -> list[tuple[int, int]]:
    """``(first, last)`` (exclusive) of each run of equal neighbours in *values* that
    holds a position from *start* to *end* (exclusive)."""
    runs = []
    first = 0
    for index in range(1, len(values) + 1):
        if index == len(values) or values[index] != values[first]:
            if index > start:
                runs.append((first, index))
            if index >= end:
                break
            first = index
    return runs


def _deeper(fetched: int, needed: int) -> int:
    """How many hits to fetch next, four times as many as before, at least
    *needed*, at most :data:`RELEVANCE_DEPTH`."""
    if fetched >= RELEVANCE_DEPTH:
        raise QueryError(
            f"results in order of relevance can be paged {RELEVANCE_DEPTH:,} deep; "
            "sort by newest or popular, or narrow the search, to page further"
        )
    return min(max(fetched * 4, needed), RELEVANCE_DEPTH)


def _score(after: After) -> float:
    # parse_cursor made it a float for relevance.
    return cast(float, after.value)


def _field_value(field: str, key: Any) -> SortValue:
    """A hit's sort value from tantivy's order key (dates come in nanoseconds)."""
    if key is None:
        return None
    if _FIELD_TYPES[field] == tantivy.FieldType.Date:
        return int(key) // _NANOS
    return int(key)


def _bound(field: str, value: float) -> int | dt.datetime:
    """*value* as tantivy takes it in a range on *field*."""
    if _FIELD_TYPES[field] == tantivy.FieldType.Date:
        return _EPOCH + dt.timedelta(seconds=int(value))
    return int(value)


def _missing(field: str) -> tantivy.Query:
    """Documents without a value in the fast field *field*."""
    return tantivy.Query.boolean_query(
        [
            (tantivy.Occur.Must, tantivy.Query.all_query()),
            (tantivy.Occur.MustNot, tantivy.Query.exists_query(field)),
        ]
    )


def _both(*queries: tantivy.Query) -> tantivy.Query:
    return tantivy.Query.boolean_query([(tantivy.Occur.Must, q) for q in queries])


def _total(result: tantivy.SearchResult) -> int:
    """Documents matched by a search run with ``count=True``."""
    # tantivy-py 0.27 sets the count but its type stubs do not declare it.
    return int(result.count)  # type: ignore[attr-defined]
