"""The ``/lti`` endpoints: login, launch, key set, picker, deep-linking return,
resource view and its files.

Views are thin: the library subclasses in :mod:`lti.tool` validate, :mod:`lti.services`
records, templates in ``lti/templates/lti`` render pages that fit an LMS iframe.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale
from pylti1p3.contrib.flask import FlaskRequest
from pylti1p3.deep_link import DeepLink
from pylti1p3.exception import LtiException, OIDCException
from sqlalchemy import select
from werkzeug.exceptions import RequestEntityTooLarge

from lti import services
from lti.errors import (
    LtiForbidden,
    LtiProblem,
    LtiTooLarge,
    StateMissing,
    from_library,
    problem_response,
)
from lti.keys import active_key, published_keys
from lti.models import Launch, Registration
from lti.roles import CourseRole, course_role
from lti.settings import LtiSettings
from lti.tool import (
    COOKIE_NAME,
    DbToolConf,
    ServerSideStorage,
    ToolCookies,
    ToolLaunch,
    ToolLogin,
    ToolRegistration,
    ToolSessions,
    check_active,
    purge_expired,
    session_hash,
    state_params_anywhere,
)
from repo_app.errors import BadRequest
from repo_app.extensions import db
from repo_app.models import Resource, VersionFile
from repo_app.security import Principal
from repo_app.web import display
from repo_app.web import preview as preview_kinds
from repo_app.web import search as search_page

log = logging.getLogger("kejian.lti")

bp = Blueprint("lti", __name__, url_prefix="/lti", template_folder="templates")
bp.context_processor(display.template_helpers)

RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"
#: Results per picker page: enough to choose from inside a course editor's frame.
PICKER_PAGE = 10
#: Resources one Deep Linking response may carry.
MAX_CHOSEN = 50


def lti_settings() -> LtiSettings:
    return current_app.extensions["kejian.lti"]  # type: ignore[no-any-return]


def launch_urls() -> list[str]:
    """The registered launch URLs: one for every message type (we route on the type)."""
    return [url_for("lti.launch", _external=True)]


@bp.before_request
def before_lti_request() -> None:
    """Limits and framing for every ``/lti`` request.

    A blueprint hook runs after the app's, so after the site's per-request reset of
    ``g`` (:mod:`repo_app.web`); nothing before it reads the form, and the blueprint
    is exempt from the site's CSRF check (:func:`lti.init_lti`).
    """
    # An id_token is a few kilobytes; refuse big bodies before parsing them.
    limit = lti_settings().max_form_bytes
    request.max_content_length = limit
    request.max_form_memory_size = limit
    # These pages live inside LMS iframes (repo_app.web.headers reads this).
    g.frame_ancestors = lti_settings().frame_ancestors


def after_lti_request(response: Response) -> Response:
    """Headers of ``/lti`` responses, set after the site's own page headers."""
    if request.blueprint != bp.name:
        return response
    ancestors = f"frame-ancestors {lti_settings().frame_ancestors}"
    csp = response.headers.get("Content-Security-Policy", "")
    if "frame-ancestors" not in csp:
        response.headers["Content-Security-Policy"] = (
            f"{csp}; {ancestors}" if csp else ancestors
        )
    form_action = g.get("lti_form_action")
    if form_action and "form-action 'self'" in csp:
        # The deep-linking response is a form posted to the platform.
        response.headers["Content-Security-Policy"] = csp.replace(
            "form-action 'self'", f"form-action 'self' {form_action}"
        )
    response.headers.pop("X-Frame-Options", None)
    response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.errorhandler(LtiProblem)
def _problem(problem: LtiProblem):  # type: ignore[no-untyped-def]
    db.session.rollback()
    # A refusal on a page of a launch (its token in the address) is in its language.
    token = (request.view_args or {}).get("token")
    locale = (
        db.session.scalar(select(Launch.locale).where(Launch.token == token[:64]))
        if isinstance(token, str)
        else None
    )
    with force_locale(locale) if locale else nullcontext():
        return problem_response(problem)


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge):  # type: ignore[no-untyped-def]
    db.session.rollback()
    return problem_response(
        LtiTooLarge(
            "The form is larger than an LTI message can be "
            f"({lti_settings().max_form_bytes} "
            "bytes).",
            hint="Check the platform sends only the id_token and state.",
        )
    )


