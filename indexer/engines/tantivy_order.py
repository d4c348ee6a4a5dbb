"""The order of the embedded engine's results, its pages and its cursors.

Kejian orders hits by a sort key and then by ``id`` (see
:class:`~indexer.engines.base.SearchQuery`). Tantivy ranks them by one key only, a
score or a fast field, and leaves equal keys in the order they have in the index.
This module builds the full order on top of tantivy's:

* **By a field** (``newest``: ``updated_at``; ``popular``: ``downloads``), hits come
  in runs of equal values. A run that the end of a page cuts is read again from the
  index, restricted to its value, in id order. A cursor ``[value, id]`` selects the
  rest of its run (same value, a greater id) and then every lower value by range
  filters, so pages go on without a depth limit.
* **By relevance**, a score cannot be filtered on: hits are fetched until every run
  of equal scores that the page touches is complete, and those runs are ordered by
  id here. A run too long to fetch (a one-character query gives every match the same
  score) is read from the index in id order instead, keeping the candidates that
  score exactly the run's score. A cursor ``[score, id]`` is found again among the
  hits ranked above it: that is practical while fewer than
  :data:`RELEVANCE_DEPTH` hits rank above the cursor's run; a deeper cursor is
  refused. Within a run, cursors page on at any depth.

Ids compare as strings. Tantivy sorts by a text fast field far too slowly beyond a
few dozen hits, so every document holds ``id_key`` (see :func:`id_key`), a number
that never orders two ids against their text: hits are put in id order by it, "ids
after this one" is a numeric range, and a set of hits is named by a term set of
keys. Only ids that share their first eight bytes are compared by their stored
text, which Kejian's numeric ids never do.
"""

from __future__ import annotations

import bisect
import datetime as dt
import math
from collections import Counter
from collections.abc import Callable, Sequence
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

