"""The search page: one box, facets with counts, filters kept in the address.

What the page shows comes from its address only (``q``, any number of values per
facet field, ``from`` and ``to`` dates, ``sort``, ``page`` and, past the engine's
window of :data:`~repo_app.services.search.MAX_PAGE_DEPTH` results, ``cursor``), so
a search can be bookmarked, shared, paged and sent back without JavaScript. The page
never fails on what an address holds: parameters and values it does not know are
left out and named on the page, a date it cannot read is said next to its field with
what was typed kept, a page number beyond the results shows the last page, and when
nothing is found the page counts what leaving out each filter, or the words, would
find.

Pages are numbered as deep as the engine's window; from its last numbered page on,
"next" follows the engine's cursor. The address of such a page carries the cursors
that led to it (the last :data:`MAX_TRAIL`), so "previous" goes back without the
engine paging backwards.

Suggestions as the visitor types come from ``GET /api/v1/suggest``
(``static/js/search.js``); the page works the same without them.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from math import ceil
from typing import Any

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from werkzeug.datastructures import MultiDict

from config.vocabularies import FIELD_KINDS
from indexer.engines.base import FACET_FIELDS, SORTS
from repo_app.auth import current_principal
from repo_app.errors import BadRequest
from repo_app.runtime import runtime
from repo_app.security import Principal
from repo_app.services import search as search_service
from repo_app.web import display, nav

bp = Blueprint("search_page", __name__)
bp.context_processor(display.template_helpers)

nav.add("search_page.index", _l("Search"), order=20)

PER_PAGE = 20
#: Cursors of the pages before a page past the numbered ones that its address keeps
#: (about 110 characters each), so that the address stays short enough for proxies.
MAX_TRAIL = 10
#: Page numbers an address may hold: past the numbered pages, cursor pages count on.
_MAX_PAGE_DIGITS = 9
#: The longest query kept from an address (the search boxes take 200 characters).
MAX_TEXT = 200

#: Facet groups in the order shown, with their headings. ``chapter`` is shown only
#: while it filters (the browse page links to chapters).
FACETS: dict[str, Any] = {
    "stage": _l("Stage"),
    "subject": _l("Subject"),
    "grade": _l("Grade"),
    "edition": _l("Textbook edition"),
    "volume": _l("Volume"),
    "chapter": _l("Chapter"),
    "resource_type": _l("Resource type"),
    "mime_group": _l("File type"),
    "licence": _l("Licence"),
    "language": _l("Language"),
    "district": _l("District"),
    "school": _l("School"),
    "locality": _l("Urban or rural"),
}
SORT_NAMES: dict[str, Any] = {
    "relevance": _l("Best match"),
    "newest": _l("Newest"),
    "popular": _l("Most downloaded"),
}
#: Facets whose values are organisation codes, named by the search service.
ORG_FACETS = search_service.ORG_FACETS
#: Values a facet group lists before the rest are folded under "more".
FIRST_VALUES = 8

_ORG_CODE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
#: A day as people write it: 2024-09-01, 2024/9/1, 2024.9.1 or 2024年9月1日.
_DAY = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
#: Date parameters: name -> its heading on chips.
DATES: dict[str, Any] = {"from": _l("Changed from"), "to": _l("Changed until")}


@dataclass
class Query:
    """A search as the address states it, checked."""

    text: str = ""
    #: Facet field -> chosen codes, in the order given.
    filters: dict[str, list[str]] = field(default_factory=dict)
    sort: str = "relevance"
    page: int = 1
    #: ``from`` and ``to``: the days searched, as ISO dates.
    dates: dict[str, str] = field(default_factory=dict)
    #: What was typed for a date that cannot be searched, and why not.
    typed: dict[str, str] = field(default_factory=dict)
    date_errors: dict[str, str] = field(default_factory=dict)
    #: Past the numbered pages: the cursors that led here, the last one this page's.
    cursors: list[str] = field(default_factory=list)
    #: ``name=value`` of what the address held that was left out.
    ignored: list[str] = field(default_factory=list)
    #: The address's cursor could not be followed, so the search starts at page 1.
    restarted: bool = False

    def day(self, name: str) -> dt.date | None:
        value = self.dates.get(name)
        return dt.date.fromisoformat(value) if value else None


def parse_query(args: MultiDict[str, str], own: Collection[str] = ()) -> Query:
    """Read the address's parameters, leaving out (and listing) what cannot be
    searched: unknown parameters, values outside the vocabularies, a bad sort or
    page number. Labels (``数学``, ``Mathematics``) become codes. Parameters named
    in *own* belong to the page that shows the search and are passed over."""
    query = Query()
    query.text = _clean_text(args.get("q", ""))
    if len(args.get("q", "")) > MAX_TEXT:
        query.ignored.append(_("the text beyond %(num)d characters", num=MAX_TEXT))

    sort = args.get("sort", "relevance")
    if sort in SORTS:
        query.sort = sort
    else:
        query.ignored.append(f"sort={sort}")

    query.cursors = [c for c in args.getlist("cursor") if c][-MAX_TRAIL:]
    page = args.get("page", "1")
    if page.isdigit() and len(page) <= _MAX_PAGE_DIGITS and int(page) >= 1:
        # results() brings a number past the results back to the last page.
        query.page = int(page)
    else:
        query.ignored.append(f"page={page}")

    _parse_dates(query, args)
    for name in args:
        if name in ("q", "sort", "page", "cursor", *DATES) or name in own:
            continue
        if name not in FACET_FIELDS:
            query.ignored.append(name)
            continue
        for value in args.getlist(name):
            code = _filter_value(name, value.strip())
            if code is None:
                query.ignored.append(f"{name}={value}")
            elif code not in query.filters.get(name, []):
                query.filters.setdefault(name, []).append(code)
        if len(query.filters.get(name, [])) > search_service.MAX_FILTER_VALUES:
            del query.filters[name][search_service.MAX_FILTER_VALUES :]
    return query


def _parse_dates(query: Query, args: MultiDict[str, str]) -> None:
    """Read ``from`` and ``to`` into *query*: a day it cannot search keeps what was
    typed, with the reason to show next to its field."""
    for name in DATES:
        typed = " ".join(args.get(name, "").split())[:40]
        if not typed:
            continue
        day, problem = _parse_day(typed)
        if day is None:
            query.typed[name] = typed
            query.date_errors[name] = problem
        else:
            query.dates[name] = day.isoformat()
    start, end = query.day("from"), query.day("to")
    if start is not None and end is not None and start > end:
        query.typed["to"] = query.dates.pop("to")
        query.date_errors["to"] = _("The end comes before the start.")


def _parse_day(text: str) -> tuple[dt.date | None, str]:
    """The day *text* names, or None and why it names none."""
    match = _DAY.match(text)
    if match is None:
        return None, _("Write the day as year-month-day, such as 2024-09-01.")
    year, month, day = (int(part) for part in match.groups())
    if not 1900 <= year <= 2999:
        return None, _("Give a year between 1900 and 2999.")
    try:
        return dt.date(year, month, day), ""
    except ValueError:
        return None, _("There is no such day in the calendar.")


def _clean_text(text: str) -> str:
    # Control characters (a pasted NUL, a tab) become spaces; runs of space one.
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
    return " ".join(text[:MAX_TEXT].split())


def _filter_value(name: str, value: str) -> str | None:
    """The code *value* names for facet *name*, or None when it names nothing."""
    if not value or len(value) > 200:
        return None
    kind = FIELD_KINDS.get(name)
    if kind is not None:
        return runtime().vocab.resolve(kind, value)
    if name == "chapter":
        return value if value.isdigit() and len(value) < 10 else None
    if name == "mime_group":
        return value if value in display.MIME_GROUPS else None
    if name == "locality":
        return value if value in display.LOCALITIES else None
    return value if _ORG_CODE.match(value) else None


def search_url(
    filters: Mapping[str, list[str]] | None = None,
    *,
    text: str = "",
    sort: str = "relevance",
    page: int = 1,
    dates: Mapping[str, str] | None = None,
    cursors: list[str] | None = None,
    endpoint: str = "search_page.index",
    **kept: Any,
) -> str:
    """The address of a search on the search page (or on *endpoint*, a page that
    embeds the search, with its own parameters *kept*); defaults are left out.
    *dates* are ``from`` and ``to`` as ISO days; *cursors* lead to a page past the
    numbered ones."""
    params: dict[str, Any] = {
        name: list(values) for name, values in (filters or {}).items()
    }
    if text:
        params["q"] = text
    params.update(dates or {})
    if sort != "relevance":
        params["sort"] = sort
    if page > 1:
        params["page"] = page
    if cursors:
        params["cursor"] = list(cursors)
    return url_for(endpoint, **params, **kept)


@dataclass(frozen=True)
class Links:
    """Where a search's links lead: the search page by default, or a page that
    shows the same search under its own address (*endpoint*, with the parameters
    *kept* on every link, such as the LTI picker's launch and chosen resources)."""

    endpoint: str = "search_page.index"
    kept: Mapping[str, Any] = field(default_factory=dict)

    def url(self, query: Query, **changes: Any) -> str:
        """The address of *query* with *changes* (``text``, ``filters``, ``dates``,
        ``sort``, ``page``, ``cursors``) made; any change but the page goes back to
        page 1, and any change but the cursors to a numbered page."""
        changes.setdefault("page", 1)
        changes.setdefault("cursors", [])
        changed = replace(query, **changes)
        return search_url(
            changed.filters,
            text=changed.text,
            sort=changed.sort,
            page=changed.page,
            dates=changed.dates,
            cursors=changed.cursors,
            endpoint=self.endpoint,
            **self.kept,
        )

    def without(self, query: Query, name: str, value: str | None = None) -> str:
        """The address of *query* without filter *name* (or only its *value*)."""
        filters = {k: list(v) for k, v in query.filters.items()}
        kept = [v for v in filters.pop(name, []) if value is not None and v != value]
        if kept:
            filters[name] = kept
        return self.url(query, filters=filters)


SEARCH_PAGE = Links()


def query_url(query: Query, **changes: Any) -> str:
    """The search page's address of *query* with *changes* made (:meth:`Links.url`)."""
    return SEARCH_PAGE.url(query, **changes)


def without(query: Query, name: str, value: str | None = None) -> str:
    """The search page's address of *query* without filter *name* (or its *value*)."""
    return SEARCH_PAGE.without(query, name, value)


def results(
    principal: Principal,
    query: Query,
    links: Links = SEARCH_PAGE,
    *,
    per_page: int | None = None,
) -> dict[str, Any]:
    """Everything ``search/_parts.html`` shows of *query* as *principal* sees it:
    a page of hits (:data:`PER_PAGE`, or *per_page*), facet groups, chips, page
    numbers and, when nothing is found, what to leave out. *query*'s page number
    is brought back to the last page when it asks for one past the results."""
    per_page = PER_PAGE if per_page is None else per_page
    # Pages are numbered as deep as the engine's window reaches; cursors go on.
    deepest = search_service.MAX_PAGE_DEPTH // per_page
    result = None
    if query.cursors:
        result = _cursor_page(principal, query, per_page, deepest)
    if result is None:
        # An address can ask for a page past the results (an old link, a typed
        # number): show the last page rather than an empty one.
        query.page = min(query.page, deepest)
        result = _search_known(
            principal, query, facets=_counted(query), per_page=per_page
        )
        last = max(1, min(ceil(result["total"] / per_page), deepest))
        if query.page > last:
            query.page = last
            result = _search(
                principal, query, facets=_counted(query), per_page=per_page
            )
        pages = _page_numbers(query.page, last)
    else:
        last = query.page
        pages = _page_numbers(deepest, deepest, around=0) + [None, query.page]
        if query.page == deepest + 1:
            del pages[-2]

    searched = query.text or query.filters or query.dates
    found_nothing = result["total"] == 0 and bool(searched)
    return {
        "query": query,
        "result": result,
        "groups": _facet_groups(query, result["facets"]),
        "chips": _chips(query, links, result["facets"]),
        "pages": pages,
        "last": last,
        "pager": _cursor_links(query, result, links, deepest),
        "date_names": DATES,
        "relaxations": (
            _relaxations(principal, query, links) if found_nothing else []
        ),
        "facet_names": FACETS,
        "sort_names": SORT_NAMES,
        "query_url": links.url,
        "without": links.without,
        "first_values": FIRST_VALUES,
    }


@bp.get("/search")
def index() -> str:
    shown = results(current_principal(), parse_query(request.args))
    return render_template("search/page.html", **shown)


def _cursor_page(
    principal: Principal, query: Query, per_page: int, deepest: int
) -> dict[str, Any] | None:
    """The page past the numbered ones that *query*'s last cursor leads to; None,
    with the cursor named as left out, when it cannot be followed (made for another
    search, tampered with, or refused by the engine)."""
    try:
        result = _search_known(
            principal,
            query,
            facets=_counted(query),
            per_page=per_page,
            cursor=query.cursors[-1],
        )
    except BadRequest:
        query.restarted = True
        query.cursors = []
        query.page = 1
        return None
    # Each cursor is one page on from the last numbered page; an address whose
    # trail was cut short says its number itself.
    query.page = max(query.page, deepest + len(query.cursors))
    return result


def _cursor_links(
    query: Query, result: Mapping[str, Any], links: Links, deepest: int
) -> dict[str, str | None]:
    """Where "previous" and "next" lead when they cross or go past the last
    numbered page (None where the page numbers serve)."""
    following = result.get("next_cursor")
    trail = query.cursors
    shown: dict[str, str | None] = {"previous": None, "next": None}
    if following and (trail or query.page == deepest):
        shown["next"] = links.url(
            query, page=query.page + 1, cursors=[*trail, following][-MAX_TRAIL:]
        )
    if len(trail) > 1:
        shown["previous"] = links.url(query, page=query.page - 1, cursors=trail[:-1])
    elif trail and query.page - 1 == deepest:
        shown["previous"] = links.url(query, page=deepest)
    return shown


def _search_known(principal: Principal, query: Query, **options: Any) -> dict[str, Any]:
    """:func:`_search`, leaving out of *query* (and naming) each filter value the
    search refuses as naming nothing, such as a school code no school has.

    :raises BadRequest: for anything else the search refuses.
    """
    while True:
        try:
            return _search(principal, query, **options)
        except BadRequest as exc:
            name, value = exc.details.get("field"), exc.details.get("value")
            values = query.filters.get(name or "", [])
            if value not in values:
                raise
            values.remove(value)
            if not values:
                del query.filters[name]
            query.ignored.append(f"{name}={value}")


def _counted(query: Query) -> list[str]:
    return [name for name in FACETS if name != "chapter" or name in query.filters]


def _search(
    principal: Principal,
    query: Query,
    *,
    facets: list[str],
    per_page: int | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    """Run *query*: a page of :data:`PER_PAGE` hits (by number, or the one
    *cursor* leads to), or only the total and facets with *per_page* 0."""
    per_page = PER_PAGE if per_page is None else per_page
    return search_service.search(
        principal,
        text=query.text,
        # The service rewrites values in place: it gets copies.
        filters={name: list(values) for name, values in query.filters.items()},
        facets=facets,
        sort=query.sort,
        page=None if cursor else (query.page if per_page else 1),
        per_page=per_page,
        date_from=query.day("from"),
        date_to=query.day("to"),
        cursor=cursor,
    )


def _facet_groups(
    query: Query, facets: Mapping[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """The facet groups to show: each value with its label, count and whether it
    is ticked; ticked values come first, and stay on offer (counted 0) when
    nothing has them any more."""
    titles = _chapter_titles(query, facets)
    groups = []
    for name, heading in FACETS.items():
        chosen = query.filters.get(name, [])
        counted = {v["value"]: v for v in facets.get(name, [])}
        values = []
        for value in [*chosen, *(v for v in counted if v not in chosen)]:
            found = counted.get(value, {})
            fallback = titles.get(value) if name == "chapter" else found.get("label")
            values.append(
                {
                    "value": value,
                    "label": display.value_label(name, value, fallback),
                    "count": found.get("count", 0),
                    "selected": value in chosen,
                }
            )
        if values:
            groups.append(
                {
                    "name": name,
                    "heading": heading,
                    "options": values,
                    "chosen": len(chosen),
                }
            )
    return groups


def _chapter_titles(
    query: Query, facets: Mapping[str, list[dict[str, Any]]]
) -> dict[str, str]:
    ids = set(query.filters.get("chapter", []))
    ids |= {v["value"] for v in facets.get("chapter", [])}
    return search_service.chapter_titles(ids) if ids else {}


def _chips(
    query: Query, links: Links, facets: Mapping[str, list[dict[str, Any]]]
) -> list[dict[str, str]]:
    """The chosen filters and dates, each with the address that removes it.
    Organisations are named as the counted *facets* name them."""
    titles = _chapter_titles(query, {})
    named = {
        (name, v["value"]): v["label"]
        for name, counted in facets.items()
        if name in ORG_FACETS
        for v in counted
        if v.get("label")
    }
    chips = [
        {
            "facet": str(FACETS.get(name, name)),
            "label": display.value_label(
                name,
                value,
                titles.get(value) if name == "chapter" else named.get((name, value)),
            ),
            "remove": links.without(query, name, value),
        }
        for name, values in query.filters.items()
        for value in values
    ]
    for name, day in query.dates.items():
        rest = {other: v for other, v in query.dates.items() if other != name}
        chips.append(
            {
                "facet": str(DATES[name]),
                "label": day,
                "remove": links.url(query, dates=rest),
            }
        )
    return chips


def _page_numbers(current: int, last: int, around: int = 2) -> list[int | None]:
    """Page numbers to link: the first, the last and *around* each side of the
    current one; ``None`` marks a gap."""
    shown = {1, last, *range(current - around, current + around + 1)}
    numbers: list[int | None] = []
    for number in sorted(n for n in shown if 1 <= n <= last):
        if numbers and number - (numbers[-1] or 0) > 1:
            numbers.append(None)
        numbers.append(number)
    return numbers


def _relaxations(
    principal: Principal, query: Query, links: Links
) -> list[dict[str, Any]]:
    """What to leave out of a search that found nothing, with what each would find,
    best first: the words, or one filter at a time."""
    options: list[tuple[str, Query]] = []
    if query.text:
        options.append(
            (
                _("Search without the words “%(text)s”", text=query.text),
                replace(query, text=""),
            )
        )
    titles = _chapter_titles(query, {})
    for name, values in query.filters.items():
        labels = "、".join(display.value_label(name, v, titles.get(v)) for v in values)
        rest = {k: v for k, v in query.filters.items() if k != name}
        what = _("Leave out %(facet)s: %(values)s", facet=FACETS[name], values=labels)
        options.append((what, replace(query, filters=rest)))
    if query.dates:
        options.append((_("Search any date"), replace(query, dates={})))

    found = []
    for label, relaxed in options:
        relaxed.page = 1
        total = _search(principal, relaxed, facets=[], per_page=0)["total"]
        if total:
            found.append(
                {
                    "label": label,
                    "count": ngettext("%(num)d result", "%(num)d results", total),
                    "total": total,
                    "url": links.url(relaxed),
                }
            )
    return sorted(found, key=lambda option: -option["total"])
