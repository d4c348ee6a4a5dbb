"""The database model: organisations, people, resources and their files.

Enumerations are stored by value as short strings (with a CHECK constraint) so that the
same migrations run on SQLite and PostgreSQL and the values read well in SQL.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from functools import cache
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Select,
    String,
    Text,
    UniqueConstraint,
    bindparam,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from repo_app.extensions import db


#: The largest id an integer column holds on every database (PostgreSQL's INTEGER).
MAX_ID = 2**31 - 1


def parse_id(raw: str | None) -> int | None:
    """*raw* as an id when it is one a row can have (ASCII digits up to
    :data:`MAX_ID`), else ``None``."""
    if not raw or not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    number = int(raw)
    return number if 0 < number <= MAX_ID else None


def utcnow() -> datetime:
    return datetime.now(UTC)


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


class OrgKind(enum.StrEnum):
    CITY = "city"
    DISTRICT = "district"  # 区 or 县: both sit between the city and its schools
    SCHOOL = "school"
    NETWORK = "network"  # the radio-and-TV-university distance-education network
    COMMUNITY = "community"


class Locality(enum.StrEnum):
    URBAN = "urban"  # 城区
    TOWN = "town"  # 镇区
    RURAL = "rural"  # 乡村


class Role(enum.StrEnum):
    ADMIN = "admin"
    REVIEWER = "reviewer"
    UPLOADER = "uploader"
    TEACHER = "teacher"


class Visibility(enum.StrEnum):
    """Who may read a published resource, from narrowest to widest."""

    OWNER = "owner"
    SCHOOL = "school"
    DISTRICT = "district"
    CITY = "city"
    PUBLIC = "public"

    @property
    def rank(self) -> int:
        return list(Visibility).index(self)


class Status(enum.StrEnum):
    DRAFT = "draft"
    PENDING = "pending"
    PUBLISHED = "published"
    WITHDRAWN = "withdrawn"


class Organisation(db.Model):
    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True, comment="stable code")
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrgKind] = mapped_column(_enum(OrgKind, "org_kind"))
    locality: Mapped[Locality | None] = mapped_column(
        _enum(Locality, "locality"), comment="城区/镇区/乡村 mark for statistics"
    )
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    parent: Mapped[Organisation | None] = relationship(remote_side=[id])

    def ancestors(self) -> list[Organisation]:
        """This organisation and every organisation above it, nearest first."""
        chain: list[Organisation] = []
        node: Organisation | None = self
        while node is not None and node not in chain:
            chain.append(node)
            node = node.parent
        return chain

    @staticmethod
    def load_ancestors(orgs: Iterable[Organisation]) -> list[Organisation]:
        """Load every organisation above *orgs* in one query and return them.

        While the caller holds the returned list, walking :meth:`ancestors` costs no
        query: a parent already in the session is found by its key (the session
        holds its objects weakly, hence the list). Without this, a school's chain
        loads one organisation at a time, and the principal of every request walks
        it.
        """
        ids = {o.id for o in orgs if o.parent_id is not None}
        if not ids:
            return []
        return list(db.session.scalars(_ancestors_statement(), {"ids": list(ids)}))

    def nearest(self, *kinds: OrgKind) -> Organisation | None:
        """The nearest organisation of one of *kinds*, this one included."""
        return next((o for o in self.ancestors() if o.kind in kinds), None)


@cache
def _ancestors_statement() -> Select[tuple[Organisation]]:
    """Every organisation above the ``ids`` parameter, as one recursive query.

    Built once: every request's principal runs it, and a statement object used again
    skips SQLAlchemy's construction and cache-key work (about a millisecond each).
    """
    table = Organisation.__table__
    chain = (
        select(table.c.id, table.c.parent_id)
        .where(table.c.id.in_(bindparam("ids", expanding=True)))
        .cte("chain", recursive=True)
    )
    chain = chain.union(
        select(table.c.id, table.c.parent_id).join(chain, table.c.id == chain.c.parent_id)
    )
    return select(Organisation).where(Organisation.id.in_(select(chain.c.id)))


class User(db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    password_hash: Mapped[str | None] = mapped_column(String(255), comment="argon2id")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    memberships: Mapped[list[Membership]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class Membership(db.Model):
    """A role a user holds in an organisation (and, through it, in its subtree)."""

    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "org_id", "role", name="uq_membership"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[Role] = mapped_column(_enum(Role, "role"))

    user: Mapped[User] = relationship(back_populates="memberships")
    org: Mapped[Organisation] = relationship(lazy="joined")


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(
        String(64), unique=True, comment="SHA-256 of the secret; the secret is not kept"
    )
    prefix: Mapped[str] = mapped_column(String(12), comment="first characters, for display")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship(lazy="joined")


class ChapterNode(db.Model):
    """A 章节 node of one textbook (stage, subject, edition, grade, volume)."""

    __tablename__ = "chapter_nodes"
    __table_args__ = (UniqueConstraint("textbook", "code", name="uq_chapter_textbook_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    textbook: Mapped[str] = mapped_column(String(200), index=True, comment="textbook key")
    code: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(300))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("chapter_nodes.id"))
    position: Mapped[int] = mapped_column(Integer, default=0)

    parent: Mapped[ChapterNode | None] = relationship(remote_side=[id])


class ResourceChapter(db.Model):
    __tablename__ = "resource_chapters"

    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True
    )
    chapter_id: Mapped[int] = mapped_column(
        ForeignKey("chapter_nodes.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class Resource(db.Model):
    __tablename__ = "resources"
    __table_args__ = (
        Index("ix_resources_owner_status", "owner_org_id", "status"),
        Index("ix_resources_updated", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    description: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str | None] = mapped_column(String(16))
    stage: Mapped[str | None] = mapped_column(String(32), comment="学段 code")
    grade: Mapped[str | None] = mapped_column(String(32), comment="年级 code")
    subject: Mapped[str | None] = mapped_column(String(32), comment="学科 code")
    edition: Mapped[str | None] = mapped_column(String(64), comment="教材版本 code")
    volume: Mapped[str | None] = mapped_column(String(32), comment="册 code")
    resource_type: Mapped[str | None] = mapped_column(String(32))
    licence: Mapped[str | None] = mapped_column(String(32))
    owner_org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"))
    uploader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    visibility: Mapped[Visibility] = mapped_column(
        _enum(Visibility, "visibility"), default=Visibility.OWNER
    )
    requested_visibility: Mapped[Visibility | None] = mapped_column(
        _enum(Visibility, "requested_visibility"),
        comment="visibility asked for while pending review",
    )
    status: Mapped[Status] = mapped_column(_enum(Status, "status"), default=Status.DRAFT)
    review_note: Mapped[str | None] = mapped_column(Text)
    downloads: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    owner_org: Mapped[Organisation] = relationship(lazy="joined")
    uploader: Mapped[User | None] = relationship(lazy="joined")
    chapters: Mapped[list[ChapterNode]] = relationship(
        secondary="resource_chapters", lazy="selectin", order_by="ChapterNode.id"
    )
    versions: Mapped[list[ResourceVersion]] = relationship(
        back_populates="resource",
        cascade="all, delete-orphan",
        order_by="ResourceVersion.number",
        lazy="selectin",
    )

    @property
    def current_version(self) -> ResourceVersion | None:
        return self.versions[-1] if self.versions else None

    @property
    def files(self) -> list[VersionFile]:
        version = self.current_version
        return list(version.files) if version else []


class ResourceVersion(db.Model):
    __tablename__ = "resource_versions"
    __table_args__ = (UniqueConstraint("resource_id", "number", name="uq_version_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    resource: Mapped[Resource] = relationship(back_populates="versions")
    files: Mapped[list[VersionFile]] = relationship(
        back_populates="version",
        cascade="all, delete-orphan",
        order_by="VersionFile.id",
        lazy="selectin",
    )


class FileObject(db.Model):
    """Stored bytes, addressed by their SHA-256: the same bytes are kept once."""

    __tablename__ = "file_objects"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    mime: Mapped[str] = mapped_column(String(128), comment="sniffed from the content")
    kind: Mapped[str] = mapped_column(String(24))
    package_type: Mapped[str | None] = mapped_column(String(24))
    extraction: Mapped[str] = mapped_column(
        String(16), default="pending", comment="pending, ok, partial or rejected"
    )
    encrypted: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str | None] = mapped_column(String(500))
    text: Mapped[str] = mapped_column(Text, default="", deferred=True)
    language: Mapped[str | None] = mapped_column(String(16))
    pages: Mapped[int | None] = mapped_column(Integer)
    problems: Mapped[list[str]] = mapped_column(JSON, default=list)
    outline: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class VersionFile(db.Model):
    """A named file in one version of a resource."""

    __tablename__ = "version_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("resource_versions.id", ondelete="CASCADE"), index=True
    )
    sha256: Mapped[str] = mapped_column(ForeignKey("file_objects.sha256"), index=True)
    name: Mapped[str] = mapped_column(String(255), comment="file name as uploaded, cleaned")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    version: Mapped[ResourceVersion] = relationship(back_populates="files")
    blob: Mapped[FileObject] = relationship(lazy="joined")


class IndexOutbox(db.Model):
    """A resource whose search document must be rewritten (or removed).

    Rows are written in the same transaction as the change, and removed only once the
    search engine has taken the change, so a failed index write is retried later and
    never loses the resource.
    """

    __tablename__ = "index_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(Integer, index=True, comment="no FK: outlives deletes")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ImportRecord(db.Model):
    """What ``kejian import`` did with one source file, so a second run skips it."""

    __tablename__ = "import_records"
    __table_args__ = (UniqueConstraint("org_id", "sha256", name="uq_import_org_sha"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    source_path: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16), comment="imported or rejected")
    reason: Mapped[str | None] = mapped_column(Text)
    resource_id: Mapped[int | None] = mapped_column(
        ForeignKey("resources.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# -- the workspace: uploads, reviews, favourites, collections, notifications ---------


class UploadBatch(db.Model):
    """The metadata an uploader gave once for a set of files.

    Each file of the batch becomes a resource of its own with this metadata (its title
    from the file's name when the batch has several files); see
    :mod:`repo_app.services.uploads`.
    """

    __tablename__ = "upload_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    owner_org_id: Mapped[int] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE")
    )
    metadata_: Mapped[dict[str, Any]] = mapped_column(
        "metadata", JSON, default=dict, comment="resource fields as codes, chapters ids"
    )
    visibility: Mapped[Visibility] = mapped_column(
        _enum(Visibility, "batch_visibility"),
        default=Visibility.OWNER,
        comment="asked for each resource once its file is in",
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    owner_org: Mapped[Organisation] = relationship(lazy="joined")


class UploadState(enum.StrEnum):
    #: Bytes are arriving (or will, after a resume).
    RECEIVING = "receiving"
    #: Every byte is in and the file became a resource.
    STORED = "stored"
    #: Every byte is in, and the files service refused the file (``error`` says why).
    REFUSED = "refused"


class UploadSession(db.Model):
    """One resumable (tus) upload: its size, how much has arrived, whose it is.

    The bytes are in ``$KEJIAN_HOME/uploads/<id>.part`` until the last one arrives;
    see :mod:`repo_app.services.tus`.
    """

    __tablename__ = "upload_sessions"
    __table_args__ = (Index("ix_upload_sessions_expires", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, comment="random hex")
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    batch_id: Mapped[int | None] = mapped_column(
        ForeignKey("upload_batches.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    length: Mapped[int] = mapped_column(BigInteger, comment="Upload-Length in bytes")
    offset: Mapped[int] = mapped_column(BigInteger, default=0, comment="bytes received")
    state: Mapped[UploadState] = mapped_column(
        _enum(UploadState, "upload_state"), default=UploadState.RECEIVING
    )
    error: Mapped[str | None] = mapped_column(Text, comment="why the file was refused")
    resource_id: Mapped[int | None] = mapped_column(
        ForeignKey("resources.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), comment="an unfinished upload is removed after this"
    )

    batch: Mapped[UploadBatch | None] = relationship()


class ReviewDecision(db.Model):
    """A reviewer's decision on a request for wider visibility, kept with its reason."""

    __tablename__ = "review_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), index=True
    )
    reviewer_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    approved: Mapped[bool] = mapped_column(Boolean)
    visibility: Mapped[Visibility] = mapped_column(
        _enum(Visibility, "decision_visibility"), comment="the visibility asked for"
    )
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    reviewer: Mapped[User | None] = relationship(lazy="joined")


