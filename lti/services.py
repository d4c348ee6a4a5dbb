"""What a validated launch does in Kejian: users, placements, launch records, items.

A registration's users see what its organisation may see: every read goes through
:func:`org_principal`, the same rule (:func:`~repo_app.security.can_read`,
:func:`~repo_app.services.resources.visible_clause`) as the API.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from pylti1p3.deep_link_resource import DeepLinkResource
from sqlalchemy import select

from lti.errors import LtiForbidden, LtiNotFound, LtiProblem
from lti.models import Deployment, Launch, Placement, PlatformUser, Registration
from lti.roles import CourseRole
from repo_app.errors import NotFound
from repo_app.extensions import db
from repo_app.models import Organisation, Resource, Role, Visibility
from repo_app.security import Principal
from repo_app.services import resources

log = logging.getLogger("kejian.lti")

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
#: How long the pages of one launch (picker, resource view, its files) keep working.
LAUNCH_HOURS = 8


def org_principal(org: Organisation) -> Principal:
    """Who a registration's users are when Kejian checks access: a teacher of *org*."""
    return Principal(
        roles=[(org, Role.TEACHER)], above=Organisation.load_ancestors([org])
    )


def record_user(reg: Registration, claims: dict[str, Any]) -> PlatformUser:
    """The platform user of *claims*, scoped to *reg*: ``sub`` identifies them, never
    their e-mail, which another platform's user may share."""
    sub = str(claims.get("sub", ""))[:255]
    user = db.session.scalar(
        select(PlatformUser).where(
            PlatformUser.registration_id == reg.id, PlatformUser.sub == sub
        )
    )
    if user is None:
        user = PlatformUser(registration_id=reg.id, sub=sub)
        db.session.add(user)
    user.name = str(claims.get("name") or user.name or "")[:200]
    user.last_seen_at = datetime.now(UTC)
    return user


def deployment_row(reg: Registration, claims: dict[str, Any]) -> Deployment:
    deployment_id = str(claims.get(CLAIM + "deployment_id"))
    found = next((d for d in reg.deployments if d.deployment_id == deployment_id), None)
    assert found is not None, "validated by the tool configuration"
    return found


def custom_resource_id(claims: dict[str, Any]) -> int | None:
    """The Kejian resource id in the custom claim; numbers and strings alike.

    :raises LtiProblem: for a value that is not a whole number.
    """
    custom = claims.get(CLAIM + "custom")
    if not isinstance(custom, dict):
        return None
    raw = custom.get("resource_id")
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raw = None
    try:
        value = int(str(raw).strip())
    except ValueError:
        value = 0
    if raw is None or value <= 0:
        raise LtiProblem(
            f"The custom parameter resource_id {str(raw)[:40]!r} is not a resource id.",
            hint="Let Kejian's picker (Deep Linking) make the link, or set "
            "resource_id=<number> in the link's custom parameters.",
        )
    return value


def context_of(claims: dict[str, Any]) -> tuple[str | None, str]:
    """(id, title) of the course; both may be missing (Open edX deep linking)."""
    context = claims.get(CLAIM + "context")
    if not isinstance(context, dict):
        return None, ""
    cid = context.get("id")
    return (
        str(cid)[:255] if cid not in (None, "") else None,
        str(context.get("title") or context.get("label") or "")[:300],
    )


def readable(principal: Principal, resource_id: int, reg: Registration) -> Resource:
    """The resource, if the registration's organisation may see it.

    :raises LtiNotFound: otherwise (also for ids that do not exist, so that nothing
        leaks about resources the organisation may not see).
    """
    try:
        return resources.get(principal, resource_id)
    except NotFound:
        raise LtiNotFound(
            f"Resource {resource_id} does not exist, or "
            f"{reg.org.name if reg.org else ''} "
            "may not see it.",
            hint="The resource may have been withdrawn or narrowed; pick another one.",
            registration=reg.label,
        ) from None


def readable_among(principal: Principal, resource_ids: list[int]) -> list[Resource]:
    """Those of *resource_ids* that *principal* may see, in their order; the others
    are left out without a word (a picker's carried choices, re-checked on posting)."""
    if not resource_ids:
        return []
    rows = db.session.scalars(
        select(Resource).where(
            Resource.id.in_(resource_ids), resources.visible_clause(principal)
        )
    )
    by_id = {row.id: row for row in rows}
    return [by_id[rid] for rid in resource_ids if rid in by_id]