#: How deep relevance order is computed: the hits ranked above a cursor's run of
#: equal scores are fetched again for each page, which stays within tens of
#: milliseconds up to this depth.
RELEVANCE_DEPTH = 100_000
#: Hits fetched first to find a relevance cursor's place again (then eight times
#: as many each time it lies deeper).
_FIRST_FETCH = 1_000
#: A run of equal scores of which this many hits are fetched is read from the index
#: rather than fetched whole.
_LONG_RUN = 8_192
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
        :raises QueryError: when more than :data:`RELEVANCE_DEPTH` hits rank above
            the page in relevance order.
        """
        if limit == 0:
            return Page(self._count(matching), [])
        if sort == "relevance":
            return self._by_score(ranked, matching, offset, limit, after)
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
        # The rest of the cursor's run, then the values below it. Undated documents
        # come last: after their run there is nothing.
        same = _both(matching, self._equal(field, after.value))
        rest = self._in_id_order(same, limit, after=after.id)
        entries = [Entry(after.value, address) for address in rest]
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
        runs = _runs_between(
            [value for value, _ in fetched], offset, wanted, key=_highest_first
        )

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
            same = _both(query, self._equal(field, value))
            addresses = self._in_id_order(same, wanted - first, skip=first - start)
            entries += [Entry(value, address) for address in addresses]
        return Page(_total(result) if count else -1, entries)

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
        self,
        ranked: tantivy.Query,
        matching: tantivy.Query,
        offset: int,
        limit: int,
        after: After | None,
        *,
        base: int = 0,
    ) -> Page:
        """Hits by score, then id: at *offset* or after *after*, among the hits
        from rank *base* on (where a run of equal scores must start)."""
        fetch = offset + limit + _LOOKAHEAD if after is None else _FIRST_FETCH
        result = self._searcher.search(ranked, fetch, count=True, offset=base)
        total = _total(result)
        while True:
            hits: list[tuple[float, tantivy.DocAddress]] = result.hits
            scores = [score for score, _ in hits]
            complete = base + len(hits) >= total
            ranking = _Ranking(ranked, matching, base + len(hits), total)
            start = offset
            if after is not None:
                score = _score(after)
                if not complete and scores[-1] >= score:
                    # The cursor's place lies past the fetched hits, unless its run
                    # is long: then the index has the rest of the run.
                    if scores[-1] == score and _open_run(scores) >= _LONG_RUN:
                        return Page(total, self._after_long_run(ranking, after, limit))
                    fetch = _deeper(fetch, 8 * fetch)
                    result = self._searcher.search(
                        ranked, fetch, count=False, offset=base
                    )
                    continue
                start = self._place(hits, scores, after)

            end = start + limit
            if complete or (len(hits) > end and scores[-1] != scores[end - 1]):
                runs = _runs_between(scores, start, end, key=_descending)
                return Page(total, self._entries(hits, runs, start, end))
            if len(hits) > end and _open_run(scores) >= _LONG_RUN:
                # The run that the page ends in is long: the index has its ids.
                entries = self._window_in_long_run(ranking, hits, start, end)
                return Page(total, entries)
            # Runs this long are usually far longer (a one-character query has two):
            # enough is fetched at once to finish one or to read it from the index.
            fetch = _deeper(fetch, end + _LONG_RUN)
            result = self._searcher.search(ranked, fetch, count=False, offset=base)

    def _window_in_long_run(
        self,
        ranking: _Ranking,
        hits: list[tuple[float, tantivy.DocAddress]],
        start: int,
        end: int,
    ) -> list[Entry]:
        """Hits *start* to *end*, the last of them in the run that *hits* end in."""
        scores = [score for score, _ in hits]
        score = scores[-1]
        first = len(hits) - _open_run(scores)
        above = min(end, first)
        runs = _runs_between(scores, start, above, key=_descending)
        entries = self._entries(hits, runs, start, above) if start < above else []
        members = self._run_members(
            ranking, score, end - max(start, first), skip=max(start - first, 0)
        )
        return entries + [Entry(score, address) for address in members]

    def _after_long_run(
        self, ranking: _Ranking, after: After, limit: int
    ) -> list[Entry]:
        """Up to *limit* hits after a cursor in a long run: the rest of the run by
        id, then the hits ranked below it."""
        score = _score(after)
        members = self._run_members(ranking, score, limit, after=after.id)
        entries = [Entry(score, address) for address in members]
        if len(entries) < limit:
            below = self._first_below(ranking, score)
            if below < ranking.total:
                more = self._by_score(
                    ranking.ranked,
                    ranking.matching,
                    0,
                    limit - len(entries),
                    None,
                    base=below,
                )
                entries += more.entries
        return entries

    def _run_members(
        self,
        ranking: _Ranking,
        score: float,
        limit: int,
        *,
        skip: int = 0,
        after: str | None = None,
    ) -> list[tantivy.DocAddress]:
        """Hits that score exactly *score*, in id order, after *skip* of them or
        after the id *after*.

        Candidates come from the index in id order, a chunk at a time; those the
        ranked query scores *score* belong to the run.
        """
        wanted = skip + limit
        members: list[tantivy.DocAddress] = []
        seen = 0
        chunk = max(2 * wanted, _LONG_RUN)
        while len(members) < wanted:
            candidates = self._in_id_order(
                ranking.matching, chunk, skip=seen, after=after
            )
            seen += len(candidates)
            scores = self._scores(ranking.ranked, candidates)
            members += [c for c in candidates if scores.get(_address(c)) == score]
            if len(candidates) < chunk:
                break
            chunk *= 2
        return members[skip:wanted]

    def _scores(
        self, ranked: tantivy.Query, addresses: list[tantivy.DocAddress]
    ) -> dict[tuple[int, int], float]:
        """The scores the ranked query gives the documents at *addresses*."""
        if not addresses:
            return {}
        keys = self._id_keys(addresses)
        chosen = tantivy.Query.const_score_query(
            tantivy.Query.term_set_query(self._schema, ID_KEY_FIELD, keys), 0.0
        )
        # Adding a score of 0 keeps each score exactly as the ranked query gives it;
        # ids sharing a key may add a few more hits than asked.
        query = _both(ranked, chosen)
        result = self._searcher.search(query, len(addresses), count=True)
        if _total(result) > len(addresses):
            result = self._searcher.search(query, _total(result), count=False)
        return {_address(address): score for score, address in result.hits}

    def _first_below(self, ranking: _Ranking, score: float) -> int:
        """The rank of the first hit scoring below *score*, found by asking for
        single ranks; the hits before ``ranking.known`` score at least that."""

        def below(rank: int) -> bool:
            hit = self._searcher.search(ranking.ranked, 1, count=False, offset=rank)
            return bool(hit.hits) and hit.hits[0][0] < score

        low, high = ranking.known, ranking.total
        # A long run is most often the last: one look at the last hit tells.
        if low >= high or not below(high - 1):
            return high
        while low < high:
            middle = (low + high) // 2
            if below(middle):
                high = middle
            else:
                low = middle + 1
        return low

    def _place(
        self,
        hits: Sequence[tuple[Any, tantivy.DocAddress]],
        scores: list[float],
        after: After,
    ) -> int:
        """How many of *hits* (best first, with every hit scoring at least the
        cursor's) come before or at the cursor."""
        value = _score(after)
        above = bisect.bisect_left(scores, -value, key=_descending)
        run_end = bisect.bisect_right(scores, -value, key=_descending)
        run = [address for _, address in hits[above:run_end]]
        wanted = id_key(after.id)
        keys = self._id_keys(run)
        seen = sum(
            1
            for key, address in zip(keys, run, strict=True)
            if key < wanted or (key == wanted and self._id(address) <= after.id)
        )
        return above + seen

    # ------------------------------------------------------------------ id order

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
        for (first, last), run in zip(runs, self._sorted_runs(members), strict=True):
            value = fetched[first][0]
            chosen = run[max(first, start) - first : min(last, end) - first]
            entries += [Entry(value, address) for address in chosen]
        return entries

    def _sorted_runs(
        self, runs: list[list[tantivy.DocAddress]]
    ) -> list[list[tantivy.DocAddress]]:
        """Each run ordered by the ids of its documents (one read of their keys)."""
        shared = [address for run in runs if len(run) > 1 for address in run]
        keys = iter(self._id_keys(shared))
        ordered = []
        for run in runs:
            if len(run) < 2:
                ordered.append(run)
                continue
            run_keys = [next(keys) for _ in run]
            ordered.append(self._by_keys(list(zip(run_keys, run, strict=True))))
        return ordered

    def _in_id_order(
        self,
        query: tantivy.Query,
        limit: int,
        *,
        skip: int = 0,
        after: str | None = None,
    ) -> list[tantivy.DocAddress]:
        """Up to *limit* hits of *query* in id order, after the first *skip* of them
        or after the id *after*."""
        if after is not None:
            # Ids that share the cursor's first bytes but sort before it are
            # dropped below.
            query = _both(query, self._ids_from(after))
        wanted = skip + limit
        fetch = wanted + _LOOKAHEAD
        while True:
            hits = self._sorted(query, fetch, ID_KEY_FIELD, tantivy.Order.Asc).hits
            keyed = [(int(key), address) for key, address in hits]
            if len(hits) < fetch:
                return self._by_keys(keyed, after=after)[skip:wanted]

            # More hits than were fetched may share the last key: the page is taken
            # from the keys before it if they are enough, else all of its hits are
            # read.
            last = keyed[-1][0]
            whole = [(key, address) for key, address in keyed if key != last]
            ordered = self._by_keys(whole, after=after)
            if len(ordered) < wanted:
                whole += [(last, address) for address in self._with_key(query, last)]
                ordered = self._by_keys(whole, after=after)
            if len(ordered) >= wanted:
                return ordered[skip:wanted]
            fetch *= 2

    def _by_keys(
        self,
        keyed: list[tuple[int, tantivy.DocAddress]],
        *,
        after: str | None = None,
    ) -> list[tantivy.DocAddress]:
        """Addresses ordered by the ids whose keys *keyed* gives; ids at or before
        *after* are left out. Ids are only read where keys are equal."""
        keys = [key for key, _ in keyed]
        # Ids are read where keys repeat, and where they tie with the cursor's.
        shared = {key for key, times in Counter(keys).items() if times > 1}
        if after is not None:
            shared.add(id_key(after))
        ids = {
            index: self._id(address)
            for index, (key, address) in enumerate(keyed)
            if key in shared
        }
        order = sorted(range(len(keyed)), key=lambda i: (keys[i], ids.get(i, "")))
        return [
            keyed[index][1]
            for index in order
            if after is None or index not in ids or ids[index] > after
        ]

    def _with_key(self, query: tantivy.Query, key: int) -> list[tantivy.DocAddress]:
        """Every hit of *query* whose id_key is *key*."""
        same = _both(
            query,
            tantivy.Query.range_query(
                self._schema, ID_KEY_FIELD, tantivy.FieldType.Unsigned, key, key
            ),
        )
        count = self._count(same)
        return [address for _, address in self._searcher.search(same, count).hits]

    # ------------------------------------------------------------------ shared

    def _sorted(
        self,
        query: tantivy.Query,
        limit: int,
        field: str,
        order: tantivy.Order,
        *,
        count: bool = False,
    ) -> tantivy.SearchResult:
        """Hits of *query* sorted by the fast field *field* alone."""
        return self._searcher.search(
            query, limit, count=count, order_by_field=field, order=order
        )

    def _count(self, query: tantivy.Query) -> int:
        # tantivy refuses a limit of 0: one hit is fetched and dropped.
        return _total(self._searcher.search(query, 1, count=True))

    def _id_keys(self, addresses: list[tantivy.DocAddress]) -> list[int]:
        if not addresses:
            return []
        values = self._searcher.fast_field_values(ID_KEY_FIELD, addresses)
        return [int(value or 0) for value in values]

    def _id(self, address: tantivy.DocAddress) -> str:
        return str(self._searcher.doc(address)[ID_FIELD][0])

    def _ids_from(self, doc_id: str) -> tantivy.Query:
        """Documents whose id may sort at or after *doc_id*: those with an id_key
        at least its own."""
        return tantivy.Query.range_query(
            self._schema,
            ID_KEY_FIELD,
            tantivy.FieldType.Unsigned,
            lower_bound=id_key(doc_id),
        )


@dataclass(frozen=True)
class _Ranking:
    """A relevance search: its queries, the ranks fetched so far, its total."""

    ranked: tantivy.Query
    matching: tantivy.Query
    known: int
    total: int


# ------------------------------------------------------------------------ helpers


def _runs_between(
    values: Sequence[Any], start: int, end: int, *, key: Callable[[Any], Any]
) -> list[tuple[int, int]]:
    """``(first, last)`` (exclusive) of each run of equal *values* that holds a
    position from *start* to *end* (exclusive); *key* puts *values* in ascending
    order."""
    runs = []
    position = min(start, len(values))
    if position < len(values):
        # Back to the first of the run that holds start.
        position = bisect.bisect_left(values, key(values[position]), key=key)
    while position < min(end, len(values)):
        last = bisect.bisect_right(values, key(values[position]), key=key)
        runs.append((position, last))
        position = last
    return runs


def _descending(score: float) -> float:
    return -score


def _highest_first(value: SortValue) -> tuple[bool, float]:
    """Field values in result order: highest first, missing ones last."""
    return (value is None, -value if value is not None else 0.0)


def _open_run(scores: Sequence[float]) -> int:
    """How many of *scores* (descending) equal the last one."""
    return len(scores) - bisect.bisect_left(scores, -scores[-1], key=_descending)


def _address(address: tantivy.DocAddress) -> tuple[int, int]:
    """A hashable form of *address*."""
    return (address.segment_ord, address.doc)


def _deeper(fetched: int, needed: int) -> int:
    """How many hits to fetch next: *needed*, at least twice as many as before, at
    most :data:`RELEVANCE_DEPTH`."""
    if fetched >= RELEVANCE_DEPTH:
        raise QueryError(
            f"results in order of relevance can be paged {RELEVANCE_DEPTH:,} deep; "
            "sort by newest or popular, or narrow the search, to page further"
        )
    return min(max(fetched * 2, needed), RELEVANCE_DEPTH)


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
