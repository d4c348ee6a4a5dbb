"""Resources: create, read, change, publish, review, withdraw and delete.

Every function takes the :class:`~repo_app.security.Principal` asking. A resource the
principal may not read is reported as not found, so that its existence does not leak.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, and_, false, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from repo_app.errors import Conflict, Forbidden, NotFound, ValidationError
from repo_app.extensions import db
from repo_app.models import (
    ChapterNode,
    Organisation,
    Resource,
    ReviewDecision,
    Role,
    Status,
    Visibility,
)
from repo_app.security import (
    Principal,
    audience_org,
    can_edit,
    can_publish_to,
    can_read,
)
from repo_app.services import indexing, workspace

log = logging.getLogger("kejian.resources")

METADATA_FIELDS = (
    "title",
    "description",
    "keywords",
    "language",
    "stage",
    "grade",
    "subject",
    "edition",
    "volume",
    "resource_type",
    "licence",
)


def visible_clause(principal: Principal) -> ColumnElement[bool]:
    """A SQL condition true for the resources *principal* may read.

    It states the same rule as :func:`repo_app.security.resource_acl`, for listing
    straight from the database.
    """
    if principal.system:
        return true()
    tokens = set(principal.acl())
    orgs = list(db.session.scalars(select(Organisation)))

    def below(prefix: str) -> list[int]:
        return [o.id for o in orgs if any(f"{prefix}:{a.id}" in tokens for a in o.ancestors())]

    conditions: list[ColumnElement[bool]] = [
        and_(Resource.status == Status.PUBLISHED, Resource.visibility == Visibility.PUBLIC)
    ]
    if principal.user_id is not None:
        conditions.append(Resource.uploader_id == principal.user_id)
    admin_orgs = below("admin")
    if admin_orgs:
        conditions.append(Resource.owner_org_id.in_(admin_orgs))
    review_orgs = below("review")
    if review_orgs:
        conditions.append(
            and_(Resource.status == Status.PENDING, Resource.owner_org_id.in_(review_orgs))
        )
    for vis in (Visibility.SCHOOL, Visibility.DISTRICT, Visibility.CITY):
        owners = [
            o.id
            for o in orgs
            if (aud := audience_org(o, vis)) is not None and f"org:{aud.id}" in tokens
        ]
        if owners:
            conditions.append(
                and_(
                    Resource.status == Status.PUBLISHED,
                    Resource.visibility == vis,
                    Resource.owner_org_id.in_(owners),
                )
            )
    return or_(*conditions) if conditions else false()


def get(principal: Principal, resource_id: int) -> Resource:
    resource = db.session.get(Resource, resource_id)
    if resource is None or not can_read(principal, resource):
        raise NotFound(f"There is no resource {resource_id}, or you may not see it.")
    return resource


def get_for_edit(principal: Principal, resource_id: int) -> Resource:
    resource = get(principal, resource_id)
    if not can_edit(principal, resource):
        raise Forbidden("Only the uploader or an administrator of the owner may change this resource.")
    return resource


def list_query(principal: Principal, *, owner_org: str | None = None,
               status: str | None = None, mine: bool = False) -> Select[tuple[Resource]]:
    query = select(Resource).where(visible_clause(principal))
    if owner_org:
        org_id = db.session.scalar(select(Organisation.id).where(Organisation.code == owner_org))
        if org_id is None:
            # As search does: a code that names nothing is a mistake, not an empty list.
            raise ValidationError(
                f"Unknown organisation {owner_org!r}.", details={"field": "owner_org"}
            )
        query = query.where(Resource.owner_org_id == org_id)
    if status:
        query = query.where(Resource.status == Status(status))
    if mine and principal.user_id is not None:
        query = query.where(Resource.uploader_id == principal.user_id)
    return query.order_by(Resource.updated_at.desc(), Resource.id.desc())


def owner_for(principal: Principal, code: str | None) -> Organisation:
    """The organisation a new resource of *principal* belongs to: *code*, or their
    only upload organisation.

    :raises Forbidden: when they may not upload there (or anywhere).
    :raises ValidationError: for an unknown code, or none given by someone who
        uploads for several organisations.
    """
    if code:
        org = db.session.scalar(select(Organisation).where(Organisation.code == code))
        if org is None:
            raise ValidationError(f"Unknown organisation {code!r}.", details={"field": "owner_org"})
        if not principal.has_role(org, Role.UPLOADER, Role.ADMIN):
            raise Forbidden(
                f"You may not upload for {org.name} ({org.code}): you need the uploader "
                "or admin role there.",
                details={"field": "owner_org"},
            )
        return org
    candidates = principal.member_orgs(Role.UPLOADER, Role.ADMIN)
    if not candidates:
        raise Forbidden("You need the uploader role in an organisation to add resources.")
    if len(candidates) > 1:
        raise ValidationError(
            "You upload for several organisations: say which one in owner_org.",
            details={"field": "owner_org", "choices": sorted(o.code for o in candidates)},
        )
    return candidates[0]


def _chapters(ids: list[int]) -> list[ChapterNode]:
    if not ids:
        return []
    nodes = list(db.session.scalars(select(ChapterNode).where(ChapterNode.id.in_(ids))))
    missing = sorted(set(ids) - {n.id for n in nodes})
    if missing:
        raise ValidationError(
            f"Unknown chapter ids: {', '.join(map(str, missing))}.",
            details={"field": "chapters", "unknown": missing},
        )
    return nodes


def create(principal: Principal, data: dict[str, Any]) -> Resource:
    owner = owner_for(principal, data.get("owner_org"))
    resource = Resource(owner_org=owner, uploader=principal.user, status=Status.DRAFT,
                        visibility=Visibility.OWNER)
    for name in METADATA_FIELDS:
        if name in data:
            setattr(resource, name, data[name])
    resource.keywords = list(data.get("keywords") or [])
    resource.chapters = _chapters(data.get("chapters") or [])
    db.session.add(resource)
    db.session.flush()
    indexing.mark(resource.id)
    return resource


def update(principal: Principal, resource_id: int, data: dict[str, Any]) -> Resource:
    resource = get_for_edit(principal, resource_id)
    for name in METADATA_FIELDS:
        if name in data:
            setattr(resource, name, data[name])
    if "chapters" in data:
        resource.chapters = _chapters(data["chapters"] or [])
    resource.updated_at = datetime.now(UTC)
    indexing.mark(resource.id)
    return resource


def publish(principal: Principal, resource_id: int, visibility: Visibility) -> Resource:
    """Publish at *visibility*, or ask for a review when it reaches beyond the
    principal's own right to publish."""
    resource = get_for_edit(principal, resource_id)
    if not resource.files:
        raise Conflict("Add at least one file before publishing.")
    now = datetime.now(UTC)
    if can_publish_to(principal, resource.owner_org, visibility):
        resource.status = Status.PUBLISHED
        resource.visibility = visibility
        resource.requested_visibility = None
        resource.published_at = resource.published_at or now
    else:
        resource.status = Status.PENDING
        resource.requested_visibility = visibility
    resource.updated_at = now
    indexing.mark(resource.id)
    return resource


