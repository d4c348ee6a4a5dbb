"""Workspace: upload batches and resumable upload sessions, review decisions,
notifications, favourites, recently viewed, collections and their items.

Only new tables, so no lock is taken on existing ones and the upgrade is instant.

Revision ID: 0003_workspace
Revises: 0002_lti_tool
Create Date: 2026-12-03 20:10:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003_workspace"
down_revision = "0002_lti_tool"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "collections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=24), nullable=False, comment="link token"),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column(
            "org_id",
            sa.Integer(),
            nullable=True,
            comment="the audience is counted from here",
        ),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "audience",
            sa.Enum(
                "owner",
                "school",
                "district",
                "city",
                "public",
                name="collection_audience",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["org_id"],
            ["organisations.id"],
            name=op.f("fk_collections_org_id_organisations"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_collections_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_collections")),
        sa.UniqueConstraint("slug", name=op.f("uq_collections_slug")),
    )
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collections_owner_id"), ["owner_id"], unique=False
        )

    op.create_table(
        "upload_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("owner_org_id", sa.Integer(), nullable=False),
        sa.Column(
            "metadata",
            sa.JSON(),
            nullable=False,
            comment="resource fields as codes, chapters ids",
        ),
        sa.Column(
            "visibility",
            sa.Enum(
                "owner",
                "school",
                "district",
                "city",
                "public",
                name="batch_visibility",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
            comment="asked for each resource once its file is in",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_org_id"],
            ["organisations.id"],
            name=op.f("fk_upload_batches_owner_org_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_upload_batches_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_batches")),
    )
    with op.batch_alter_table("upload_batches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_upload_batches_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "collection_items",
        sa.Column("collection_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["collections.id"],
            name=op.f("fk_collection_items_collection_id_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_collection_items_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "collection_id", "resource_id", name=op.f("pk_collection_items")
        ),
    )
    with op.batch_alter_table("collection_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_collection_items_resource_id"), ["resource_id"], unique=False
        )

    op.create_table(
        "favourites",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_favourites_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_favourites_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "resource_id", name=op.f("pk_favourites")),
    )
    with op.batch_alter_table("favourites", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_favourites_resource_id"), ["resource_id"], unique=False
        )

    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "approved",
                "rejected",
                name="notification_kind",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column(
            "data",
            sa.JSON(),
            nullable=False,
            comment="title, visibility, note, by whom",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_notifications_resource_id_resources"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_user_created", ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "recent_views",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_recent_views_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_recent_views_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "resource_id", name=op.f("pk_recent_views")),
    )
    with op.batch_alter_table("recent_views", schema=None) as batch_op:
        batch_op.create_index(
            "ix_recent_views_user_viewed", ["user_id", "viewed_at"], unique=False
        )

    op.create_table(
        "review_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resource_id", sa.Integer(), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("approved", sa.Boolean(), nullable=False),
        sa.Column(
            "visibility",
            sa.Enum(
                "owner",
                "school",
                "district",
                "city",
                "public",
                name="decision_visibility",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
            comment="the visibility asked for",
        ),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_review_decisions_resource_id_resources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["users.id"],
            name=op.f("fk_review_decisions_reviewer_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_decisions")),
    )
    with op.batch_alter_table("review_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_review_decisions_resource_id"), ["resource_id"], unique=False
        )

    op.create_table(
        "upload_sessions",
        sa.Column("id", sa.String(length=32), nullable=False, comment="random hex"),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column(
            "length", sa.BigInteger(), nullable=False, comment="Upload-Length in bytes"
        ),
        sa.Column("offset", sa.BigInteger(), nullable=False, comment="bytes received"),
        sa.Column(
            "state",
            sa.Enum(
                "receiving",
                "stored",
                "refused",
                name="upload_state",
                native_enum=False,
                create_constraint=True,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column(
            "error", sa.Text(), nullable=True, comment="why the file was refused"
        ),
        sa.Column("resource_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "expires_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="an unfinished upload is removed after this",
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["upload_batches.id"],
            name=op.f("fk_upload_sessions_batch_id_upload_batches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resource_id"],
            ["resources.id"],
            name=op.f("fk_upload_sessions_resource_id_resources"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_upload_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload_sessions")),
    )
    with op.batch_alter_table("upload_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_upload_sessions_batch_id"), ["batch_id"], unique=False
        )
        batch_op.create_index(
            "ix_upload_sessions_expires", ["expires_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_upload_sessions_user_id"), ["user_id"], unique=False
        )


def downgrade():
    with op.batch_alter_table("upload_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upload_sessions_user_id"))
        batch_op.drop_index("ix_upload_sessions_expires")
        batch_op.drop_index(batch_op.f("ix_upload_sessions_batch_id"))

    op.drop_table("upload_sessions")
    with op.batch_alter_table("review_decisions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_decisions_resource_id"))

    op.drop_table("review_decisions")
    with op.batch_alter_table("recent_views", schema=None) as batch_op:
        batch_op.drop_index("ix_recent_views_user_viewed")

    op.drop_table("recent_views")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_user_created")

    op.drop_table("notifications")
    with op.batch_alter_table("favourites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_favourites_resource_id"))

    op.drop_table("favourites")
    with op.batch_alter_table("collection_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collection_items_resource_id"))

    op.drop_table("collection_items")
    with op.batch_alter_table("upload_batches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_upload_batches_user_id"))

    op.drop_table("upload_batches")
    with op.batch_alter_table("collections", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_collections_owner_id"))

    op.drop_table("collections")
