"""A user's own corner: notifications, uploads, favourites, recently viewed and
collections.

Lists hold only what the user may read now: a resource withdrawn or narrowed since it
was favourited, viewed or collected drops out of them (its row stays, and comes back
if the resource does). A collection is shared as a unit by its link (``/c/<slug>``)
with an audience like a resource's visibility; whoever opens it sees the items they
may read themselves, never more.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, select, update

from repo_app.errors import Forbidden, NotFound, ValidationError
from repo_app.extensions import db
from repo_app.models import (
    Collection,
    CollectionItem,
    Favourite,
    Notification,
    NotificationKind,
    RecentView,
    Resource,
    ReviewDecision,
    Visibility,
    utcnow,
)
from repo_app.security import Principal, audience_org
from repo_app.services import resources

#: Rows a list of the workspace shows.
LIST_LIMIT = 50
#: Recently viewed resources kept per user; older views are forgotten.
RECENT_KEPT = 30
#: Collections one user may have, and items in one collection.
MAX_COLLECTIONS = 200
MAX_ITEMS = 500


def _user_id(principal: Principal) -> int:
    if principal.user_id is None:
        raise Forbidden("Sign in to use your workspace.")
    return principal.user_id


# -- notifications -------------------------------------------------------------------


def notify_decision(resource: Resource, decision: ReviewDecision) -> None:
    """Tell the uploader of *resource* what the reviewer decided (no commit)."""
    if resource.uploader_id is None:
        return
    reviewer = decision.reviewer
    db.session.add(
        Notification(
            user_id=resource.uploader_id,
            kind=(
                NotificationKind.APPROVED
                if decision.approved
                else NotificationKind.REJECTED
            ),
            resource_id=resource.id,
            data={
                "title": resource.title,
                "visibility": decision.visibility.value,
                "note": decision.note,
                "by": (reviewer.display_name or reviewer.username) if reviewer else "",
            },
        )
    )


def notifications(principal: Principal, limit: int = LIST_LIMIT) -> list[Notification]:
    """*principal*'s notifications, unread first, newest first."""
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.user_id == _user_id(principal))
            .order_by(
                Notification.read_at.is_not(None),
                Notification.created_at.desc(),
                Notification.id.desc(),
            )
            .limit(limit)
        )
    )


def unread_count(principal: Principal) -> int:
    if principal.user_id is None:
        return 0
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(
                Notification.user_id == principal.user_id,
                Notification.read_at.is_(None),
            )
        )
        or 0
    )


