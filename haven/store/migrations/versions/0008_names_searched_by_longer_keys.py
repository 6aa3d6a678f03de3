"""Names get a search index of their own, with five-character keys.

Until this revision one trigram index (``system_fts``) held names, materials
and attributes. A trigram is in about one name of a thousand whatever the
galaxy's size, so a rare name or code (``DP-09753``) walked id lists that grew
with the galaxy: 0.3 ms at a million systems, 1.4 ms at ten million, 20 ms at
a hundred million.

From this revision ``system_fts`` holds materials and attributes only, and
``system_fts_name`` holds the case-folded name's trigrams and its
five-character sequences (see :mod:`haven.store.search`). Its triggers call
two SQL functions that every Haven connection registers. The upgrade rebuilds
both indexes from the ``system`` table: about two minutes per 10 million
systems.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

AUTOMERGE_OFF = 0
CRISISMERGE = 128  # as set by revisions 0006 and 0007
_IDS_ONLY = "detail='none', columnsize=0"

_OLD_TRIGGERS = ("system_fts_insert", "system_fts_delete", "system_fts_update")
_NEW_TRIGGERS = _OLD_TRIGGERS + ("system_fts_name_insert", "system_fts_name_delete", "system_fts_name_update")


def _configure(index: str) -> None:
    op.execute(f"INSERT INTO {index} ({index}, rank) VALUES ('automerge', {AUTOMERGE_OFF})")
    op.execute(f"INSERT INTO {index} ({index}, rank) VALUES ('crisismerge', {CRISISMERGE})")


def upgrade() -> None:
    for trigger in _OLD_TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger}")
    op.execute("DROP TABLE system_fts")
    op.execute(
        "CREATE VIRTUAL TABLE system_fts USING fts5(materials, attributes, "
        f"content='system', content_rowid='id', tokenize='trigram', {_IDS_ONLY})"
    )
    op.execute(
        "CREATE VIRTUAL TABLE system_fts_name USING fts5(name, grams, "
        f"content='', tokenize='trigram case_sensitive 1', {_IDS_ONLY})"
    )
    for index in ("system_fts", "system_fts_name"):
        _configure(index)
    op.execute("INSERT INTO system_fts (system_fts) VALUES ('rebuild')")
    op.execute(
        "INSERT INTO system_fts_name (rowid, name, grams) "
        "SELECT id, haven_fold(name), haven_name_grams(name) FROM system"
    )
    for statement in (
        """CREATE TRIGGER system_fts_insert AFTER INSERT ON system BEGIN
            INSERT INTO system_fts (rowid, materials, attributes) VALUES (new.id, new.materials, new.attributes);
        END""",
        """CREATE TRIGGER system_fts_delete AFTER DELETE ON system BEGIN
            INSERT INTO system_fts (system_fts, rowid, materials, attributes)
            VALUES ('delete', old.id, old.materials, old.attributes);
        END""",
        """CREATE TRIGGER system_fts_update AFTER UPDATE OF materials, attributes ON system BEGIN
            INSERT INTO system_fts (system_fts, rowid, materials, attributes)
            VALUES ('delete', old.id, old.materials, old.attributes);
            INSERT INTO system_fts (rowid, materials, attributes) VALUES (new.id, new.materials, new.attributes);
        END""",
        """CREATE TRIGGER system_fts_name_insert AFTER INSERT ON system BEGIN
            INSERT INTO system_fts_name (rowid, name, grams)
            VALUES (new.id, haven_fold(new.name), haven_name_grams(new.name));
        END""",
        """CREATE TRIGGER system_fts_name_delete AFTER DELETE ON system BEGIN
            INSERT INTO system_fts_name (system_fts_name, rowid, name, grams)
            VALUES ('delete', old.id, haven_fold(old.name), haven_name_grams(old.name));
        END""",
        """CREATE TRIGGER system_fts_name_update AFTER UPDATE OF name ON system BEGIN
            INSERT INTO system_fts_name (system_fts_name, rowid, name, grams)
            VALUES ('delete', old.id, haven_fold(old.name), haven_name_grams(old.name));
            INSERT INTO system_fts_name (rowid, name, grams)
            VALUES (new.id, haven_fold(new.name), haven_name_grams(new.name));
        END""",
    ):
        op.execute(statement)
    for index in ("system_fts", "system_fts_name"):
        op.execute(f"INSERT INTO {index} ({index}) VALUES ('optimize')")


def downgrade() -> None:
    for trigger in _NEW_TRIGGERS:
        op.execute(f"DROP TRIGGER {trigger}")
    op.execute("DROP TABLE system_fts_name")
    op.execute("DROP TABLE system_fts")
    op.execute(
        "CREATE VIRTUAL TABLE system_fts USING fts5(name, materials, attributes, "
        f"content='system', content_rowid='id', tokenize='trigram', {_IDS_ONLY})"
    )
    _configure("system_fts")
    op.execute("INSERT INTO system_fts (system_fts) VALUES ('rebuild')")
    op.execute("INSERT INTO system_fts (system_fts) VALUES ('optimize')")
    for statement in (
        """CREATE TRIGGER system_fts_insert AFTER INSERT ON system BEGIN
            INSERT INTO system_fts (rowid, name, materials, attributes)
            VALUES (new.id, new.name, new.materials, new.attributes);
        END""",
        """CREATE TRIGGER system_fts_delete AFTER DELETE ON system BEGIN
            INSERT INTO system_fts (system_fts, rowid, name, materials, attributes)
            VALUES ('delete', old.id, old.name, old.materials, old.attributes);
        END""",
        """CREATE TRIGGER system_fts_update AFTER UPDATE OF name, materials, attributes ON system BEGIN
            INSERT INTO system_fts (system_fts, rowid, name, materials, attributes)
            VALUES ('delete', old.id, old.name, old.materials, old.attributes);
            INSERT INTO system_fts (rowid, name, materials, attributes)
            VALUES (new.id, new.name, new.materials, new.attributes);
        END""",
    ):
        op.execute(statement)