def _tool_parts() -> tuple[
    FlaskRequest, DbToolConf, ServerSideStorage, ToolCookies, ToolSessions
]:
    params = request.form if request.method == "POST" else request.args
    lib_request = FlaskRequest(
        request_data=params.to_dict(), request_is_secure=request.is_secure
    )
    storage = ServerSideStorage()
    cookies = ToolCookies(lib_request)
    sessions = ToolSessions(lib_request, storage)
    conf = DbToolConf(active_key(current_app.config["SECRET_KEY"]))
    return lib_request, conf, storage, cookies, sessions


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response:
    """OIDC login initiation: answered by a plain top-level 302 to the platform.

    A GET redirect (not an auto-submitted form) keeps working when the platform's own
    session cookie is ``SameSite=Lax`` (Moodle).
    """
    lib_request, conf, storage, cookies, sessions = _tool_parts()
    purge_expired()
    oidc = ToolLogin(
        lib_request,
        conf,
        sessions=sessions,
        cookies=cookies,
        storage=storage,
        launch_urls=launch_urls(),
    )
    oidc.set_launch_data_lifetime(600)
    try:
        response = oidc.redirect(launch_urls()[0])
    except (OIDCException, LtiException) as exc:
        raise from_library(exc) from None
    db.session.commit()
    return response  # type: ignore[no-any-return]


@bp.route("/launch", methods=["POST"])
def launch() -> Response:
    """Every LTI message arrives here and is routed on its ``message_type``."""
    cookie = request.cookies.get(COOKIE_NAME)
    if not cookie:
        raise _state_missing()
    lib_request, conf, storage, cookies, sessions = _tool_parts()
    message = ToolLaunch(
        lib_request,
        conf,
        sessions=sessions,
        cookies=cookies,
        storage=storage,
        settings=lti_settings(),
        launch_urls=launch_urls(),
    )
    message.validate()
    claims = message.claims
    row = message.registration().row
    message_type = claims.get(services.CLAIM + "message_type")
    role = course_role(claims.get(services.CLAIM + "roles") or [])
    deployment = services.deployment_row(row, claims)
    user = services.record_user(row, claims)
    db.session.flush()

    if message_type == DEEP_LINKING:
        if role is not CourseRole.INSTRUCTOR:
            raise LtiForbidden(
                "Only instructors can add Kejian resources to a course.",
                hint="The platform sent no instructor, teaching assistant or content "
                "developer role for this course.",
                registration=row.label,
            )
        record = services.record_launch(
            row, deployment, user, claims, role, session_hash(cookie)
        )
        target = url_for("lti.picker", token=record.token)
    elif message_type == RESOURCE_LINK:
        placement = services.place_for_launch(row, deployment, claims, role, user)
        db.session.flush()
        assert row.org is not None
        services.readable(services.org_principal(row.org), placement.resource_id, row)
        record = services.record_launch(
            row, deployment, user, claims, role, session_hash(cookie), placement
        )
        target = url_for("lti.view", token=record.token)
    else:
        raise LtiProblem(
            f"Kejian does not handle {message_type} messages.",
            hint="Send resource-link or deep-linking launches only.",
            registration=row.label,
        )
    db.session.commit()
    log.info(
        "LTI launch: registration=%s type=%s role=%s resource=%s",
        row.label,
        message_type,
        role.value,
        record.resource_id,
    )
    # A redirect, so that reloading the page never posts the id_token again.
    return redirect(target, code=303)


