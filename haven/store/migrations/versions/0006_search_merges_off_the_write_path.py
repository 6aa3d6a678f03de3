"""The search index merges its segments off the write path.

FTS5 merges index segments inside the commit of the write that triggers it
(``automerge``, 4 by default). On a large galaxy that work makes a single
insert's commit cost several milliseconds, now and then far more. From this
revision ``automerge`` is 0: a write only adds its own small segment. The
server merges segments from its background maintenance thread
(``SQLiteStore.start_background_maintenance``) twice a second.

``crisismerge`` (16 by default) is the number of segments on one level at
which FTS5 merges that whole level inside the write that reached it; a level
can hold the big segments a bulk load left, so that write could take seconds.
It is raised to 128 so a burst of writes between two maintenance rounds never
reaches it (a search reads at most that many small extra segments meanwhile).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


CRISISMERGE = 128


def upgrade() -> None:
    op.execute("INSERT INTO system_fts (system_fts, rank) VALUES ('automerge', 0)")
    op.execute(f"INSERT INTO system_fts (system_fts, rank) VALUES ('crisismerge', {CRISISMERGE})")


def downgrade() -> None:
    op.execute("INSERT INTO system_fts (system_fts, rank) VALUES ('automerge', 4)")
    op.execute("INSERT INTO system_fts (system_fts, rank) VALUES ('crisismerge', 16)")
