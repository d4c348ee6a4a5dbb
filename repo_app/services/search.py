"""Searching the pool as a principal, and suggesting titles as they type.

The query is validated here (sizes, facet names, sort, dates, cursors), the
principal's access tokens are placed inside the engine query, and the engine's hits
are shown as the index holds them, with their owners' names from a short-lived cache
of the organisations.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
import time
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select

from config.vocabularies import FIELD_KINDS
from indexer.documents import MIME_GROUPS
from indexer.engines.base import (
    ACL_ALL,
    FACET_FIELDS,
    SORTS,
    Hit,
    QueryError,
    SearchQuery,
)
from repo_app.errors import BadRequest, ServiceUnavailable
from repo_app.extensions import db
from repo_app.models import ChapterNode, Locality, Organisation, OrgKind
from repo_app.runtime import runtime
from repo_app.security import Principal

MAX_QUERY_CHARS = 1000
MAX_PAGE_DEPTH = 10_000
MAX_FILTER_VALUES = 50
#: Suggestions: the longest prefix taken, and the most titles returned.
MAX_PREFIX_CHARS = 100
MAX_SUGGESTIONS = 20

#: Facets whose values are organisation codes, labelled with the organisation's name.
ORG_FACETS = {"owner_org", "school", "district"}
#: The kind of organisation a value of each organisation facet names (None: any).
_ORG_FACET_KINDS = {
    "owner_org": None,
    "school": OrgKind.SCHOOL,
    "district": OrgKind.DISTRICT,
}
#: Chapter ids are database integers: a longer number names no chapter.
_MAX_CHAPTER_DIGITS = 9


def parse_filters(args: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for name, values in args.items():
        if name not in FACET_FIELDS:
            raise BadRequest(
                f"Unknown filter {name!r}. Filters: {', '.join(FACET_FIELDS)}.",
                details={"field": name},
            )
        cleaned = [v for v in values if v != ""]
        if len(cleaned) > MAX_FILTER_VALUES:
            raise BadRequest(f"Too many values for {name} (at most {MAX_FILTER_VALUES}).")
        if any(len(v) > 200 for v in cleaned):
            raise BadRequest(f"A value of {name} is too long.")
        if cleaned:
            filters[name] = cleaned
    return filters


#: Where a client finds the values of the facets that have no vocabulary.
_WHERE_VALUES = {
    "owner_org": "see GET /api/v1/organisations",
    "school": "see the schools of GET /api/v1/organisations",
    "district": "see the districts of GET /api/v1/organisations",
    "chapter": "see GET /api/v1/chapters",
    "locality": f"use one of {', '.join(Locality)}",
    "mime_group": f"use one of {', '.join(sorted(MIME_GROUPS))}",
}


def _check_values(filters: dict[str, list[str]]) -> None:
    """Turn vocabulary labels into codes, in place.

    :raises BadRequest: for a value that names nothing the field can hold: no term
        of its vocabulary, organisation of its kind, chapter, locality or file type.
    """
    vocab = runtime().vocab
    for name, values in filters.items():
        kind = FIELD_KINDS.get(name)
        if kind is not None:
            for i, value in enumerate(values):
                code = vocab.resolve(kind, value)
                if code is None:
                    raise BadRequest(
                        f"Unknown {name} {value!r}; see GET /api/v1/vocabularies.",
                        details={"field": name, "value": value},
                    )
                values[i] = code
            continue

        known = _known_values(name, values)
        unknown = next((value for value in values if value not in known), None)
        if unknown is not None:
            raise BadRequest(
                f"Unknown {name} {unknown!r}; {_WHERE_VALUES[name]}.",
                details={"field": name, "value": unknown},
            )


def _known_values(name: str, values: Sequence[str]) -> set[str]:
    """Those of *values* that the facet field *name* (without a vocabulary) can hold."""
    if name == "locality":
        return {value for value in values if value in set(Locality)}
    if name == "mime_group":
        return {value for value in values if value in MIME_GROUPS}
    if name == "chapter":
        ids = {
            int(value)
            for value in values
            if value.isascii() and value.isdigit() and len(value) <= _MAX_CHAPTER_DIGITS
        }
        if not ids:
            return set()
        found = db.session.scalars(select(ChapterNode.id).where(ChapterNode.id.in_(ids)))
        return {str(chapter) for chapter in found}

    # No code holds a control character, and PostgreSQL cannot compare a NUL.
    printable = {value for value in values if value.isprintable()}
    if not printable:
        return set()
    orgs = _org_names().get(printable)
    kind = _ORG_FACET_KINDS[name]
    return {
        code
        for code in printable
        if code in orgs and (kind is None or orgs[code].kind is kind)
    }


def search(
    principal: Principal,
    *,
    text: str,
    filters: dict[str, list[str]],
    facets: Sequence[str] | None,
    sort: str,
    page: int | None = None,
    per_page: int,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Search the resources *principal* may see.

    Facets are multi-select: a filtered field is counted with every other filter
    but not its own, so its other values stay on offer; totals and hits honour
    every filter.

    :param filters: from :func:`parse_filters`; vocabulary labels become codes.
    :param facets: fields to count; ``None`` counts every facet.
    :param page: the page number (from 1), as deep as :data:`MAX_PAGE_DEPTH`
        results; leave it out with *cursor*.
    :param date_from: only resources changed at or after it; a :class:`~datetime.date`
        means the start of that day, in UTC like a naive datetime.
    :param date_to: only resources changed before it; a date includes that whole day.
    :param cursor: the ``next_cursor`` of the page before, to page on without a
        depth limit.
    :returns: ``total``, ``page``, ``per_page``, ``hits``, ``facets`` and
        ``next_cursor`` (``None`` on the last page).
    :raises BadRequest: for a query, filter, date, page or cursor that cannot run.
    :raises SearchUnavailable: when the search engine cannot be reached.
    """
    if len(text) > MAX_QUERY_CHARS:
        raise BadRequest(f"The query is too long: at most {MAX_QUERY_CHARS} characters.")
    if sort not in SORTS:
        raise BadRequest(f"Unknown sort {sort!r}; use one of {', '.join(SORTS)}.")
    facet_names = list(FACET_FIELDS) if facets is None else list(facets)
    unknown = [f for f in facet_names if f not in FACET_FIELDS]
    if unknown:
        raise BadRequest(
            f"Unknown facet {unknown[0]!r}. Facets: {', '.join(FACET_FIELDS)}."
        )
    _check_values(filters)
    start, end = date_range(date_from, date_to)

    # The cursor names the search it pages: used with another one it would skip or
    # repeat results, so it is refused instead.
    fingerprint = _fingerprint(text, filters, sort, start, end)
    after: list[Any] | None = None
    if cursor is not None:
        if page is not None:
            raise BadRequest(
                "Give either page or cursor, not both.", details={"parameter": "cursor"}
            )
        after, seen = _decode_cursor(cursor, fingerprint)
        offset = 0
    else:
        offset = ((page or 1) - 1) * per_page
        seen = offset
        if offset + per_page > MAX_PAGE_DEPTH:
            raise BadRequest(
                f"Pages reach at most {MAX_PAGE_DEPTH} results; narrow the search, "
                "or page on with next_cursor."
            )

    query = SearchQuery(
        text=text.replace("\x00", " "),
        filters=filters,
        facets=facet_names,
        sort=sort,
        offset=offset,
        limit=per_page,
        acl=_acl(principal),
        date_from=start,
        date_to=end,
        search_after=after,
    )
    try:
        result = runtime().engine.search(query)
    except QueryError:
        if after is None:
            raise
        # Signed by us, yet refused: made for another engine or index layout, or
        # deeper than the engine follows relevance order.
        raise BadRequest(
            "The search cannot page on from this cursor; start again from page 1, "
            "or sort by newest to page deeper.",
            details={"parameter": "cursor"},
        ) from None

    seen += len(result.hits)
    next_cursor = None
    full_page = len(result.hits) == per_page
    if result.cursor is not None and full_page and seen < result.total:
        next_cursor = _encode_cursor(result.cursor, seen, fingerprint)
    return {
        "total": result.total,
        "page": None if cursor is not None else (page or 1),
        "per_page": per_page,
        "next_cursor": next_cursor,
        "hits": _hit_rows(result.hits),
        "facets": _label_facets(result.facets),
    }