def _state_missing() -> StateMissing:
    """The launch came without the tool's cookie (third-party cookies blocked)."""
    state = request.form.get("state", "")[:200]
    login = (state_params_anywhere(state) or {}).get("login") if state else None
    continue_url = None
    if isinstance(login, dict) and login.get("iss"):
        continue_url = url_for(
            "lti.login", **login, lti1p3_new_window="1", _external=True
        )
    return StateMissing(
        "Your browser did not send Kejian's cookie back inside the course page, so the "
        "launch cannot be checked.",
        hint="Continue in a new window, or allow cookies for this site. Behind a TLS "
        "proxy, set KEJIAN_LTI_TRUSTED_PROXIES so that the cookie is made Secure; "
        "SameSite=None.",
        continue_url=continue_url,
    )


@bp.get("/register")
def dynamic_registration() -> str:
    """LTI Dynamic Registration: the URL an administrator pastes into the platform."""
    from lti.dynamic import register_dynamically

    row = register_dynamically(
        request.args.get("openid_configuration", "")[:2000],
        request.args.get("registration_token") or None,
    )
    db.session.commit()
    return render_template("lti/registered.html", registration=row)


@bp.get("/jwks")
def jwks() -> Response:
    """The tool's public keys: exactly ``{"keys": [...]}``."""
    active_key(current_app.config["SECRET_KEY"])  # made on first use
    response = jsonify({"keys": published_keys()})
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@contextmanager
def in_launch_language(launch: Launch) -> Iterator[None]:
    """Pages of *launch* in the language its platform asked for (the launch's
    ``launch_presentation`` locale), else in the browser's (``Accept-Language``)."""
    if launch.locale is None:
        yield
        return
    with force_locale(launch.locale):
        yield


def _cookie_hash() -> str | None:
    cookie = request.cookies.get(COOKIE_NAME)
    return session_hash(cookie) if cookie else None


def _deep_link_launch(token: str) -> Launch:
    launch = services.launch_for(token, _cookie_hash())
    if launch.message_type != DEEP_LINKING or launch.deep_linking is None:
        raise LtiForbidden("This launch is not a Deep Linking request.")
    if launch.responded_at is not None:
        raise LtiForbidden(
            "The resources of this launch were sent to the course already.",
            hint="Open Kejian again from the course editor to add more.",
        )
    check_active(launch.registration)
    return launch


@bp.get("/picker/<token>")
def picker(token: str) -> str:
    """Search and choose resources: the web search page's search, facets, sort and
    pages, as the registration's organisation sees them, in one server-rendered form.

    The form's searches and pages are GET submits that carry the resources chosen so
    far (``resource``), so a choice survives a new search or another page; the
    button that adds them to the course posts the same form to
    :func:`deep_link_return`. ``preview=<id>`` shows that resource above the results,
    ``preview=<id>/<file id>`` one of its files.
    """
    launch = _deep_link_launch(token)
    with in_launch_language(launch):
        return _picker_page(launch, token)


def _picker_page(launch: Launch, token: str) -> str:
    reg = launch.registration
    assert reg.org is not None
    principal = services.org_principal(reg.org)
    settings = launch.deep_linking or {}
    multiple = settings.get("accept_multiple") in (True, "true", None)
    chosen_ids = _carried_ids(request.args.getlist("resource"))
    if not multiple:
        chosen_ids = chosen_ids[-1:]
    asked, asked_file = request.args.get("preview", "").partition("/")[::2]
    query = search_page.parse_query(request.args, own=("resource", "preview"))
    kept = {"token": token, "resource": chosen_ids}
    links = search_page.Links("lti.picker", kept)
    try:
        shown = search_page.results(principal, query, links, per_page=PICKER_PAGE)
    except BadRequest as exc:
        raise LtiProblem(exc.message) from None
    result = shown["result"]
    # Files and links need no launch, so only public resources become them.
    public_only = "ltiResourceLink" not in (settings.get("accept_types") or [])
    on_page = [hit["id"] for hit in result["hits"]]
    chosen = services.readable_among(principal, chosen_ids)
    return render_template(
        "lti/picker.html",
        **shown,
        token=token,
        multiple=multiple,
        public_only=public_only,
        public=services.public_ids(on_page + [r.id for r in chosen]),
        chosen=chosen,
        chosen_ids={r.id for r in chosen},
        on_page=set(on_page),
        preview=_picker_preview(token, principal, reg, asked, asked_file),
        pdfjs=preview_kinds.pdfjs_assets(),
        # A title shows its resource above the same results.
        hit_url=lambda rid: search_page.Links(
            "lti.picker", {**kept, "preview": rid}
        ).url(query, page=query.page),
        title=settings.get("title") or "",
        org=reg.org,
    )


