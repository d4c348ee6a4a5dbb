"""``GET /api/v1/search`` (full text, facets, filters, dates, sort and pages) and
``GET /api/v1/suggest`` (titles for a search box as the user types)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify, request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError

from indexer.engines.base import FACET_FIELDS
from repo_app.api.schemas import (
    SearchArgsSchema,
    SearchResultSchema,
    SuggestArgsSchema,
    SuggestResultSchema,
)
from repo_app.auth import current_principal
from repo_app.errors import BadRequest
from repo_app.services import search as search_service

blp = Blueprint("search", __name__, description="Search the pool")

_SEARCH_ARGS = SearchArgsSchema()
_SUGGEST_ARGS = SuggestArgsSchema()
#: Parameters of ``/search`` that are not filters.
_CONTROL = {field.data_key or name for name, field in _SEARCH_ARGS.fields.items()}


def _query_args(schema: Schema) -> dict[str, Any]:
    """Load the query string through *schema*; a bad value is a 400 naming it."""
    try:
        return schema.load(request.args.to_dict())  # type: ignore[no-any-return]
    except ValidationError as exc:
        errors = exc.normalized_messages()
        name = min(errors)
        problem = errors[name]
        text = problem[0] if isinstance(problem, list) else str(problem)
        raise BadRequest(
            f"Invalid {name}: {text}", details={"parameter": name, "fields": errors}
        ) from None


@blp.route("/search", methods=["GET"])
# The result is built as plain JSON by the service: dumping hundreds of facet values
# through nested schemas cost more than the engine's own query. The schema documents it.
@blp.alt_response(200, schema=SearchResultSchema, success=True, description="Results")
@blp.doc(
    parameters=[{"in": "query", "schema": SearchArgsSchema}]
    + [
        {
            "name": name,
            "in": "query",
            "schema": {"type": "array", "items": {"type": "string"}},
            "explode": True,
            "description": "filter: any of these values (a code or its label); "
            "values of different fields must all match",
        }
        for name in FACET_FIELDS
    ]
)
def search() -> Response:
    """Search the resources the caller may see.

    Facet counts are multi-select: the field of a filter is counted without that
    filter, so the other values of it stay on offer.
    """
    args = _query_args(_SEARCH_ARGS)
    filter_args = {
        name: request.args.getlist(name) for name in request.args if name not in _CONTROL
    }
    facets = args.get("facets")
    result = search_service.search(
        current_principal(),
        text=args["q"],
        filters=search_service.parse_filters(filter_args),
        facets=None if facets is None else [f for f in facets.split(",") if f],
        sort=args["sort"],
        page=args.get("page"),
        per_page=args["per_page"],
        date_from=args.get("date_from"),
        date_to=args.get("date_to"),
        cursor=args.get("cursor"),
    )
    return jsonify(result)


@blp.route("/suggest", methods=["GET"])
@blp.alt_response(
    200, schema=SuggestResultSchema, success=True, description="Suggestions"
)
@blp.doc(parameters=[{"in": "query", "schema": SuggestArgsSchema}])
def suggest() -> Response:
    """Titles the caller may see that complete what they typed."""
    args = _query_args(_SUGGEST_ARGS)
    titles = search_service.suggest(current_principal(), args["q"], args["limit"])
    return jsonify(suggestions=titles)