def suggest(principal: Principal, prefix: str, limit: int = 10) -> list[str]:
    """Titles *principal* may see that complete *prefix*, for a search box.

    Titles match on their text, their full pinyin and their pinyin initials
    (``sx`` and ``shux`` find 数学 titles); titles that start with *prefix* come
    first, then the most downloaded.

    :raises BadRequest: for a blank prefix, one longer than
        :data:`MAX_PREFIX_CHARS`, one with control characters, or a *limit* outside
        1 to :data:`MAX_SUGGESTIONS`.
    :raises ServiceUnavailable: when the engine cannot suggest titles.
    :raises SearchUnavailable: when the search engine cannot be reached.
    """
    prefix = prefix.strip()
    if not prefix:
        raise BadRequest(
            "Give q, the beginning of a title.", details={"parameter": "q"}
        )
    if len(prefix) > MAX_PREFIX_CHARS:
        raise BadRequest(
            f"q is too long for a suggestion: at most {MAX_PREFIX_CHARS} characters.",
            details={"parameter": "q"},
        )
    if any(unicodedata.category(char) == "Cc" for char in prefix):
        raise BadRequest("q contains control characters.", details={"parameter": "q"})
    if not 1 <= limit <= MAX_SUGGESTIONS:
        raise BadRequest(
            f"limit must be between 1 and {MAX_SUGGESTIONS}.",
            details={"parameter": "limit"},
        )

    try:
        return runtime().engine.suggest(prefix, _acl(principal), limit)
    except NotImplementedError:
        raise ServiceUnavailable(
            "This search engine does not suggest titles; search instead."
        ) from None


