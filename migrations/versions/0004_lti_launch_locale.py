"""LTI launches record the page language the platform asked for.

One nullable column without a default: PostgreSQL and SQLite add it without
rewriting the table, so the upgrade is instant.

Revision ID: 0004_lti_launch_locale
Revises: 0003_workspace
Create Date: 2026-12-04 17:30:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004_lti_launch_locale"
down_revision = "0003_workspace"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("lti_launches") as batch:
        batch.add_column(
            sa.Column(
                "locale",
                sa.String(length=16),
                nullable=True,
                comment="page language from launch_presentation (zh_CN or en)",
            )
        )


def downgrade():
    with op.batch_alter_table("lti_launches") as batch:
        batch.drop_column("locale")
