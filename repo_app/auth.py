"""Who is asking: the principal of the current request.

A request is made by a bearer token (API clients) or by a browser session (the web
pages, through Flask-Login); both give the same :class:`~repo_app.security.Principal`
through :func:`current_principal`. A request with neither is anonymous.

Browsers send the session cookie with every request to our origin, whoever made the
page that sends it, so a session alone never authorises an API *write*: such a request
must also carry the page's CSRF token in ``X-CSRFToken`` (pages put it in
``<meta name="csrf-token">``). Web forms are checked by Flask-WTF in
:mod:`repo_app.web`.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from flask import current_app, g, request
from flask_login import current_user
from flask_wtf.csrf import validate_csrf
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload
from wtforms import ValidationError as CSRFInvalid

from repo_app.errors import Forbidden, Unauthorized
from repo_app.extensions import db, login_manager
from repo_app.models import ApiToken, User
from repo_app.security import Principal, token_digest, token_is_usable

#: Methods that change nothing; the only ones a bare session may use on the API.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class SessionUser:
    """The signed-in user of a browser session, as Flask-Login wants it.

    The session stores :meth:`get_id`: the user's id and a fingerprint of the password
    hash, so that changing the password (or an admin resetting it) ends every other
    session of that user at its next request.
    """

    is_authenticated = True
    is_anonymous = False

    def __init__(self, user: User) -> None:
        self.user = user

    @property
    def is_active(self) -> bool:
        return bool(self.user.is_active)

    def get_id(self) -> str:
        return f"{self.user.id}:{password_fingerprint(self.user)}"


def password_fingerprint(user: User) -> str:
    """A short keyed digest of the user's password hash (not the hash itself: the
    session cookie is signed, not encrypted)."""
    key = current_app.config["SECRET_KEY"].encode()
    digest = hmac.new(key, (user.password_hash or "").encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


@login_manager.user_loader
def _load_session_user(session_id: str) -> SessionUser | None:
    user_id, _, fingerprint = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active:
        return None
    if not hmac.compare_digest(fingerprint, password_fingerprint(user)):
        return None
    return SessionUser(user)


def load_principal() -> Principal:
    """The principal of this request: from its bearer token, else its session.

    :raises Unauthorized: for a malformed, unknown, revoked or expired token.
    :raises Forbidden: for an API write made by a session without its CSRF token.
    """
    header = request.headers.get("Authorization", "")
    if header:
        return _token_principal(header)
    return _session_principal()


def _token_principal(header: str) -> Principal:
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or len(secret) > 200:
        raise Unauthorized("Send the API token as 'Authorization: Bearer <token>'.")
    token = (
        db.session.scalars(_TOKEN_QUERY, {"digest": token_digest(secret)})
        .unique()
        .first()
    )
    now = datetime.now(UTC)
    if token is None or not token_is_usable(token, now):
        raise Unauthorized(
            "The API token is not valid: it is unknown, revoked or expired. "
            "Create a new one with 'kejian token create'."
        )
    return Principal.for_user(token.user)


#: The token, its user and the user's roles in one query, built once: this runs on
#: every request that carries a token.
_TOKEN_QUERY = (
    select(ApiToken)
    .options(joinedload(ApiToken.user).joinedload(User.memberships))
    .where(ApiToken.token_hash == bindparam("digest"))
)


def _session_principal() -> Principal:
    # Without a session cookie there is nobody to load: skip Flask-Login (and its
    # query) on the many anonymous API and page requests.
    if current_app.config["SESSION_COOKIE_NAME"] not in request.cookies:
        return Principal.anonymous()
    if not current_user.is_authenticated:
        return Principal.anonymous()
    if request.path.startswith("/api/") and request.method not in SAFE_METHODS:
        try:
            validate_csrf(request.headers.get("X-CSRFToken", ""))
        except CSRFInvalid:
            raise Forbidden(
                "A browser session writes to the API only with the page's CSRF token "
                "in the X-CSRFToken header; other clients send a bearer token."
            ) from None
    return Principal.for_user(current_user.user)


def current_principal() -> Principal:
    """The principal of this request, loaded once and kept on ``g``."""
    principal = g.get("principal")
    if principal is None:
        principal = g.principal = load_principal()
    return principal  # type: ignore[no-any-return]


def require_user() -> Principal:
    principal = current_principal()
    if principal.is_anonymous:
        raise Unauthorized("Sign in: this needs an API token.")
    return principal


def require_admin_somewhere() -> Principal:
    principal = require_user()
    if not any(role.value == "admin" for _, role in principal.roles):
        raise Forbidden("This needs the admin role.")
    return principal
