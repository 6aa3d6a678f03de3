"""Both search indexes say which galaxy each system is in.

Until this revision a search asked the indexes for every system of the
database holding the term and then dropped those of other galaxies. A search
in a small galaxy beside a big one walked the big one's matches: "Carbon" in a
galaxy of one system took 104 ms beside a million generated systems, and
grew with the other galaxy.

From this revision each index has a ``galaxy`` column holding one key per
row, three characters of Unicode's last private-use plane made from the
galaxy's id (:func:`haven.store.search.galaxy_key`). A search in a galaxy
holding less than half of the database's systems names that key too, and
FTS5 walks only the galaxy's own ids. ``system_fts`` reads its text through the
view ``system_search_text`` (``system``'s text columns and the key), so it
stays an index over external content that ``'rebuild'`` and
``'integrity-check'`` work on.

The upgrade rebuilds both indexes from the ``system`` table: about two
minutes per 10 million systems. The downgrade rebuilds them without the
column.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

AUTOMERGE_OFF = 0
CRISISMERGE = 128  # as set by revisions 0006 to 0008
_IDS_ONLY = "detail='none', columnsize=0"
_TRIGGERS = ("system_fts_insert", "system_fts_delete", "system_fts_update",
             "system_fts_name_insert", "system_fts_name_delete", "system_fts_name_update")
# search.galaxy_key() as SQL over "<row>.galaxy_id" (spelled out here: a revision must not change when the code does).
_KEY = "char(1114109, 1048576 + ({row}.galaxy_id >> 15), 1048576 + ({row}.galaxy_id & 32767))"


def _build(with_galaxy: bool) -> None:
    """Create both indexes, fill them from ``system`` and create their triggers."""
    galaxy_column = ", galaxy" if with_galaxy else ""
    if with_galaxy:
        op.execute(f"CREATE VIEW system_search_text AS SELECT id, materials, attributes, {_KEY.format(row='system')} "
                   "AS galaxy FROM system")
    content = "system_search_text" if with_galaxy else "system"
    op.execute(f"CREATE VIRTUAL TABLE system_fts USING fts5(materials, attributes{galaxy_column}, "
               f"content='{content}', content_rowid='id', tokenize='trigram', {_IDS_ONLY})")
    op.execute(f"CREATE VIRTUAL TABLE system_fts_name USING fts5(name, grams{galaxy_column}, "
               f"content='', tokenize='trigram case_sensitive 1', {_IDS_ONLY})")
    for index in ("system_fts", "system_fts_name"):
        op.execute(f"INSERT INTO {index} ({index}, rank) VALUES ('automerge', {AUTOMERGE_OFF})")
        op.execute(f"INSERT INTO {index} ({index}, rank) VALUES ('crisismerge', {CRISISMERGE})")
    op.execute("INSERT INTO system_fts (system_fts) VALUES ('rebuild')")
    key = f", {_KEY.format(row='system')}" if with_galaxy else ""
    op.execute(f"INSERT INTO system_fts_name (rowid, name, grams{galaxy_column}) "
               f"SELECT id, haven_fold(name), haven_name_grams(name){key} FROM system")

    def values(row: str, *columns: str) -> str:
        return ", ".join([f"{row}.id", *(f"{c}({row}.name)" if c.startswith("haven_") else f"{row}.{c}"
                                         for c in columns)] + ([_KEY.format(row=row)] if with_galaxy else []))

    text, name = ("materials", "attributes"), ("haven_fold", "haven_name_grams")
    text_cols, name_cols = f"materials, attributes{galaxy_column}", f"name, grams{galaxy_column}"
    moved = ", galaxy_id" if with_galaxy else ""
    for index, cols, vals, watched in (("system_fts", text_cols, text, f"materials, attributes{moved}"),
                                       ("system_fts_name", name_cols, name, f"name{moved}")):
        add = f"INSERT INTO {index} (rowid, {cols}) VALUES ({values('new', *vals)});"
        drop = f"INSERT INTO {index} ({index}, rowid, {cols}) VALUES ('delete', {values('old', *vals)});"
        op.execute(f"CREATE TRIGGER {index}_insert AFTER INSERT ON system BEGIN {add} END")
        op.execute(f"CREATE TRIGGER {index}_delete AFTER DELETE ON system BEGIN {drop} END")
        op.execute(f"CREATE TRIGGER {index}_update AFTER UPDATE OF {watched} ON system BEGIN {drop} {add} END")
    for index in ("system_fts", "system_fts_name"):
        op.execute(f"INSERT INTO {index} ({index}) VALUES ('optimize')")


def _drop(with_galaxy: bool) -> None:
    for trigger in _TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger}")
    op.execute("DROP TABLE system_fts_name")
    op.execute("DROP TABLE system_fts")
    if with_galaxy:
        op.execute("DROP VIEW system_search_text")


def upgrade() -> None:
    _drop(with_galaxy=False)
    _build(with_galaxy=True)


def downgrade() -> None:
    _drop(with_galaxy=True)
    _build(with_galaxy=False)