class NotificationKind(enum.StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class Notification(db.Model):
    """A message for one user in their workspace.

    It stores what happened (``kind`` and ``data``), not a sentence: the page words it
    in the reader's language.
    """

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_created", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[NotificationKind] = mapped_column(
        _enum(NotificationKind, "notification_kind")
    )
    resource_id: Mapped[int | None] = mapped_column(
        ForeignKey("resources.id", ondelete="SET NULL")
    )
    data: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, comment="title, visibility, note, by whom"
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Favourite(db.Model):
    __tablename__ = "favourites"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class RecentView(db.Model):
    """The last time a user opened a resource (one row per user and resource)."""

    __tablename__ = "recent_views"
    __table_args__ = (Index("ix_recent_views_user_viewed", "user_id", "viewed_at"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True
    )
    viewed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Collection(db.Model):
    """A user's named list of resources, shareable as a unit at ``/c/<slug>``.

    ``audience`` says who may open it, like a resource's visibility, counted from
    ``org`` (``owner``: its owner only). Whoever opens it sees only the items they may
    read themselves.
    """

    __tablename__ = "collections"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(24), unique=True, comment="link token")
    owner_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="SET NULL"),
        comment="the audience is counted from here",
    )
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    audience: Mapped[Visibility] = mapped_column(
        _enum(Visibility, "collection_audience"), default=Visibility.OWNER
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    owner: Mapped[User] = relationship(lazy="joined")
    org: Mapped[Organisation | None] = relationship(lazy="joined")
    items: Mapped[list[CollectionItem]] = relationship(
        cascade="all, delete-orphan",
        order_by="CollectionItem.position",
        lazy="selectin",
    )


class CollectionItem(db.Model):
    __tablename__ = "collection_items"

    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    resource: Mapped[Resource] = relationship(lazy="joined")
