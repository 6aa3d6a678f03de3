"""Stored chunks: each octree node's CHNK bytes, kept beside the node.

``lod_chunk`` holds the gzip-compressed CHNK encoding of a node and the node
version it was built from. The chunk service serves it when the version still
matches (one row lookup, in any process, after any restart) and rebuilds and
replaces it when the node changed. Nothing else reads it: dropping the table
only makes the next fetch of every node slower.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """CREATE TABLE lod_chunk (
            galaxy_id INTEGER NOT NULL REFERENCES galaxy(id) ON DELETE CASCADE,
            level INTEGER NOT NULL,
            cell INTEGER NOT NULL,
            version INTEGER NOT NULL,
            body BLOB NOT NULL,
            PRIMARY KEY (galaxy_id, level, cell)
        )"""
    )


def downgrade() -> None:
    op.execute("DROP TABLE lod_chunk")
