"""The search index keeps row ids only.

Until this revision ``system_fts`` kept, for every trigram, the position of
each occurrence (FTS5 ``detail=full``) and the length of every column
(``columnsize``), so it could match a whole term as a phrase. Positions were
most of its size (about 170 bytes per generated system, 820 with long
``attributes``), and a phrase query walked the id list of every trigram of
the term, common ones included: its cost grew with the galaxy.

From this revision the index keeps row ids only (``detail=none``,
``columnsize=0``): about a quarter of the size and quicker to fill. A search
asks it for the rows holding the term's rarest trigrams and checks the term on
those rows (see :mod:`haven.store.search`). The upgrade rebuilds the index
from the ``system`` table: about a minute per 10 million systems.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

AUTOMERGE_OFF = 0
CRISISMERGE = 128  # as set by revision 0006


def _recreate(options: str) -> None:
    # The triggers on ``system`` name the index; they keep working across the swap.
    op.execute("DROP TABLE system_fts")
    op.execute(
        "CREATE VIRTUAL TABLE system_fts USING fts5(name, materials, attributes, "
        f"content='system', content_rowid='id', tokenize='trigram'{options})"
    )
    op.execute(f"INSERT INTO system_fts (system_fts, rank) VALUES ('automerge', {AUTOMERGE_OFF})")
    op.execute(f"INSERT INTO system_fts (system_fts, rank) VALUES ('crisismerge', {CRISISMERGE})")
    op.execute("INSERT INTO system_fts (system_fts) VALUES ('rebuild')")
    op.execute("INSERT INTO system_fts (system_fts) VALUES ('optimize')")


def upgrade() -> None:
    _recreate(", detail='none', columnsize=0")


def downgrade() -> None:
    _recreate("")