def mark_all_read(principal: Principal) -> int:
    """Mark every unread notification of *principal* read; the caller commits."""
    result = db.session.execute(
        update(Notification)
        .where(
            Notification.user_id == _user_id(principal),
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# -- uploads, favourites, recently viewed ----------------------------------------------


def my_resources(principal: Principal, limit: int = LIST_LIMIT) -> list[Resource]:
    """What *principal* uploaded, last changed first, in every state."""
    return list(
        db.session.scalars(
            select(Resource)
            .where(Resource.uploader_id == _user_id(principal))
            .order_by(Resource.updated_at.desc(), Resource.id.desc())
            .limit(limit)
        )
    )


def last_decisions(resource_ids: Sequence[int]) -> dict[int, ReviewDecision]:
    """The latest review decision of each resource that has one."""
    if not resource_ids:
        return {}
    rows = db.session.scalars(
        select(ReviewDecision)
        .where(ReviewDecision.resource_id.in_(resource_ids))
        .order_by(ReviewDecision.created_at, ReviewDecision.id)
    )
    return {row.resource_id: row for row in rows}


def _readable(principal: Principal, query: Any) -> Any:
    return query.where(resources.visible_clause(principal))


def favourites(principal: Principal, limit: int = LIST_LIMIT) -> list[Resource]:
    """*principal*'s favourites they may still read, latest first."""
    query = (
        select(Resource)
        .join(Favourite, Favourite.resource_id == Resource.id)
        .where(Favourite.user_id == _user_id(principal))
        .order_by(Favourite.created_at.desc())
        .limit(limit)
    )
    return list(db.session.scalars(_readable(principal, query)))


def is_favourite(principal: Principal, resource_id: int) -> bool:
    if principal.user_id is None:
        return False
    return db.session.get(Favourite, (principal.user_id, resource_id)) is not None


def set_favourite(principal: Principal, resource_id: int, on: bool) -> None:
    """Add or remove a favourite; the caller commits.

    :raises NotFound: when *principal* may not read the resource.
    """
    user_id = _user_id(principal)
    resources.get(principal, resource_id)
    row = db.session.get(Favourite, (user_id, resource_id))
    if on and row is None:
        db.session.add(Favourite(user_id=user_id, resource_id=resource_id))
    elif not on and row is not None:
        db.session.delete(row)


def record_view(principal: Principal, resource_id: int) -> None:
    """Remember that *principal* opened a resource they may read; the caller commits.

    Anonymous visitors are not recorded. Only the latest :data:`RECENT_KEPT` views of
    a user are kept.
    """
    if principal.user_id is None:
        return
    row = db.session.get(RecentView, (principal.user_id, resource_id))
    if row is None:
        db.session.add(RecentView(user_id=principal.user_id, resource_id=resource_id))
    else:
        row.viewed_at = utcnow()
    db.session.flush()
    stale = (
        select(RecentView.resource_id)
        .where(RecentView.user_id == principal.user_id)
        .order_by(RecentView.viewed_at.desc())
        .offset(RECENT_KEPT)
    )
    db.session.execute(
        delete(RecentView).where(
            RecentView.user_id == principal.user_id,
            RecentView.resource_id.in_(stale.scalar_subquery()),
        ),
        execution_options={"synchronize_session": False},
    )


def recently_viewed(principal: Principal, limit: int = 10) -> list[Resource]:
    query = (
        select(Resource)
        .join(RecentView, RecentView.resource_id == Resource.id)
        .where(RecentView.user_id == _user_id(principal))
        .order_by(RecentView.viewed_at.desc())
        .limit(limit)
    )
    return list(db.session.scalars(_readable(principal, query)))


# -- collections ---------------------------------------------------------------------


def collections(principal: Principal) -> list[Collection]:
    """*principal*'s own collections, last changed first."""
    return list(
        db.session.scalars(
            select(Collection)
            .where(Collection.owner_id == _user_id(principal))
            .order_by(Collection.updated_at.desc(), Collection.id.desc())
        )
    )


def create_collection(
    principal: Principal,
    title: str,
    description: str = "",
    audience: Visibility = Visibility.OWNER,
) -> Collection:
    """A new collection of *principal*'s; the caller commits.

    Its audience counts from *principal*'s first organisation (their school).

    :raises ValidationError: for a blank title, or too many collections.
    """
    user_id = _user_id(principal)
    title = title.strip()
    if not title:
        raise ValidationError(
            "Give the collection a title.", details={"field": "title"}
        )
    count = db.session.scalar(
        select(func.count())
        .select_from(Collection)
        .where(Collection.owner_id == user_id)
    )
    if (count or 0) >= MAX_COLLECTIONS:
        raise ValidationError(
            f"You have {MAX_COLLECTIONS} collections already.",
            details={"field": "title"},
        )
    orgs = principal.member_orgs()
    collection = Collection(
        slug=secrets.token_urlsafe(12),
        owner_id=user_id,
        org=orgs[0] if orgs else None,
        title=title[:200],
        description=description.strip(),
        audience=audience,
    )
    db.session.add(collection)
    db.session.flush()
    return collection


def own_collection(principal: Principal, collection_id: int) -> Collection:
    """*principal*'s collection *collection_id*, to change.

    :raises NotFound: when it is not theirs.
    """
    collection = db.session.get(Collection, collection_id)
    if collection is None or collection.owner_id != _user_id(principal):
        raise NotFound(f"There is no collection {collection_id}.")
    return collection


def update_collection(
    principal: Principal,
    collection_id: int,
    title: str,
    description: str,
    audience: Visibility,
) -> Collection:
    collection = own_collection(principal, collection_id)
    if not title.strip():
        raise ValidationError(
            "Give the collection a title.", details={"field": "title"}
        )
    collection.title = title.strip()[:200]
    collection.description = description.strip()
    collection.audience = audience
    collection.updated_at = utcnow()
    return collection


def delete_collection(principal: Principal, collection_id: int) -> None:
    db.session.delete(own_collection(principal, collection_id))


def add_to_collection(
    principal: Principal, collection_id: int, resource_id: int
) -> Collection:
    """Put a resource *principal* may read at the end of their collection (once).

    :raises NotFound: for a collection not theirs or a resource they may not read.
    """
    collection = own_collection(principal, collection_id)
    resources.get(principal, resource_id)
    if any(item.resource_id == resource_id for item in collection.items):
        return collection
    if len(collection.items) >= MAX_ITEMS:
        raise ValidationError(
            f"A collection holds at most {MAX_ITEMS} resources.",
            details={"field": "resource"},
        )
    position = max((item.position for item in collection.items), default=0) + 1
    collection.items.append(CollectionItem(resource_id=resource_id, position=position))
    collection.updated_at = utcnow()
    return collection


def remove_from_collection(
    principal: Principal, collection_id: int, resource_id: int
) -> Collection:
    collection = own_collection(principal, collection_id)
    collection.items = [i for i in collection.items if i.resource_id != resource_id]
    collection.updated_at = utcnow()
    return collection


def can_open(principal: Principal, collection: Collection) -> bool:
    """Whether *principal* may open *collection* by its link."""
    if principal.system or collection.owner_id == principal.user_id:
        return True
    if collection.audience is Visibility.PUBLIC:
        return True
    if collection.audience is Visibility.OWNER or collection.org is None:
        return False
    audience = audience_org(collection.org, collection.audience)
    return audience is not None and f"org:{audience.id}" in principal.acl()


def open_collection(
    principal: Principal, slug: str
) -> tuple[Collection, list[Resource]]:
    """The collection behind a shared link and the items *principal* may read.

    :raises NotFound: when there is none, or *principal* is outside its audience.
    """
    collection = db.session.scalar(select(Collection).where(Collection.slug == slug))
    if collection is None or not can_open(principal, collection):
        raise NotFound("There is no such collection, or it is not shared with you.")
    ids = [item.resource_id for item in collection.items]
    readable = set()
    if ids:
        readable = set(
            db.session.scalars(
                _readable(principal, select(Resource.id).where(Resource.id.in_(ids)))
            )
        )
    items = [i.resource for i in collection.items if i.resource_id in readable]
    return collection, items


def as_of(moment: datetime) -> datetime:
    """*moment* with its zone (SQLite hands back UTC times without one)."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