def place_for_launch(
    reg: Registration,
    deployment: Deployment,
    claims: dict[str, Any],
    role: CourseRole,
    user: PlatformUser,
) -> Placement:
    """The placement a resource-link launch opens, made at the link's first launch.

    A link placed before keeps its resource whatever its custom claim now says.
    Otherwise the resource comes from the custom claim; a learner may open it only if
    an instructor of this registration placed that resource (Deep Linking offers).

    :raises LtiProblem, LtiForbidden, LtiNotFound:
    """
    link = claims.get(CLAIM + "resource_link") or {}
    link_id = str(link.get("id"))[:255]
    placement = db.session.scalar(
        select(Placement).where(
            Placement.registration_id == reg.id,
            Placement.deployment_pk == deployment.id,
            Placement.resource_link_id == link_id,
        )
    )
    if placement is not None:
        return placement

    resource_id = custom_resource_id(claims)
    if resource_id is None:
        raise LtiNotFound(
            "This link does not say which Kejian resource it shows (no custom "
            "resource_id) and was not placed through Kejian before.",
            hint="Add the resource again with Kejian's picker (Deep Linking), which "
            "sets "
            "the custom parameter resource_id.",
            registration=reg.label,
        )
    context_id, context_title = context_of(claims)
    offered = db.session.scalars(
        select(Placement)
        .where(
            Placement.registration_id == reg.id, Placement.resource_id == resource_id
        )
        .order_by(Placement.resource_link_id.is_not(None), Placement.id)
    ).first()
    if role is CourseRole.LEARNER and offered is None:
        raise LtiForbidden(
            "This resource was not placed in a course through Kejian, so learners "
            "cannot "
            "open it.",
            hint="An instructor adds it with Kejian's picker (Deep Linking).",
            registration=reg.label,
            details={"resource_id": resource_id},
        )
    if offered is not None and offered.resource_link_id is None:
        # The item the picker returned: the platform has now given it a link id.
        placement = offered
    else:
        placement = Placement(
            registration_id=reg.id, resource_id=resource_id, placed_by_id=user.id
        )
        db.session.add(placement)
    placement.deployment_pk = deployment.id
    placement.resource_link_id = link_id
    placement.context_id = context_id
    placement.context_title = context_title
    return placement


def record_launch(
    reg: Registration,
    deployment: Deployment,
    user: PlatformUser,
    claims: dict[str, Any],
    role: CourseRole,
    cookie_hash: str,
    placement: Placement | None = None,
) -> Launch:
    context_id, _ = context_of(claims)
    link = claims.get(CLAIM + "resource_link")
    now = datetime.now(UTC)
    settings = claims.get(DL_CLAIM)
    launch = Launch(
        token=secrets.token_urlsafe(32),
        registration_id=reg.id,
        deployment_pk=deployment.id,
        user_pk=user.id,
        message_type=str(claims.get(CLAIM + "message_type")),
        role=role.value,
        context_id=context_id,
        resource_link_id=str(link.get("id"))[:255] if isinstance(link, dict) else None,
        resource_id=placement.resource_id if placement else None,
        placement_id=placement.id if placement else None,
        session_hash=cookie_hash,
        locale=page_locale(claims),
        deep_linking=settings if isinstance(settings, dict) else None,
        created_at=now,
        expires_at=now + timedelta(hours=LAUNCH_HOURS),
    )
    db.session.add(launch)
    return launch


def page_locale(claims: dict[str, Any]) -> str | None:
    """The page language the launch asks for (``launch_presentation``'s ``locale``,
    a BCP 47 tag such as ``en-US`` or ``zh-Hans-CN``): ``en``, ``zh_CN``, or None
    for a language Kejian's pages are not written in."""
    presentation = claims.get(CLAIM + "launch_presentation")
    tag = presentation.get("locale") if isinstance(presentation, dict) else None
    if not isinstance(tag, str):
        return None
    language = tag.replace("_", "-").split("-")[0].lower()
    return {"en": "en", "zh": "zh_CN"}.get(language)


def launch_for(token: str, cookie_hash: str | None) -> Launch:
    """The launch whose pages the browser asks for, if it is that browser's and alive.

    :raises LtiForbidden: for an unknown, expired or other browser's launch.
    """
    launch = db.session.scalar(select(Launch).where(Launch.token == token[:64]))
    expires = launch.expires_at if launch is not None else None
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    if (
        launch is None
        or expires is None
        or expires <= datetime.now(UTC)
        or not cookie_hash
        or not secrets.compare_digest(launch.session_hash, cookie_hash)
    ):
        raise LtiForbidden(
            "This page belongs to a launch that is unknown, expired or opened in "
            "another "
            "browser.",
            hint="Open the link again from the course.",
        )
    return launch


