"""The LTI tool's tables: platform registrations, tool keys, launch state, placements.

Imported by :func:`lti.init_lti` so that Alembic sees these tables beside the core
model. Enumerations are stored by value with a CHECK constraint, as in
:mod:`repo_app.models`.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from repo_app.extensions import db
from repo_app.models import Organisation, Resource, _enum, utcnow


class RegistrationStatus(enum.StrEnum):
    PENDING = "pending"  # made by Dynamic Registration, waiting for a Kejian admin
    ACTIVE = "active"
    DISABLED = "disabled"


class DeploymentPolicy(enum.StrEnum):
    """What a launch with a deployment id the registration does not list gets."""

    REJECT = "reject"  # refused with a page naming the deployment id
    ACCEPT = "accept"  # recorded as a new deployment and let through (course copies)


class KeyStatus(enum.StrEnum):
    ACTIVE = "active"  # signs, and is published
    RETIRING = "retiring"  # published until it expires, signs nothing


class Registration(db.Model):
    """One platform client: an (issuer, client id) pair and where to reach it."""

    __tablename__ = "lti_registrations"
    __table_args__ = (
        UniqueConstraint(
            "issuer", "client_id", name="uq_lti_registrations_issuer_client"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    issuer: Mapped[str] = mapped_column(String(255), comment="the platform's iss")
    client_id: Mapped[str] = mapped_column(String(255), comment="aud of its id_tokens")
    auth_login_url: Mapped[str] = mapped_column(
        String(1000), comment="OIDC authorization"
    )
    auth_token_url: Mapped[str] = mapped_column(String(1000), default="")
    key_set_url: Mapped[str | None] = mapped_column(String(1000))
    key_set: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="a key set pasted by hand; the URL is preferred when both exist"
    )
    org_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"),
        index=True,
        comment="decides what the platform's users may see; none while pending",
    )
    status: Mapped[RegistrationStatus] = mapped_column(
        _enum(RegistrationStatus, "lti_registration_status"),
        default=RegistrationStatus.ACTIVE,
    )
    unknown_deployments: Mapped[DeploymentPolicy] = mapped_column(
        _enum(DeploymentPolicy, "lti_deployment_policy"),
        default=DeploymentPolicy.REJECT,
    )
    source: Mapped[str] = mapped_column(
        String(16), default="manual", comment="or dynamic"
    )
    platform_info: Mapped[dict[str, Any]] = mapped_column(
        JSON, default=dict, comment="what Dynamic Registration learnt of the platform"
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow, onupdate=utcnow
    )

    org: Mapped[Organisation | None] = relationship(lazy="joined")
    deployments: Mapped[list[Deployment]] = relationship(
        back_populates="registration",
        cascade="all, delete-orphan",
        order_by="Deployment.id",
        lazy="selectin",
    )

    @property
    def label(self) -> str:
        """How logs and pages name the registration."""
        return f"#{self.id} {self.issuer} client {self.client_id}"


class Deployment(db.Model):
    """A deployment id of a registration: one per install (site, course, copy)."""

    __tablename__ = "lti_deployments"
    __table_args__ = (
        UniqueConstraint(
            "registration_id", "deployment_id", name="uq_lti_deployments_registration"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("lti_registrations.id", ondelete="CASCADE")
    )
    deployment_id: Mapped[str] = mapped_column(String(255))
    auto_added: Mapped[bool] = mapped_column(
        Boolean, default=False, comment="accepted by the unknown-deployment policy"
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )

    registration: Mapped[Registration] = relationship(back_populates="deployments")


class ToolKey(db.Model):
    """An RSA key pair of the tool; the private half encrypted at rest."""

    __tablename__ = "lti_tool_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(
        String(64), unique=True, comment="RFC 7638 thumbprint"
    )
    public_pem: Mapped[str] = mapped_column(Text)
    private_encrypted: Mapped[str] = mapped_column(
        Text, comment="Fernet token; key derived from KEJIAN_SECRET_KEY"
    )
    status: Mapped[KeyStatus] = mapped_column(
        _enum(KeyStatus, "lti_key_status"), default=KeyStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )
    expires_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="a retiring key leaves the key set then"
    )


class UsedNonce(db.Model):
    """The nonce of every accepted id_token, so that no id_token is accepted twice."""

    __tablename__ = "lti_nonces"
    __table_args__ = (
        UniqueConstraint("registration_id", "nonce", name="uq_lti_nonces_registration"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("lti_registrations.id", ondelete="CASCADE")
    )
    nonce: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class LaunchState(db.Model):
    """Login state (state, nonce, login parameters) under the tool's own cookie.

    The cookie's value is never stored: rows are keyed by its SHA-256, so that a
    copy of the table opens no browser's launch.
    """

    __tablename__ = "lti_launch_states"
    __table_args__ = (
        UniqueConstraint(
            "session_hash", "key", name="uq_lti_launch_states_session_key"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(255), index=True)
    value: Mapped[Any] = mapped_column(JSON)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class PlatformUser(db.Model):
    """A person as one registration knows them (``sub``); never matched by e-mail."""

    __tablename__ = "lti_users"
    __table_args__ = (
        UniqueConstraint("registration_id", "sub", name="uq_lti_users_sub"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("lti_registrations.id", ondelete="CASCADE")
    )
    sub: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200), default="")
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"),
        comment="a Kejian account an admin linked by hand",
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )
    last_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )


class Placement(db.Model):
    """A resource put into a course: offered by Deep Linking, bound at first launch.

    ``resource_link_id`` is empty while the item is only offered (the platform makes
    the link id when it saves the item) and set by the first launch of the link.
    """

    __tablename__ = "lti_placements"
    __table_args__ = (
        Index("ix_lti_placements_link", "registration_id", "resource_link_id"),
        Index("ix_lti_placements_resource", "registration_id", "resource_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("lti_registrations.id", ondelete="CASCADE")
    )
    deployment_pk: Mapped[int | None] = mapped_column(
        ForeignKey("lti_deployments.id", ondelete="CASCADE")
    )
    context_id: Mapped[str | None] = mapped_column(String(255), comment="the course")
    context_title: Mapped[str] = mapped_column(String(300), default="")
    resource_link_id: Mapped[str | None] = mapped_column(String(255))
    resource_id: Mapped[int] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE")
    )
    placed_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )

    resource: Mapped[Resource] = relationship(lazy="joined")


class Launch(db.Model):
    """One accepted launch, for statistics and for the requests that follow it.

    ``token`` is a random capability that the picker's form and the resource page's
    file links carry; it works only until ``expires_at``.
    """

    __tablename__ = "lti_launches"
    __table_args__ = (
        Index("ix_lti_launches_registration", "registration_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    registration_id: Mapped[int] = mapped_column(
        ForeignKey("lti_registrations.id", ondelete="CASCADE")
    )
    deployment_pk: Mapped[int] = mapped_column(
        ForeignKey("lti_deployments.id", ondelete="CASCADE"), index=True
    )
    user_pk: Mapped[int | None] = mapped_column(
        ForeignKey("lti_users.id", ondelete="SET NULL")
    )
    message_type: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(
        String(16), comment="instructor or learner, as decided"
    )
    context_id: Mapped[str | None] = mapped_column(String(255))
    resource_link_id: Mapped[str | None] = mapped_column(String(255))
    resource_id: Mapped[int | None] = mapped_column(
        ForeignKey("resources.id", ondelete="SET NULL"), index=True
    )
    placement_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_placements.id", ondelete="SET NULL")
    )
    session_hash: Mapped[str] = mapped_column(String(64), default="")
    locale: Mapped[str | None] = mapped_column(
        String(16), comment="page language from launch_presentation (zh_CN or en)"
    )
    deep_linking: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="the deep_linking_settings claim of a Deep Linking request"
    )
    responded_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), comment="a Deep Linking response was sent (once only)"
    )
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=utcnow
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    registration: Mapped[Registration] = relationship(lazy="joined")
    deployment: Mapped[Deployment] = relationship(lazy="joined")
