"""Resources imported before the importer used the vocabulary's codes get them.

``kejian import`` typed videos ``micro_video``, packages ``course_package`` and
images and audio ``media``: codes the ``resource_types`` vocabulary does not hold, so
search offered them without labels, refused them as filters and 微课 did not find the
videos. They become ``micro-lecture``, ``course-package`` and ``media-asset``, and each
changed resource is queued in the index outbox, so that the next delivery (inline
after the next commit on the embedded defaults, else ``kejian worker``) rewrites its
search document. ``updated_at`` is left alone: nobody edited these resources.

The downgrade leaves the codes as they are: the old ones named nothing.

Revision ID: 0005_import_type_codes
Revises: 0004_lti_launch_locale
Create Date: 2026-12-04 23:00:00

"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0005_import_type_codes"
down_revision = "0004_lti_launch_locale"
branch_labels = None
depends_on = None

#: The importer's old codes and the vocabulary's codes for the same kinds.
RENAMED = {
    "micro_video": "micro-lecture",
    "course_package": "course-package",
    "media": "media-asset",
}

resources = sa.table(
    "resources", sa.column("id", sa.Integer), sa.column("resource_type", sa.String)
)
outbox = sa.table(
    "index_outbox",
    sa.column("resource_id", sa.Integer),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("attempts", sa.Integer),
)


def upgrade():
    connection = op.get_bind()
    changed = list(
        connection.scalars(
            sa.select(resources.c.id).where(resources.c.resource_type.in_(RENAMED))
        )
    )
    if not changed:
        return
    for old, new in RENAMED.items():
        connection.execute(
            resources.update()
            .where(resources.c.resource_type == old)
            .values(resource_type=new)
        )
    now = dt.datetime.now(dt.UTC)
    connection.execute(
        outbox.insert(),
        [{"resource_id": rid, "created_at": now, "attempts": 0} for rid in changed],
    )


def downgrade():
    pass
