"""``GET /api/v1/search``: full text, facets, filters, sort and pages."""

from __future__ import annotations

from flask import Response, jsonify, request
from flask_smorest import Blueprint

from indexer.engines.base import FACET_FIELDS
from repo_app.api.schemas import SearchResultSchema
from repo_app.auth import current_principal
from repo_app.errors import BadRequest
from repo_app.services import search as search_service

blp = Blueprint("search", __name__, description="Search the pool")

_CONTROL = {"q", "sort", "page", "per_page", "facets"}


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {raw[:40]!r}.") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}.")
    return value


@blp.route("/search", methods=["GET"])
# The result is built as plain JSON by the service: dumping hundreds of facet values
# through nested schemas cost more than the engine's own query. The schema documents it.
@blp.alt_response(200, schema=SearchResultSchema, success=True, description="Results")
@blp.doc(
    parameters=[
        {"name": "q", "in": "query", "schema": {"type": "string"}, "description": "words, Chinese or English"},
        {"name": "sort", "in": "query", "schema": {"type": "string", "enum": ["relevance", "newest", "popular"]}},
        {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
        {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
        {"name": "facets", "in": "query", "schema": {"type": "string"}, "description": "comma-separated facet names to count; empty for none"},
    ]
    + [
        {"name": f, "in": "query", "schema": {"type": "array", "items": {"type": "string"}}, "explode": True, "description": "filter"}
        for f in FACET_FIELDS
    ]
)
def search() -> Response:
    """Search the resources the caller may see."""
    args = request.args
    filter_args = {k: args.getlist(k) for k in args if k not in _CONTROL}
    facets_arg = args.get("facets")
    facets = None if facets_arg is None else [f for f in facets_arg.split(",") if f]
    result = search_service.search(
        current_principal(),
        text=args.get("q", ""),
        filters=search_service.parse_filters(filter_args),
        facets=facets,
        sort=args.get("sort", "relevance") or "relevance",
        page=_int_arg("page", 1, 1, 10_000),
        per_page=_int_arg("per_page", 20, 1, 100),
    )
    return jsonify(result)
