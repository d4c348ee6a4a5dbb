"""Searching the pool as a principal.

The query is validated here (sizes, facet names, sort), the principal's access tokens
are placed inside the engine query, and the engine's hits are joined with the database
for display.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from flask import current_app
from sqlalchemy import bindparam, select

from config.vocabularies import FIELD_KINDS
from indexer.engines.base import ACL_ALL, FACET_FIELDS, SORTS, SearchQuery
from repo_app.errors import BadRequest
from repo_app.extensions import db
from repo_app.models import Organisation, Resource
from repo_app.runtime import runtime
from repo_app.security import Principal

MAX_QUERY_CHARS = 1000
MAX_PAGE_DEPTH = 10_000
MAX_FILTER_VALUES = 50

#: Facets whose values are organisation codes, labelled with the organisation's name.
ORG_FACETS = {"owner_org", "school", "district"}


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


def _check_values(filters: dict[str, list[str]]) -> None:
    vocab = runtime().vocab
    for name, values in filters.items():
        kind = FIELD_KINDS.get(name)
        if kind is None:
            continue
        for i, value in enumerate(values):
            code = vocab.resolve(kind, value)
            if code is None:
                raise BadRequest(
                    f"Unknown {name} {value!r}; see GET /api/v1/vocabularies.",
                    details={"field": name, "value": value},
                )
            values[i] = code


def search(principal: Principal, *, text: str, filters: dict[str, list[str]],
           facets: Sequence[str] | None, sort: str, page: int, per_page: int) -> dict[str, Any]:
    if len(text) > MAX_QUERY_CHARS:
        raise BadRequest(f"The query is too long: at most {MAX_QUERY_CHARS} characters.")
    if sort not in SORTS:
        raise BadRequest(f"Unknown sort {sort!r}; use one of {', '.join(SORTS)}.")
    facet_names = list(FACET_FIELDS) if facets is None else list(facets)
    unknown = [f for f in facet_names if f not in FACET_FIELDS]
    if unknown:
        raise BadRequest(f"Unknown facet {unknown[0]!r}. Facets: {', '.join(FACET_FIELDS)}.")
    offset = (page - 1) * per_page
    if offset + per_page > MAX_PAGE_DEPTH:
        raise BadRequest(f"Pages reach at most {MAX_PAGE_DEPTH} results; narrow the search.")
    _check_values(filters)

    rt = runtime()
    query = SearchQuery(
        text=text.replace("\x00", " "),
        filters=filters,
        facets=facet_names,
        sort=sort,
        offset=offset,
        limit=per_page,
        acl=principal.acl() if not principal.system else [ACL_ALL],
    )
    result = rt.engine.search(query)

    ids = [int(h.id) for h in result.hits]
    rows = (
        {row.id: row for row in db.session.execute(_HIT_ROWS, {"ids": ids})}
        if ids
        else {}
    )
    hits = []
    for hit in result.hits:
        row = rows.get(int(hit.id))
        if row is None:  # deleted after the engine answered
            continue
        hits.append(
            {
                "id": row.id,
                "title": row.title,
                "score": hit.score,
                "highlights": hit.highlights,
                "subject": row.subject,
                "stage": row.stage,
                "resource_type": row.resource_type,
                "owner_org": {
                    "code": row.code,
                    "name": row.name,
                    "kind": row.kind.value,
                    "locality": row.locality.value if row.locality else None,
                },
                "updated_at": row.updated_at.isoformat(),
            }
        )
    return {
        "total": result.total,
        "page": page,
        "per_page": per_page,
        "hits": hits,
        "facets": _label_facets(result.facets),
    }


#: Only the columns a hit shows, without building ORM objects: at 20 hits a page this
#: is most of what the service adds to the engine's time. Built once, with the ids as
#: one expanding parameter, so its compiled form is cached.
_HIT_ROWS = (
    select(
        Resource.id,
        Resource.title,
        Resource.subject,
        Resource.stage,
        Resource.resource_type,
        Resource.updated_at,
        Organisation.code,
        Organisation.name,
        Organisation.kind,
        Organisation.locality,
    )
    .join(Organisation, Resource.owner_org_id == Organisation.id)
    .where(Resource.id.in_(bindparam("ids", expanding=True)))
)


class _OrgNames:
    """Organisation code -> name, kept for a short while per process.

    Facet labels need the names of up to a few hundred schools on every search;
    organisations change rarely, so a rename shows within :attr:`TTL` seconds.
    """

    TTL = 30.0

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._loaded = 0.0
        self._lock = threading.Lock()

    def get(self, codes: set[str]) -> dict[str, str]:
        now = time.monotonic()
        stale = now - self._loaded > self.TTL or not codes <= self._names.keys()
        if stale:
            rows = db.session.execute(select(Organisation.code, Organisation.name)).all()
            with self._lock:
                self._names = dict(rows)  # type: ignore[arg-type]
                self._loaded = now
        return self._names


def _label_facets(facets: dict[str, list[tuple[str, int]]]) -> dict[str, list[dict[str, Any]]]:
    vocab = runtime().vocab
    org_codes = {v for name in ORG_FACETS for v, _ in facets.get(name, [])}
    cache = current_app.extensions.setdefault("kejian.org_names", _OrgNames())
    names = cache.get(org_codes) if org_codes else {}
    labelled: dict[str, list[dict[str, Any]]] = {}
    for name, values in facets.items():
        kind = FIELD_KINDS.get(name)
        out = []
        for value, count in values:
            if name in ORG_FACETS:
                label = names.get(value, value)
            elif kind is not None:
                term = vocab.term(kind, value)
                label = term.zh if term else value
            else:
                label = value
            out.append({"value": value, "label": label, "count": count})
        labelled[name] = out
    return labelled