def review_queue(principal: Principal) -> list[Resource]:
    """The resources waiting for a decision *principal* may take, oldest request
    first: pending ones whose wider visibility reaches an organisation they review."""
    pending = db.session.scalars(
        select(Resource)
        .where(Resource.status == Status.PENDING, visible_clause(principal))
        .order_by(Resource.updated_at, Resource.id)
    )
    return [
        r
        for r in pending
        if r.requested_visibility is not None
        and can_publish_to(principal, r.owner_org, r.requested_visibility)
    ]


def review(principal: Principal, resource_id: int, approve: bool, note: str = "") -> Resource:
    """Approve or reject the wider visibility *resource_id* asks for; keep the
    decision with its reason and notify the uploader. The caller commits.

    :raises Conflict: when the resource is not waiting for a review.
    :raises Forbidden: unless *principal* reviews for the organisation the
        visibility reaches.
    :raises ValidationError: for a rejection without a reason.
    """
    resource = get(principal, resource_id)
    if resource.status is not Status.PENDING or resource.requested_visibility is None:
        raise Conflict("This resource is not waiting for a review.")
    wanted = resource.requested_visibility
    if not can_publish_to(principal, resource.owner_org, wanted):
        raise Forbidden("A reviewer of the organisation this visibility reaches must decide.")
    if not approve and not note.strip():
        raise ValidationError("Say why the resource is rejected.", details={"field": "note"})
    now = datetime.now(UTC)
    if approve:
        resource.status = Status.PUBLISHED
        resource.visibility = wanted
        resource.published_at = resource.published_at or now
    else:
        resource.status = Status.DRAFT
    resource.requested_visibility = None
    resource.review_note = note.strip() or None
    resource.updated_at = now
    decision = ReviewDecision(
        resource_id=resource.id,
        reviewer=principal.user,
        approved=approve,
        visibility=wanted,
        note=note.strip(),
    )
    db.session.add(decision)
    # The uploader learns of it in their workspace.
    workspace.notify_decision(resource, decision)
    indexing.mark(resource.id)
    return resource


def withdraw(principal: Principal, resource_id: int) -> Resource:
    resource = get_for_edit(principal, resource_id)
    resource.status = Status.WITHDRAWN
    resource.updated_at = datetime.now(UTC)
    indexing.mark(resource.id)
    return resource


def delete(principal: Principal, resource_id: int) -> None:
    resource = get_for_edit(principal, resource_id)
    # Stored bytes stay: other resources may share them (content addressing), and a
    # collector removes objects no version refers to.
    db.session.delete(resource)
    indexing.mark(resource_id)
