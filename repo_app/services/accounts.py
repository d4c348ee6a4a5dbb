"""Organisations, users, roles and API tokens.

The plain functions (:func:`add_org`, :func:`add_user`) act for the command line, which
stands for the city's administrators. The functions that take a ``principal`` are what
the web pages call: they check that the principal administers the organisation acted
on (or one above it), and their queries see only the organisations it administers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from config.vocabularies import ChapterNode as VocabChapter
from repo_app.errors import Conflict, Forbidden, NotFound, ValidationError
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
from repo_app.security import (
    Principal,
    hash_password,
    new_token_secret,
    token_digest,
    verify_password,
)

#: A password hash that matches nothing, verified for unknown usernames so that a
#: wrong name costs as long as a wrong password and does not reveal who exists.
_DUMMY_HASH = hash_password("kejian: no such user")

#: The kinds of organisation an administrator may add below their own in the pages.
ADDABLE_KINDS = (OrgKind.DISTRICT, OrgKind.SCHOOL)

MIN_PASSWORD = 8


def org_by_code(code: str) -> Organisation:
    org = db.session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise NotFound(f"There is no organisation with code {code!r}; see 'kejian org list'.")
    return org


def add_org(code: str, name: str, kind: str, parent: str | None = None,
            locality: str | None = None) -> Organisation:
    code = code.strip()
    if not code or len(code) > 64 or any(ch.isspace() or ch == "/" for ch in code):
        raise ValidationError("An organisation code is 1-64 characters without spaces or '/'.",
                              details={"field": "code"})
    if db.session.scalar(select(Organisation).where(Organisation.code == code)):
        raise Conflict(f"An organisation with code {code!r} exists already.",
                       details={"field": "code"})
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
        raise ValidationError("A username is 1-64 characters.", details={"field": "username"})
    if db.session.scalar(select(User).where(User.username == username)):
        raise Conflict(f"A user named {username!r} exists already.",
                       details={"field": "username"})
    if password is not None and len(password) < 8:
        raise ValidationError("A password needs at least 8 characters.",
                              details={"field": "password"})
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


# -- sign-in and passwords -----------------------------------------------------------


def authenticate(username: str, password: str) -> User | None:
    """The active user with this username and password, or None."""
    user = db.session.scalar(select(User).where(User.username == username.strip()))
    if user is None or not user.password_hash:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(user.password_hash, password) or not user.is_active:
        return None
    return user


def change_password(user: User, current: str, new: str) -> User:
    """Replace *user*'s password and return the user; the caller commits.

    :raises ValidationError: with ``details["field"]`` naming the wrong field
        (``current_password`` or ``new_password``).
    """
    if not verify_password(user.password_hash, current):
        raise ValidationError(
            "The current password is wrong.", details={"field": "current_password"}
        )
    if len(new) < MIN_PASSWORD:
        raise ValidationError(
            f"A password needs at least {MIN_PASSWORD} characters.",
            details={"field": "new_password"},
        )
    user.password_hash = hash_password(new)
    return user


# -- administration, scoped to what the principal administers -------------------------


def administered_orgs(principal: Principal) -> list[Organisation]:
    """The organisations *principal* administers: those where it is admin and every
    organisation below them, ordered by code. The command line administers all."""
    everything = select(Organisation).order_by(Organisation.code)
    if principal.system:
        return list(db.session.scalars(everything))
    roots = {org.id for org in principal.member_orgs(Role.ADMIN)}
    if not roots:
        return []
    table = Organisation.__table__
    tree = select(table.c.id).where(table.c.id.in_(roots)).cte("tree", recursive=True)
    tree = tree.union(select(table.c.id).join(tree, table.c.parent_id == tree.c.id))
    return list(
        db.session.scalars(everything.where(Organisation.id.in_(select(tree.c.id))))
    )


def require_org_admin(principal: Principal, org: Organisation) -> None:
    """:raises Forbidden: unless *principal* is an admin of *org* or above it."""
    if not principal.has_role(org, Role.ADMIN):
        raise Forbidden(
            f"Only an administrator of {org.name} or above may do this.",
            details={"org": org.code},
        )


def add_org_by(
    principal: Principal,
    code: str,
    name: str,
    kind: str,
    parent: str,
    locality: str | None = None,
) -> Organisation:
    """Add a district or school below *parent*, which *principal* must administer.

    :raises Forbidden: when the principal does not administer *parent*.
    :raises ValidationError: for a kind that cannot be added, or a bad code.
    :raises Conflict: when the code is taken.
    """
    parent_org = org_by_code(parent)
    require_org_admin(principal, parent_org)
    if kind not in {k.value for k in ADDABLE_KINDS}:
        raise ValidationError(
            "Only districts and schools are added here.", details={"field": "kind"}
        )
    if kind == OrgKind.DISTRICT and parent_org.kind is not OrgKind.CITY:
        raise ValidationError(
            "A district sits directly below the city.", details={"field": "parent"}
        )
    if parent_org.kind is OrgKind.SCHOOL:
        raise ValidationError(
            "Nothing is added below a school.", details={"field": "parent"}
        )
    return add_org(code, name, kind, parent, locality)


def users_of(orgs: Sequence[Organisation]) -> list[User]:
    """The users holding a role in one of *orgs*, ordered by username."""
    ids = [org.id for org in orgs]
    if not ids:
        return []
    holders = select(Membership.user_id).where(Membership.org_id.in_(ids))
    return list(
        db.session.scalars(
            select(User).where(User.id.in_(holders)).order_by(User.username)
        )
    )


def user_in_scope(principal: Principal, user_id: int) -> User:
    """The user *user_id*, if it holds a role somewhere *principal* administers.

    :raises NotFound: otherwise (also for users outside the scope, so that the pages
        do not reveal who exists elsewhere).
    """
    user = db.session.get(User, user_id)
    if user is None or not any(
        principal.has_role(m.org, Role.ADMIN) for m in user.memberships
    ):
        raise NotFound(f"There is no user {user_id} among those you administer.")
    return user


def add_user_by(
    principal: Principal,
    username: str,
    password: str,
    org: str,
    role: str,
    display_name: str = "",
) -> User:
    """Add a user with one role in *org*, which *principal* must administer.

    :raises Forbidden: when the principal does not administer *org*.
    :raises ValidationError: for a bad username or a short password.
    :raises Conflict: when the username is taken.
    """
    require_org_admin(principal, org_by_code(org))
    return add_user(username, password, display_name=display_name, roles=[(org, role)])


def grant_role(principal: Principal, user: User, org: str, role: str) -> Membership:
    """Give *user* *role* in *org*, which *principal* must administer.

    :raises Conflict: when the user holds that role there already.
    """
    target = org_by_code(org)
    require_org_admin(principal, target)
    value = Role(role)
    if any(m.org_id == target.id and m.role is value for m in user.memberships):
        raise Conflict(
            f"{user.username} is {role} of {target.name} already.",
            details={"field": "role"},
        )
    membership = Membership(org=target, role=value)
    user.memberships.append(membership)
    return membership


def revoke_role(principal: Principal, user: User, membership_id: int) -> Membership:
    """Take one of *user*'s roles away.

    Administrators cannot take their own admin roles away: the last admin of an
    organisation would lock everyone out of its pages.

    :raises NotFound: when the user has no such role.
    :raises Conflict: when principal would revoke its own admin role.
    """
    membership = next((m for m in user.memberships if m.id == membership_id), None)
    if membership is None:
        raise NotFound(f"{user.username} has no role {membership_id}.")
    require_org_admin(principal, membership.org)
    if principal.user_id == user.id and membership.role is Role.ADMIN:
        raise Conflict("You cannot revoke your own admin role.")
    user.memberships.remove(membership)
    return membership
