"""Words the upload, review and workspace pages share: states, visibilities,
notifications, and the address of a resource's page."""

from __future__ import annotations

from typing import Any

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from repo_app.models import Notification, NotificationKind, Status, Visibility

STATUS_LABELS = {
    Status.DRAFT: _l("Draft"),
    Status.PENDING: _l("Waiting for review"),
    Status.PUBLISHED: _l("Published"),
    Status.WITHDRAWN: _l("Withdrawn"),
}
VISIBILITY_LABELS = {
    Visibility.OWNER: _l("Only me and my school's administrators"),
    Visibility.SCHOOL: _l("My school"),
    Visibility.DISTRICT: _l("My district or county"),
    Visibility.CITY: _l("The whole city"),
    Visibility.PUBLIC: _l("Everyone, without signing in"),
}
#: Short forms for tables and badges.
VISIBILITY_SHORT = {
    Visibility.OWNER: _l("Private"),
    Visibility.SCHOOL: _l("School"),
    Visibility.DISTRICT: _l("District"),
    Visibility.CITY: _l("City"),
    Visibility.PUBLIC: _l("Public"),
}

def resource_url(resource_id: int) -> str:
    """The address of a resource's page."""
    return url_for("resource_page.show", resource_id=resource_id)


def preview_url(resource: Any) -> str | None:
    """The first file of *resource* shown in the browser (types that are safe inline),
    else downloaded; None without files."""
    files = resource.files
    if not files:
        return None
    return f"/api/v1/resources/{resource.id}/files/{files[0].id}/content?inline=1"


def notification_text(note: Notification) -> str:
    """The notification worded in the reader's language."""
    data = note.data or {}
    visibility = VISIBILITY_SHORT.get(Visibility(data.get("visibility", "owner")), "")
    if note.kind is NotificationKind.APPROVED:
        return _(
            "%(by)s approved “%(title)s” for %(visibility)s.",
            by=data.get("by", ""),
            title=data.get("title", ""),
            visibility=visibility,
        )
    return _(
        "%(by)s did not approve “%(title)s” for %(visibility)s: %(note)s",
        by=data.get("by", ""),
        title=data.get("title", ""),
        visibility=visibility,
        note=data.get("note", ""),
    )


def template_globals() -> dict[str, Any]:
    return {
        "status_labels": STATUS_LABELS,
        "visibility_short": VISIBILITY_SHORT,
        "resource_url": resource_url,
        "preview_url": preview_url,
        "notification_text": notification_text,
    }