def date_range(
    date_from: dt.date | None, date_to: dt.date | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The UTC bounds of a date filter: a start included and an end excluded.

    A naive datetime is UTC; a :class:`~datetime.date` is a day in UTC, which
    *date_from* starts and *date_to* includes whole (it ends at the next midnight).

    :raises BadRequest: for a year before 1900 or after 2999, or an empty range.
    """
    start = _bound("from", date_from, next_day=False)
    end = _bound("to", date_to, next_day=True)
    if start is not None and end is not None and start >= end:
        raise BadRequest("from must be before to.", details={"parameter": "from"})
    return start, end


def _bound(name: str, value: dt.date | None, *, next_day: bool) -> dt.datetime | None:
    if value is None:
        return None
    if not 1900 <= value.year <= 2999:
        raise BadRequest(
            f"{name} must be a date between the years 1900 and 2999.",
            details={"parameter": name},
        )
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(dt.UTC)
    day = dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    return day + dt.timedelta(days=1) if next_day else day


def _acl(principal: Principal) -> list[str]:
    return [ACL_ALL] if principal.system else principal.acl()


# -- cursors ----------------------------------------------------------------------
#
# A cursor is the engine's sort key of the last hit, with the number of results seen
# so far and a fingerprint of the search, signed with the application's secret key:
# clients cannot forge sort keys for the engine to choke on, and a garbled or
# tampered cursor is a plain 400.

_CURSOR_SALT = "kejian.search.cursor"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_CURSOR_SALT)


def _fingerprint(
    text: str,
    filters: Mapping[str, Sequence[str]],
    sort: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
) -> str:
    """A short digest of what decides a search's results and their order."""
    parts = [
        text,
        sorted((name, sorted(values)) for name, values in filters.items()),
        sort,
        start.isoformat() if start else None,
        end.isoformat() if end else None,
    ]
    key = json.dumps(parts, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]


def _encode_cursor(after: list[Any], seen: int, fingerprint: str) -> str:
    return str(_serializer().dumps({"after": after, "seen": seen, "of": fingerprint}))


def _decode_cursor(token: str, fingerprint: str) -> tuple[list[Any], int]:
    """:raises BadRequest: for a cursor we did not make, or made for another search."""
    try:
        data = _serializer().loads(token)
    except BadSignature:
        raise BadRequest(
            "The cursor is not one this search gave out; start again from page 1.",
            details={"parameter": "cursor"},
        ) from None

    if not isinstance(data, dict) or data.get("of") != fingerprint:
        raise BadRequest(
            "The cursor belongs to another search: keep q, the filters, from, to and "
            "sort as they were, or start again from page 1.",
            details={"parameter": "cursor"},
        )
    return list(data["after"]), int(data["seen"])


def _hit_rows(hits: Sequence[Hit]) -> list[dict[str, Any]]:
    """The engine's hits with what a results page shows of them.

    The page is shown from the index, as the index ranked it (a resource changed a
    moment ago shows as it was found), and the owner's name from the cached
    organisations: a page of results costs no database query.
    """
    codes = {hit.shown.get("owner_org") for hit in hits} - {None}
    orgs = _org_names().get(codes) if codes else {}
    shown = []
    for hit in hits:
        if not (hit.id.isascii() and hit.id.isdigit()):
            continue  # a document that names no resource (see ``kejian check``)
        fields = hit.shown
        code = fields.get("owner_org")
        org = orgs.get(code) if code else None
        updated = fields.get("updated_at")
        shown.append(
            {
                "id": int(hit.id),
                "title": fields.get("title") or "",
                "score": hit.score,
                "highlights": hit.highlights,
                "subject": fields.get("subject"),
                "stage": fields.get("stage"),
                "resource_type": fields.get("resource_type"),
                "owner_org": {
                    "code": code,
                    "name": org.name if org else code,
                    "kind": org.kind.value if org else None,
                    "locality": org.locality.value if org and org.locality else None,
                },
                "updated_at": updated.isoformat() if updated else None,
            }
        )
    return shown


class _Org(NamedTuple):
    name: str
    kind: OrgKind
    locality: Locality | None


class _OrgNames:
    """Organisation code -> name, kind and locality, kept for a short while per
    process.

    Hits and facet labels need the names of up to a few hundred schools on every
    search, and organisation filters their kinds; organisations change rarely, so a
    rename shows within :attr:`TTL` seconds. A code it does not hold reloads it at
    once.
    """

    TTL = 30.0

    def __init__(self) -> None:
        self._orgs: dict[str, _Org] = {}
        self._names: dict[str, str] = {}
        self._loaded = 0.0
        self._lock = threading.Lock()

    def get(self, codes: set[str]) -> dict[str, _Org]:
        """Every organisation, loaded again when old or without one of *codes*."""
        now = time.monotonic()
        stale = now - self._loaded > self.TTL or not codes <= self._orgs.keys()
        if stale:
            rows = db.session.execute(
                select(
                    Organisation.code,
                    Organisation.name,
                    Organisation.kind,
                    Organisation.locality,
                )
            ).all()
            with self._lock:
                self._orgs = {row.code: _Org(*row[1:]) for row in rows}
                self._names = {row.code: row.name for row in rows}
                self._loaded = now
        return self._orgs

    def names(self, codes: set[str]) -> dict[str, str]:
        """Code -> name of every organisation (see :meth:`get`)."""
        self.get(codes)
        return self._names


def _org_names() -> _OrgNames:
    cache = current_app.extensions.get("kejian.org_names")
    if cache is None:
        cache = current_app.extensions.setdefault("kejian.org_names", _OrgNames())
    return cache  # type: ignore[no-any-return]


class _ChapterTitles:
    """Chapter id -> title, kept per process: the catalogue's chapters change only
    when it is loaded again. They are read again after :attr:`TTL` seconds, or after
    :attr:`RETRY` seconds when asked for an id they do not hold (a chapter added
    since; an id of none costs at most one query per :attr:`RETRY`)."""

    TTL = 300.0
    RETRY = 5.0

    def __init__(self) -> None:
        self._titles: dict[str, str] = {}
        self._loaded = float("-inf")

    def get(self, ids: set[str]) -> dict[str, str]:
        age = time.monotonic() - self._loaded
        if age > self.TTL or (age > self.RETRY and not ids <= self._titles.keys()):
            rows = db.session.execute(select(ChapterNode.id, ChapterNode.title))
            self._titles = {str(chapter): title for chapter, title in rows}
            self._loaded = time.monotonic()
        return self._titles


def chapter_titles(ids: set[str]) -> dict[str, str]:
    """Chapter id -> title of every chapter (cached; read again when one of *ids*
    is new to the cache, see :class:`_ChapterTitles`)."""
    cache = current_app.extensions.get("kejian.chapter_titles")
    if cache is None:
        cache = current_app.extensions.setdefault(
            "kejian.chapter_titles", _ChapterTitles()
        )
    return cache.get(ids)  # type: ignore[no-any-return]


def _label_facets(facets: dict[str, list[tuple[str, int]]]) -> dict[str, list[dict[str, Any]]]:
    vocab = runtime().vocab
    org_codes = {v for name in ORG_FACETS for v, _ in facets.get(name, [])}
    names = _org_names().names(org_codes) if org_codes else {}
    chapters = {v for v, _ in facets.get("chapter", [])}
    labelled: dict[str, list[dict[str, Any]]] = {}
    for name, values in facets.items():
        kind = FIELD_KINDS.get(name)
        if name in ORG_FACETS:
            labels = names
        elif name == "chapter":
            labels = chapter_titles(chapters) if chapters else {}
        elif kind is not None:
            labels = vocab.labels(kind)
        else:
            labels = {}
        labelled[name] = [
            {"value": value, "label": labels.get(value, value), "count": count}
            for value, count in values
        ]
    return labelled
