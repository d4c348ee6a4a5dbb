"""LTI tool: registrations, deployments, keys, nonces, launch state, users, placements.

Only new tables, so no lock is taken on existing ones and the upgrade is instant.

Revision ID: 0002_lti_tool
Revises: 0001
Create Date: 2026-12-03 19:34:06.820233

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0002_lti_tool"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "lti_launch_states",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_launch_states")),
        sa.UniqueConstraint(
            "session_hash", "key", name="uq_lti_launch_states_session_key"
        ),
    )
    with op.batch_alter_table("lti_launch_states", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lti_launch_states_expires_at"), ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_lti_launch_states_key"), ["key"], unique=False
        )

    op.create_table(
        "lti_tool_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kid", sa.String(length=64), nullable=False, comment="RFC 7638 thumbprint"
        ),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column(
            "private_encrypted",
            sa.Text(),
            nullable=False,
            comment="Fernet token; key derived from KEJIAN_SECRET_KEY",
        ),
        sa.Column(
            "status",
            sa.Enum(
                "active",
                "retiring",
                name="lti_key_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="a retiring key leaves the key set then",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_tool_keys")),
        sa.UniqueConstraint("kid", name=op.f("uq_lti_tool_keys_kid")),
    )
    op.create_table(
        "lti_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "issuer",
            sa.String(length=255),
            nullable=False,
            comment="the platform's iss",
        ),
        sa.Column(
            "client_id",
            sa.String(length=255),
            nullable=False,
            comment="aud of its id_tokens",
        ),
        sa.Column(
            "auth_login_url",
            sa.String(length=1000),
            nullable=False,
            comment="OIDC authorization",
        ),
        sa.Column("auth_token_url", sa.String(length=1000), nullable=False),
        sa.Column("key_set_url", sa.String(length=1000), nullable=True),
        sa.Column(
            "key_set",
            sa.JSON(),
            nullable=True,
            comment="a key set pasted by hand; the URL is preferred when both exist",
        ),
        sa.Column(
            "org_id",
            sa.Integer(),
            nullable=True,
            comment="decides what the platform's users may see; none while pending",
        ),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "active",
                "disabled",
                name="lti_registration_status",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "unknown_deployments",
            sa.Enum(
                "reject",
                "accept",
                name="lti_deployment_policy",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("source", sa.String(length=16), nullable=False, comment="or dynamic"),
        sa.Column(
            "platform_info",
            sa.JSON(),
            nullable=False,
            comment="what Dynamic Registration learnt of the platform",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_lti_registrations_org_id_organisations"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_registrations")),
        sa.UniqueConstraint(
            "issuer", "client_id", name="uq_lti_registrations_issuer_client"
        ),
    )
    with op.batch_alter_table("lti_registrations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lti_registrations_org_id"), ["org_id"], unique=False
        )

    op.create_table(
        "lti_deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("deployment_id", sa.String(length=255), nullable=False),
        sa.Column(
            "auto_added",
            sa.Boolean(),
            nullable=False,
            comment="accepted by the unknown-deployment policy",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["lti_registrations.id"],
            name=op.f("fk_lti_deployments_registration_id_lti_registrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_deployments")),
        sa.UniqueConstraint(
            "registration_id", "deployment_id", name="uq_lti_deployments_registration"
        ),
    )
    op.create_table(
        "lti_nonces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("nonce", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["lti_registrations.id"],
            name=op.f("fk_lti_nonces_registration_id_lti_registrations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_nonces")),
        sa.UniqueConstraint(
            "registration_id", "nonce", name="uq_lti_nonces_registration"
        ),
    )
    with op.batch_alter_table("lti_nonces", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lti_nonces_expires_at"), ["expires_at"], unique=False
        )

    op.create_table(
        "lti_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("sub", sa.String(length=255), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "user_id",
            sa.Integer(),
            nullable=True,
            comment="a Kejian account an admin linked by hand",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["lti_registrations.id"],
            name=op.f("fk_lti_users_registration_id_lti_registrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_lti_users_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_users")),
        sa.UniqueConstraint("registration_id", "sub", name="uq_lti_users_sub"),
    )
    op.create_table(
        "lti_placements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("deployment_pk", sa.Integer(), nullable=True),
        sa.Column(
            "context_id", sa.String(length=255), nullable=True, comment="the course"
        ),
        sa.Column("context_title", sa.String(length=300), nullable=False),
        sa.Column("resource_link_id", sa.String(length=255), nullable=True),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("placed_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_pk"],
            ["lti_deployments.id"],
            name=op.f("fk_lti_placements_deployment_pk_lti_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["placed_by_id"],
            ["lti_users.id"],
            name=op.f("fk_lti_placements_placed_by_id_lti_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["lti_registrations.id"],
            name=op.f("fk_lti_placements_registration_id_lti_registrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_lti_placements_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_placements")),
    )
    with op.batch_alter_table("lti_placements", schema=None) as batch_op:
        batch_op.create_index(
            "ix_lti_placements_link",
            ["registration_id", "resource_link_id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_lti_placements_resource",
            ["registration_id", "resource_id"],
            unique=False,
        )

    op.create_table(
        "lti_launches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("registration_id", sa.Integer(), nullable=False),
        sa.Column("deployment_pk", sa.Integer(), nullable=False),
        sa.Column("user_pk", sa.Integer(), nullable=True),
        sa.Column("message_type", sa.String(length=64), nullable=False),
        sa.Column(
            "role",
            sa.String(length=16),
            nullable=False,
            comment="instructor or learner, as decided",
        ),
        sa.Column("context_id", sa.String(length=255), nullable=True),
        sa.Column("resource_link_id", sa.String(length=255), nullable=True),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column("placement_id", sa.Integer(), nullable=True),
        sa.Column("session_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "deep_linking",
            sa.JSON(),
            nullable=True,
            comment="the deep_linking_settings claim of a Deep Linking request",
        ),
        sa.Column(
            "responded_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="a Deep Linking response was sent (once only)",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["deployment_pk"],
            ["lti_deployments.id"],
            name=op.f("fk_lti_launches_deployment_pk_lti_deployments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["placement_id"],
            ["lti_placements.id"],
            name=op.f("fk_lti_launches_placement_id_lti_placements"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["registration_id"],
            ["lti_registrations.id"],
            name=op.f("fk_lti_launches_registration_id_lti_registrations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_lti_launches_resource_id_resources"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_pk"],
            ["lti_users.id"],
            name=op.f("fk_lti_launches_user_pk_lti_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lti_launches")),
        sa.UniqueConstraint("token", name=op.f("uq_lti_launches_token")),
    )
    with op.batch_alter_table("lti_launches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_lti_launches_deployment_pk"), ["deployment_pk"], unique=False
        )
        batch_op.create_index(
            "ix_lti_launches_registration",
            ["registration_id", "created_at"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_lti_launches_resource_id"), ["resource_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("lti_launches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lti_launches_resource_id"))
        batch_op.drop_index("ix_lti_launches_registration")
        batch_op.drop_index(batch_op.f("ix_lti_launches_deployment_pk"))

    op.drop_table("lti_launches")
    with op.batch_alter_table("lti_placements", schema=None) as batch_op:
        batch_op.drop_index("ix_lti_placements_resource")
        batch_op.drop_index("ix_lti_placements_link")

    op.drop_table("lti_placements")
    op.drop_table("lti_users")
    with op.batch_alter_table("lti_nonces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lti_nonces_expires_at"))

    op.drop_table("lti_nonces")
    op.drop_table("lti_deployments")
    with op.batch_alter_table("lti_registrations", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lti_registrations_org_id"))

    op.drop_table("lti_registrations")
    op.drop_table("lti_tool_keys")
    with op.batch_alter_table("lti_launch_states", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lti_launch_states_key"))
        batch_op.drop_index(batch_op.f("ix_lti_launch_states_expires_at"))

    op.drop_table("lti_launch_states")
