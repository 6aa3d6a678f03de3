"""Stored chunks are built again, so each carries the galaxy's cube.

Chunks stored before this revision wrote the galaxy's *name* in the CHNK
metadata field ``galaxy``, which the format defines as the galaxy's cube
(``{"centre": [x, y, z], "half_size": h}``, see ``docs/formats/chnk.md``). A
stored chunk is served for as long as its node does not change, so those bytes
would have gone on being served. The upgrade forgets every stored chunk: the
chunk service builds each node's chunk again at its first fetch and stores it
(about 10 ms per node, once). Nothing else reads ``lod_chunk``.

The downgrade has nothing to undo: the table and its rows' meaning are the
same at revision 0010.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM lod_chunk")


def downgrade() -> None:
    pass
