"""Who is asking, and what they may see and do.

A :class:`Principal` is built once per request from a bearer token (or is anonymous).
Read access is expressed as *access tokens* shared by the principal and each resource's
search document (see :func:`resource_acl`), so that the database queries here and the
search engine enforce exactly the same rule:

- ``public``: everyone, signed in or not;
- ``org:<id>``: members of organisation ``id`` or of any organisation below it;
- ``user:<id>``: that user (the uploader always sees their own resources);
- ``review:<id>``: reviewers and admins of ``id`` or above (pending resources);
- ``admin:<id>``: admins of ``id`` or above (everything, withdrawn included).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from repo_app.models import (
    ApiToken,
    Organisation,
    OrgKind,
    Resource,
    Role,
    Status,
    User,
    Visibility,
)

_hasher = PasswordHasher()

TOKEN_PREFIX = "kj_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(secret: str) -> str:
    # API tokens carry 256 random bits, so a fast hash is enough to keep them unusable
    # if the table leaks; argon2 would only slow every API request.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass
class Principal:
    user: User | None = None
    #: (organisation, role) pairs the user holds.
    roles: list[tuple[Organisation, Role]] = field(default_factory=list)
    #: True for the command line, which acts for the city's administrators.
    system: bool = False
    #: The organisations above those of :attr:`roles`, held so that access checks
    #: walk up the tree without queries (see :meth:`Organisation.load_ancestors`).
    above: list[Organisation] = field(default_factory=list, repr=False)

    @property
    def is_anonymous(self) -> bool:
        return self.user is None and not self.system

    @property
    def user_id(self) -> int | None:
        return self.user.id if self.user else None

    @classmethod
    def for_user(cls, user: User) -> Principal:
        roles = [(m.org, m.role) for m in user.memberships]
        # Every access check walks up from these organisations; load them at once.
        above = Organisation.load_ancestors(org for org, _ in roles)
        return cls(user=user, roles=roles, above=above)

    @classmethod
    def anonymous(cls) -> Principal:
        return cls()

    @classmethod
    def command_line(cls) -> Principal:
        return cls(system=True)

    def acl(self) -> list[str]:
        """The access tokens this principal holds (see the module docstring)."""
        if self.system:
            return ["*"]
        tokens = {"public"}
        if self.user is not None:
            tokens.add(f"user:{self.user.id}")
        for org, role in self.roles:
            for node in org.ancestors():
                tokens.add(f"org:{node.id}")
            if role in (Role.REVIEWER, Role.ADMIN):
                tokens.add(f"review:{org.id}")
            if role is Role.ADMIN:
                tokens.add(f"admin:{org.id}")
        return sorted(tokens)

    def has_role(self, org: Organisation, *roles: Role) -> bool:
        """True when the principal holds one of *roles* in *org* or above it."""
        if self.system:
            return True
        above = {o.id for o in org.ancestors()}
        return any(r in roles and o.id in above for o, r in self.roles)

    def member_orgs(self, *roles: Role) -> list[Organisation]:
        return [o for o, r in self.roles if not roles or r in roles]


def audience_org(owner: Organisation, visibility: Visibility) -> Organisation | None:
    """The organisation whose members may read a resource published at *visibility*."""
    if visibility is Visibility.SCHOOL:
        return owner
    if visibility is Visibility.DISTRICT:
        return owner.nearest(OrgKind.DISTRICT, OrgKind.CITY) or owner
    if visibility is Visibility.CITY:
        return owner.nearest(OrgKind.CITY) or owner.ancestors()[-1]
    return None


def resource_acl(resource: Resource) -> list[str]:
    """The access tokens that may read *resource* in its current state."""
    chain = resource.owner_org.ancestors()
    tokens = {f"admin:{o.id}" for o in chain}
    if resource.uploader_id is not None:
        tokens.add(f"user:{resource.uploader_id}")
    if resource.status is Status.PENDING:
        tokens.update(f"review:{o.id}" for o in chain)
    if resource.status is Status.PUBLISHED:
        if resource.visibility is Visibility.PUBLIC:
            tokens.add("public")
        else:
            org = audience_org(resource.owner_org, resource.visibility)
            if org is not None:
                tokens.add(f"org:{org.id}")
    return sorted(tokens)


def can_read(principal: Principal, resource: Resource) -> bool:
    if principal.system:
        return True
    return bool(set(principal.acl()) & set(resource_acl(resource)))


def can_edit(principal: Principal, resource: Resource) -> bool:
    """Uploaders edit their own resources; admins of the owner or above edit any."""
    if principal.system:
        return True
    if principal.user_id is not None and principal.user_id == resource.uploader_id:
        return True
    return principal.has_role(resource.owner_org, Role.ADMIN)


def can_publish_to(principal: Principal, owner: Organisation, visibility: Visibility) -> bool:
    """Whether the principal may publish at *visibility* without a review.

    Owner- and school-wide publication is the school's own business (its uploaders and
    admins); anything wider needs a reviewer or admin of the organisation it reaches.
    """
    if principal.system:
        return True
    if visibility in (Visibility.OWNER, Visibility.SCHOOL):
        return principal.has_role(owner, Role.UPLOADER, Role.REVIEWER, Role.ADMIN)
    target = audience_org(owner, visibility) or owner.ancestors()[-1]
    return principal.has_role(target, Role.REVIEWER, Role.ADMIN)


def token_is_usable(token: ApiToken, now: datetime | None = None) -> bool:
    now = now or datetime.now(UTC)
    if token.revoked or not token.user.is_active:
        return False
    expires = token.expires_at
    if expires is not None:
        if expires.tzinfo is None:  # SQLite hands back naive datetimes
            expires = expires.replace(tzinfo=UTC)
        if expires <= now:
            return False
    return True
