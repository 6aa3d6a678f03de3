"""The octree's change feed: nodes found by version.

A node's ``version`` is the galaxy's ``lod_clock`` at the write that last
changed it, so "every node changed since clock V" is a range of this index:
O(log n + changes) for the map's live updates (``GET /api/v1/chunks/changes``)
and for the server's background chunk rebuild, whatever the galaxy's size.

Revision ID: 0009
Revises: 0008
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE INDEX lod_node_version ON lod_node (galaxy_id, version)")


def downgrade() -> None:
    op.execute("DROP INDEX lod_node_version")