class ContentItem(DeepLinkResource):
    """A Deep Linking item with what the library's omits: ``text``, ``thumbnail``, and
    a link's ``window``; only a resource link keeps ``custom`` values."""

    def __init__(self) -> None:
        self._text: str | None = None
        self._thumbnail: str | None = None
        self._window: dict[str, str] | None = None

    def set_text(self, text: str) -> ContentItem:
        self._text = text
        return self

    def set_thumbnail(self, url: str) -> ContentItem:
        self._thumbnail = url
        return self

    def set_window(self, target_name: str) -> ContentItem:
        self._window = {"targetName": target_name}
        return self

    def to_dict(self) -> dict[str, object]:
        data = super().to_dict()
        if self._text:
            data["text"] = self._text
        if self._thumbnail:
            data["thumbnail"] = {"url": self._thumbnail}
        if self._window:
            data["window"] = self._window
        if self._type != "ltiResourceLink":
            # Only resource links are launched; custom values mean nothing to a
            # plain link or file.
            data.pop("custom", None)
        return data


def accepted_media(settings: dict[str, Any]) -> list[str]:
    """The ``accept_media_types`` of a Deep Linking request: ``image/*,text/plain``."""
    raw = settings.get("accept_media_types")
    if not isinstance(raw, str):
        return []
    return [t.strip().lower() for t in raw.split(",") if t.strip()]


def media_fits(mime: str, accepted: list[str]) -> bool:
    """Whether *mime* is one of *accepted* (``type/*`` included); all fit none given."""
    if not accepted:
        return True
    major = mime.partition("/")[0]
    return any(a in (mime.lower(), f"{major}/*", "*/*") for a in accepted)


def public_ids(resource_ids: list[int]) -> set[int]:
    """Those of *resource_ids* that are public."""
    if not resource_ids:
        return set()
    found = db.session.scalars(
        select(Resource.id).where(
            Resource.id.in_(resource_ids), Resource.visibility == Visibility.PUBLIC
        )
    )
    return set(found)


def build_items(
    chosen: list[Resource],
    settings: dict[str, Any],
    launch_url: str,
    public_file_url: Any,
    public_page_url: Any,
) -> list[ContentItem]:
    """One item per chosen resource, of a type the platform accepts.

    A resource link launches through Kejian, so it works for any resource the
    organisation may see, and is what Kejian sends when the platform accepts it.
    Otherwise a public resource becomes a ``file`` item (its first file of a media
    type the platform accepts, fetched by the platform) or a ``link`` item (its
    public page, opened in a window of its own, as Kejian's pages are not framed).
    Neither needs a launch, so neither is offered for a resource that is not public.

    :param public_file_url: ``(resource, file) -> url`` for a public file.
    :param public_page_url: ``resource -> url`` of its public page.
    :raises LtiProblem: when a resource fits no accepted type, or too many are chosen.
    """
    accept = [t for t in settings.get("accept_types") or [] if isinstance(t, str)]
    media = accepted_media(settings)
    multiple = settings.get("accept_multiple") in (True, "true", None)
    if len(chosen) > 1 and not multiple:
        raise LtiProblem("The course accepts one item only; choose one resource.")
    items: list[ContentItem] = []
    for resource in chosen:
        public = resource.visibility is Visibility.PUBLIC
        item = ContentItem().set_title(resource.title[:255] or f"资源 {resource.id}")
        if resource.description:
            item.set_text(resource.description[:1000])
        image = next((f for f in resource.files if f.blob.kind == "image"), None)
        if public and image is not None:
            item.set_thumbnail(public_file_url(resource, image))
        fitting = next(
            (f for f in resource.files if media_fits(f.blob.mime, media)), None
        )
        if "ltiResourceLink" in accept:
            item.set_type("ltiResourceLink").set_url(launch_url)
            item.set_custom_params({"resource_id": str(resource.id)})
        elif "file" in accept and public and fitting is not None:
            item.set_type("file").set_url(public_file_url(resource, fitting))
        elif "link" in accept and public:
            item.set_type("link").set_url(public_page_url(resource))
            item.set_window("_blank")
        else:
            raise LtiProblem(
                f"《{resource.title}》 cannot be added: the course accepts "
                f"{', '.join(accept) or 'nothing'}"
                + (f" ({', '.join(media)})" if media and "file" in accept else "")
                + ", and files or links are offered for public resources only.",
                hint="Choose a public resource, or ask the platform's administrator "
                "to let the course accept LTI resource links.",
            )
        items.append(item)
    return items


def offer(
    reg: Registration, launch: Launch, chosen: list[Resource], user_pk: int | None
) -> None:
    """Remember the resources an instructor placed, so that learners may open them."""
    for resource in chosen:
        db.session.add(
            Placement(
                registration_id=reg.id,
                deployment_pk=launch.deployment_pk,
                context_id=launch.context_id,
                resource_id=resource.id,
                placed_by_id=user_pk,
            )
        )