def _carried_ids(values: list[str]) -> list[int]:
    """Resource ids a picker form carried, in order, without repeats or junk."""
    ids = [int(v) for v in values if v.isdigit() and len(v) < 10]
    return list(dict.fromkeys(ids))[:MAX_CHOSEN]


def _picker_preview(
    token: str, principal: Principal, reg: Registration, asked: str, asked_file: str
) -> dict[str, Any] | None:
    """The resource the picker previews (id *asked*), and the preview of its file
    *asked_file*, else of its first showable file.

    :raises LtiNotFound: for a resource the registration's organisation may not see.
    """
    ids = _carried_ids([asked])
    if not ids:
        return None
    resource = services.readable(principal, ids[0], reg)
    files = resource.files
    vf = preview_kinds.shown_file(files, asked_file)

    def url(f: VersionFile, *, inline: bool = False) -> str:
        params = {"inline": "1"} if inline else {}
        return url_for(
            "lti.picker_file",
            token=token,
            resource_id=resource.id,
            file_id=f.id,
            **params,
        )

    return {
        "resource": resource,
        "files": files,
        "shown": preview_kinds.preview_of(vf, files, url=url) if vf else None,
    }


@bp.get("/picker/<token>/suggest")
def picker_suggest(token: str) -> tuple[Response, int] | Response:
    """Titles the registration's organisation may see that complete ``q``, for the
    picker's search box: the API's suggestions, as that organisation, not as the
    anonymous visitor the API would take the teacher's browser for."""
    from repo_app.services import search as search_service

    launch = _deep_link_launch(token)
    reg = launch.registration
    assert reg.org is not None
    try:
        limit = int(request.args.get("limit", "10"))
        titles = search_service.suggest(
            services.org_principal(reg.org), request.args.get("q", ""), limit
        )
    except ValueError:
        return _json_error("limit must be a whole number.")
    except BadRequest as exc:
        return _json_error(exc.message)
    return jsonify(suggestions=titles)


def _json_error(message: str) -> tuple[Response, int]:
    return jsonify(error={"code": "bad_request", "message": message}), 400


@bp.route(
    "/picker/<token>/files/<int:resource_id>/<int:file_id>", methods=["GET", "HEAD"]
)
def picker_file(token: str, resource_id: int, file_id: int) -> Response:
    """A file of a resource the picker previews, if the organisation may see it."""
    launch = _deep_link_launch(token)
    reg = launch.registration
    assert reg.org is not None
    principal = services.org_principal(reg.org)
    services.readable(principal, resource_id, reg)
    return _file_response(principal, resource_id, file_id)


class ToolDeepLink(DeepLink):
    """The library's response builder, without a ``data`` claim the request lacked."""

    def get_message_jwt(self, resources):  # type: ignore[no-untyped-def]
        message = super().get_message_jwt(resources)
        if message.get("https://purl.imsglobal.org/spec/lti-dl/claim/data") is None:
            message.pop("https://purl.imsglobal.org/spec/lti-dl/claim/data", None)
        return message


