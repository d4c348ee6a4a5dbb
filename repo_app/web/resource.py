"""The resource page: metadata, files, versions, a preview, download, and for staff a
stable link to use in a course. Signed-in visitors can favourite the resource or put
it in one of their collections, and it joins their recently viewed resources.

``/resources/<id>`` shows a resource to whoever may read it; to anyone else it is
"page not found", the same page as for an id that does not exist, so that the page
never tells that a resource exists. Public, published resources describe themselves
to search engines as a schema.org ``LearningResource`` (JSON-LD).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request, url_for

from repo_app.auth import current_principal
from repo_app.extensions import db
from repo_app.models import OrgKind, Resource, Status, Visibility
from repo_app.runtime import runtime
from repo_app.security import Principal
from repo_app.services import resources, workspace
from repo_app.web import display, preview
from repo_app.web.https import external_url
from repo_app.web.search import search_url

bp = Blueprint("resource_page", __name__, url_prefix="/resources")
bp.context_processor(display.template_helpers)

@bp.get("/<int:resource_id>")
def show(resource_id: int) -> str:
    principal = current_principal()
    resource = resources.get(principal, resource_id)
    files = resource.files
    shown = preview.shown_file(files, request.args.get("file", ""))
    signed_in = principal.user_id is not None
    if signed_in:
        workspace.record_view(principal, resource.id)
        db.session.commit()
    return render_template(
        "resources/show.html",
        resource=resource,
        files=files,
        versions=list(reversed(resource.versions)),
        preview=preview.preview_of(shown, files) if shown else None,
        pdfjs=preview.pdfjs_assets(),
        has_preview=preview.has_preview,
        content_url=preview.content_url,
        school=resource.owner_org.nearest(OrgKind.SCHOOL),
        district=resource.owner_org.nearest(OrgKind.DISTRICT),
        licence=_licence(resource.licence),
        stable_url=external_url("resource_page.show", resource_id=resource.id),
        for_courses=_teaches(principal),
        signed_in=signed_in,
        favourite=workspace.is_favourite(principal, resource.id),
        collections=workspace.collections(principal) if signed_in else [],
        json_ld=_linked_data(resource) if _is_public(resource) else None,
        search_url=search_url,
    )


def _teaches(principal: Principal) -> bool:
    """Staff (teachers, and everyone with a role) get the link to use in a course."""
    return principal.system or bool(principal.roles)


def _is_public(resource: Resource) -> bool:
    return (
        resource.status is Status.PUBLISHED and resource.visibility is Visibility.PUBLIC
    )


def _licence(code: str | None) -> dict[str, str] | None:
    term = runtime().vocab.term("licences", code) if code else None
    if term is None:
        return {"label": code, "url": ""} if code else None
    return {
        "label": display.term_label("licence", code),
        "url": term.extra.get("url", ""),
    }


def _linked_data(resource: Resource) -> dict[str, Any]:
    """The resource as a schema.org ``LearningResource``, for search engines.

    Only for public resources: it states nothing a visitor cannot read on the page.
    """
    page = external_url("resource_page.show", resource_id=resource.id)
    owner = resource.owner_org
    school = owner.nearest(OrgKind.SCHOOL) or owner
    data: dict[str, Any] = {
        "@context": "https://schema.org",
        "@type": "LearningResource",
        "@id": page,
        "url": page,
        "name": resource.title,
        "isAccessibleForFree": True,
        "dateCreated": resource.created_at.isoformat(),
        "dateModified": resource.updated_at.isoformat(),
        "sourceOrganization": {"@type": "EducationalOrganization", "name": school.name},
    }
    if resource.published_at:
        data["datePublished"] = resource.published_at.isoformat()
    if resource.description:
        data["description"] = resource.description
    if resource.keywords:
        data["keywords"] = ", ".join(resource.keywords)
    if resource.language:
        data["inLanguage"] = resource.language
    if resource.resource_type:
        data["learningResourceType"] = display.term_label(
            "resource_type", resource.resource_type
        )
    level = display.term_label("grade", resource.grade) or display.term_label(
        "stage", resource.stage
    )
    if level:
        data["educationalLevel"] = level
    if resource.subject:
        data["about"] = {
            "@type": "Thing",
            "name": display.term_label("subject", resource.subject),
        }
    licence = _licence(resource.licence)
    if licence:
        data["license"] = licence["url"] or licence["label"]
    if resource.current_version:
        data["version"] = resource.current_version.number
    data["encoding"] = [
        {
            "@type": "MediaObject",
            "name": vf.name,
            "encodingFormat": vf.blob.mime,
            "contentSize": str(vf.blob.size),
            "contentUrl": external_url(
                "files.content", resource_id=resource.id, file_id=vf.id
            ),
        }
        for vf in resource.files
    ]
    return data
