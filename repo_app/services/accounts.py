"""Organisations, users, roles and API tokens."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from config.vocabularies import ChapterNode as VocabChapter
from repo_app.errors import Conflict, NotFound, ValidationError
from repo_app.extensions import db
from repo_app.models import (
    ApiToken,
    ChapterNode,
    Locality,
    Membership,
    Organisation,
    OrgKind,
    Role,
    User,
)
from repo_app.runtime import runtime
from repo_app.security import hash_password, new_token_secret, token_digest


def org_by_code(code: str) -> Organisation:
    org = db.session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise NotFound(f"There is no organisation with code {code!r}; see 'kejian org list'.")
    return org


def add_org(code: str, name: str, kind: str, parent: str | None = None,
            locality: str | None = None) -> Organisation:
    code = code.strip()
    if not code or len(code) > 64 or any(ch.isspace() or ch == "/" for ch in code):
        raise ValidationError("An organisation code is 1-64 characters without spaces or '/'.")
    if db.session.scalar(select(Organisation).where(Organisation.code == code)):
        raise Conflict(f"An organisation with code {code!r} exists already.")
    parent_org = org_by_code(parent) if parent else None
    kind_value = OrgKind(kind)
    if kind_value is not OrgKind.CITY and parent_org is None and kind_value is not OrgKind.COMMUNITY:
        raise ValidationError(f"A {kind} needs a parent organisation (--parent CODE).")
    org = Organisation(code=code, name=name.strip() or code, kind=kind_value, parent=parent_org,
                       locality=Locality(locality) if locality else None)
    db.session.add(org)
    return org


def add_user(username: str, password: str | None, *, display_name: str = "",
             roles: list[tuple[str, str]] | None = None) -> User:
    username = username.strip()
    if not username or len(username) > 64:
        raise ValidationError("A username is 1-64 characters.")
    if db.session.scalar(select(User).where(User.username == username)):
        raise Conflict(f"A user named {username!r} exists already.")
    if password is not None and len(password) < 8:
        raise ValidationError("A password needs at least 8 characters.")
    user = User(username=username, display_name=display_name or username,
                password_hash=hash_password(password) if password else None)
    for org_code, role in roles or []:
        user.memberships.append(Membership(org=org_by_code(org_code), role=Role(role)))
    db.session.add(user)
    return user


def user_by_name(username: str) -> User:
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"There is no user {username!r}.")
    return user


def create_token(user: User, name: str = "", days: int | None = 365) -> str:
    """Create an API token and return its secret, which is shown once and never kept."""
    secret = new_token_secret()
    expires = datetime.now(UTC) + timedelta(days=days) if days else None
    db.session.add(ApiToken(user=user, name=name, token_hash=token_digest(secret),
                            prefix=secret[:8], expires_at=expires))
    return secret


def load_chapters() -> int:
    """Copy the chapter trees of the vocabulary file into the database (idempotent)."""
    vocab = runtime().vocab
    added = 0
    for textbook in vocab.chapter_textbooks():
        existing = {
            n.code: n
            for n in db.session.scalars(select(ChapterNode).where(ChapterNode.textbook == textbook))
        }
        position = 0

        def walk(nodes: Sequence[VocabChapter], parent: ChapterNode | None) -> None:
            nonlocal added, position
            for node in nodes:
                position += 1
                row = existing.get(node.code)
                if row is None:
                    row = ChapterNode(textbook=textbook, code=node.code)
                    db.session.add(row)
                    added += 1
                row.title = node.title
                row.parent = parent
                row.position = position
                walk(node.children, row)

        walk(vocab.chapter_tree(textbook), None)
    return added
