"""Who is asking: the principal of the current request, from its bearer token."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import g, request
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from repo_app.errors import Forbidden, Unauthorized
from repo_app.extensions import db
from repo_app.models import ApiToken, User
from repo_app.security import Principal, token_digest, token_is_usable


def load_principal() -> Principal:
    """Read ``Authorization: Bearer …``; anonymous when absent.

    :raises Unauthorized: for a malformed, unknown, revoked or expired token.
    """
    header = request.headers.get("Authorization", "")
    if not header:
        return Principal.anonymous()
    scheme, _, secret = header.partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret or len(secret) > 200:
        raise Unauthorized("Send the API token as 'Authorization: Bearer <token>'.")
    # The token, its user and the user's roles in one query: this runs on every
    # request that carries a token.
    token = (
        db.session.scalars(
            select(ApiToken)
            .options(joinedload(ApiToken.user).joinedload(User.memberships))
            .where(ApiToken.token_hash == token_digest(secret))
        )
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


def current_principal() -> Principal:
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