@bp.post("/picker/<token>")
def deep_link_return(token: str) -> str:
    """Sign the chosen items and post them back to the platform (once per launch)."""
    launch = _deep_link_launch(token)
    reg = launch.registration
    assert reg.org is not None
    raw_ids = request.form.getlist("resource")
    if not raw_ids:
        raise LtiProblem("Choose at least one resource.")
    if len(raw_ids) > MAX_CHOSEN:
        raise LtiProblem(f"Choose at most {MAX_CHOSEN} resources at a time.")
    try:
        ids = list(dict.fromkeys(int(v) for v in raw_ids))
    except ValueError:
        raise LtiProblem("The chosen resources are not resource ids.") from None
    principal = services.org_principal(reg.org)
    # Checked again here: the form may be replayed or edited after the page was shown.
    chosen = [services.readable(principal, rid, reg) for rid in ids]
    settings = launch.deep_linking or {}
    return_url = settings.get("deep_link_return_url")
    if not isinstance(return_url, str) or not return_url.startswith(
        ("https://", "http://")
    ):
        raise LtiProblem(
            "The Deep Linking request named no return URL.", registration=reg.label
        )

    items = services.build_items(
        chosen, settings, launch_urls()[0], _public_file_url, _public_page_url
    )
    registration = ToolRegistration(reg, active_key(current_app.config["SECRET_KEY"]))
    deep_link = ToolDeepLink(registration, launch.deployment.deployment_id, settings)  # type: ignore[arg-type]
    token_jwt = deep_link.get_response_jwt(items)
    services.offer(reg, launch, chosen, launch.user_pk)
    launch.responded_at = datetime.now(UTC)
    db.session.commit()
    log.info("LTI deep-linking response: registration=%s items=%s", reg.label, ids)
    parts = urlsplit(return_url)
    g.lti_form_action = f"{parts.scheme}://{parts.netloc}"
    with in_launch_language(launch):
        return render_template("lti/autopost.html", action=return_url, jwt=token_jwt)


def _public_file_url(resource: Resource, vf: Any) -> str:
    return url_for(
        "files.content", resource_id=resource.id, file_id=vf.id, _external=True
    )


def _public_page_url(resource: Resource) -> str:
    return url_for("resource_page.show", resource_id=resource.id, _external=True)


def _resource_launch(token: str) -> tuple[Launch, Principal]:
    """The resource launch of *token* and the principal that reads for it.

    :raises LtiForbidden: for a launch that is not this browser's, or opened nothing.
    """
    launch = services.launch_for(token, _cookie_hash())
    reg = launch.registration
    check_active(reg)
    if launch.resource_id is None or reg.org is None:
        raise LtiForbidden("This launch opened no resource.")
    return launch, services.org_principal(reg.org)


@bp.get("/view/<token>")
def view(token: str) -> str:
    """The launched resource: each file previewed as on the resource page (PDF pages
    drawn by pdf.js, video and audio, images, text, packages' outlines), its bytes
    served through the launch, with a download button."""
    launch, principal = _resource_launch(token)
    assert launch.resource_id is not None
    resource = services.readable(principal, launch.resource_id, launch.registration)
    files = resource.files

    def url(vf: VersionFile, *, inline: bool = False) -> str:
        params = {"inline": "1"} if inline else {}
        return url_for("lti.file_content", token=token, file_id=vf.id, **params)

    with in_launch_language(launch):
        previews = [preview_kinds.preview_of(vf, files, url=url) for vf in files]
        # Subtitles play with their video rather than as text of their own.
        tracks = {src for p in previews for src, _, _ in p.subtitles}
        return render_template(
            "lti/resource.html",
            resource=resource,
            previews=[p for p in previews if url(p.file, inline=True) not in tracks],
            pdfjs=preview_kinds.pdfjs_assets(),
        )


@bp.route("/view/<token>/files/<int:file_id>", methods=["GET", "HEAD"])
def file_content(token: str, file_id: int) -> Response:
    """A file of the launched resource, through the API's download (Range, ETag)."""
    launch, principal = _resource_launch(token)
    assert launch.resource_id is not None
    return _file_response(principal, launch.resource_id, file_id)


def _file_response(principal: Principal, resource_id: int, file_id: int) -> Response:
    """A file of *resource_id* as *principal* reads it, through the API's download
    (Range, ETag)."""
    from repo_app.api import files as files_api

    # The API's endpoint reads the request's principal: the organisation's. Only the
    # given resource's files are reachable, whatever file id is asked for.
    g.principal = principal
    response = files_api.content(resource_id, file_id)
    if response.headers.get("Content-Type") == "application/pdf":
        # Browsers do not show a PDF in a sandboxed document; a PDF runs no script
        # with our origin, and it is framed by our own page only.
        response.headers["Content-Security-Policy"] = "default-src 'none'"
    return response
