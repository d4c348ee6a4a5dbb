"""Who may open a page, and what happens when a session has expired.

Views use :func:`login_required` (any signed-in user) or :func:`role_required`. An
anonymous visitor asking for such a page is sent to the login page and brought back
after signing in. When the request was a form sent after its session expired, what
they typed is kept (:mod:`repo_app.web.drafts`) and shown again in the form.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.wrappers import Response

from repo_app.auth import current_principal
from repo_app.errors import Forbidden, KejianError, error_response
from repo_app.models import Role
from repo_app.security import Principal
from repo_app.web import drafts
from repo_app.web.i18n import local_path

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger(__name__)

_NEXT_KEY = "next"


def page_principal() -> Principal:
    """The principal for rendering a page: anonymous instead of an error when the
    request's credentials are bad or the database is down (the error page that says
    so must still render)."""
    try:
        return current_principal()
    except KejianError:
        return Principal.anonymous()
    except SQLAlchemyError:
        log.warning("principal not loaded for the page: database error", exc_info=True)
        return Principal.anonymous()


def to_login() -> Response:
    """Send the visitor to the login page, keeping where they were and, for a form
    that was sent, what they typed."""
    if request.endpoint == "accounts.login":
        # The login form itself expired: show it again with the username kept.
        drafts.keep(request.path, request.form)
        flash(_("The page had expired. Please sign in again."), "info")
    elif request.method == "POST":
        drafts.keep(request.path, request.form)
        flash(
            _("Your session has expired. Sign in again; what you typed is kept."),
            "info",
        )
        session[_NEXT_KEY] = request.path
    else:
        flash(_("Please sign in to see this page."), "info")
        session[_NEXT_KEY] = request.full_path.rstrip("?")
    return redirect(url_for("accounts.login"), code=303)


def pop_next(default: str = "/") -> str:
    """Where to go after signing in (a local path kept by :func:`to_login`)."""
    return local_path(session.pop(_NEXT_KEY, None), default)


def login_required(view: F) -> F:
    """The decorated view needs a signed-in user (a session or a token)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if page_principal().is_anonymous:
            return to_login()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def role_required(*roles: Role) -> Callable[[F], F]:
    """The decorated view needs a signed-in user holding one of *roles* somewhere;
    the view (or its service) still checks the organisation acted on."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = page_principal()
            if principal.is_anonymous:
                return to_login()
            if not principal.system and not any(
                r in roles for _o, r in principal.roles
            ):
                raise Forbidden(
                    _("Your account does not have the role this page needs.")
                )
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _csrf_failed(exc: CSRFError) -> Any:
    # A page's form whose token no longer matches: its session expired (or was ended
    # by a password change) while the form was open. Keep what was typed and show
    # the page again, through the login page when the visitor is signed out.
    if request.path.startswith("/api/") or request.method != "POST":
        return error_response(400, "csrf_failed", exc.description)
    if request.endpoint == "accounts.logout":
        # Signing out of a session that has already ended: nothing to keep.
        session.clear()
        return redirect(url_for("pages.home"), code=303)
    if page_principal().is_anonymous:
        return to_login()
    drafts.keep(request.path, request.form)
    flash(_("The form had expired. Check what you typed and send it again."), "info")
    return redirect(request.full_path.rstrip("?"), code=303)


def init_access(app: Flask) -> None:
    app.register_error_handler(CSRFError, _csrf_failed)

    @app.context_processor
    def _principal() -> dict[str, Any]:
        return {"principal": page_principal}
