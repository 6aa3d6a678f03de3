"""The search index merges its segments off the write path.

FTS5 merges index segments inside the commit of the write that triggers it
(``automerge``, 4 by default). On a large galaxy that work makes a single
insert's commit cost several milliseconds, now and then far more. From this
revision ``automerge`` is 0: a write only adds its own small segment. The
server merges segments from its background maintenance thread
(``SQLiteStore.start_background_maintenance``), and FTS5's ``crisismerge``
still bounds the number of segments per level when no server runs.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("INSERT INTO system_fts (system_fts, rank) VALUES ('automerge', 0)")


def downgrade() -> None:
    op.execute("INSERT INTO system_fts (system_fts, rank) VALUES ('automerge', 4)")
