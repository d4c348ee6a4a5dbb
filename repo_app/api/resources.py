"""Resource endpoints: create, read, list, change, publish, review, withdraw, delete."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import RAISE
from sqlalchemy import func, select

from repo_app.api.schemas import (
    JsonBodyParser,
    PublishSchema,
    ResourceInSchema,
    ResourceListArgs,
    ResourceOutSchema,
    ResourcePageSchema,
    ResourcePatchSchema,
    ReviewSchema,
)
from repo_app.auth import current_principal, require_user
from repo_app.extensions import db
from repo_app.models import Visibility
from repo_app.services import indexing, resources

blp = Blueprint("resources", __name__, description="Courseware resources")
blp.ARGUMENTS_PARSER = JsonBodyParser()


def _commit() -> None:
    db.session.commit()
    indexing.after_commit()


@blp.route("/resources")
class ResourceCollection(MethodView):
    @blp.arguments(ResourceListArgs, location="query", unknown=RAISE)
    @blp.response(200, ResourcePageSchema)
    def get(self, args: dict[str, Any]) -> dict[str, Any]:
        """List the resources the caller may see, newest change first."""
        query = resources.list_query(
            current_principal(),
            owner_org=args.get("owner_org"),
            status=args.get("status"),
            mine=args["mine"],
        )
        total = db.session.scalar(select(func.count()).select_from(query.subquery()))
        page, per_page = args["page"], args["per_page"]
        items = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
        return {"total": total, "page": page, "per_page": per_page, "items": items}

    @blp.arguments(ResourceInSchema)
    @blp.response(201, ResourceOutSchema)
    def post(self, data: dict[str, Any]):  # type: ignore[no-untyped-def]
        """Create a draft resource owned by one of the caller's organisations."""
        resource = resources.create(require_user(), data)
        _commit()
        return resource


@blp.route("/resources/<int:resource_id>")
class ResourceItem(MethodView):
    @blp.response(200, ResourceOutSchema)
    def get(self, resource_id: int):  # type: ignore[no-untyped-def]
        return resources.get(current_principal(), resource_id)

    @blp.arguments(ResourcePatchSchema)
    @blp.response(200, ResourceOutSchema)
    def patch(self, data: dict[str, Any], resource_id: int):  # type: ignore[no-untyped-def]
        resource = resources.update(require_user(), resource_id, data)
        _commit()
        return resource

    @blp.response(204)
    def delete(self, resource_id: int) -> None:
        resources.delete(require_user(), resource_id)
        _commit()


@blp.route("/resources/<int:resource_id>/publish", methods=["POST"])
@blp.arguments(PublishSchema)
@blp.response(200, ResourceOutSchema)
def publish(data: dict[str, Any], resource_id: int):  # type: ignore[no-untyped-def]
    """Publish at a visibility, or ask for a review when it reaches wider than the
    caller may publish alone (the answer's ``status`` is then ``pending``)."""
    resource = resources.publish(require_user(), resource_id, Visibility(data["visibility"]))
    _commit()
    return resource


@blp.route("/resources/<int:resource_id>/review", methods=["POST"])
@blp.arguments(ReviewSchema)
@blp.response(200, ResourceOutSchema)
def review(data: dict[str, Any], resource_id: int):  # type: ignore[no-untyped-def]
    resource = resources.review(
        require_user(), resource_id, data["decision"] == "approve", data["note"]
    )
    _commit()
    return resource


@blp.route("/resources/<int:resource_id>/withdraw", methods=["POST"])
@blp.response(200, ResourceOutSchema)
def withdraw(resource_id: int):  # type: ignore[no-untyped-def]
    resource = resources.withdraw(require_user(), resource_id)
    _commit()
    return resource
