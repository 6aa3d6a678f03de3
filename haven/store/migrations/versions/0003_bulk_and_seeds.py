"""Bulk loads: resumable job ledger, per-system procgen seed.

* ``bulk_job`` records one resumable load (``haven generate`` / ``haven import``
  of Parquet, CSV or JSONL); ``bulk_job_batch`` records every committed batch.
  Both are written in the same transaction as the batch's rows, so after a
  kill a re-run skips exactly the committed batches.
* ``system.seed``: set for procedurally generated systems; their planets,
  moons and station are derived from it on demand until somebody edits them.
* Nothing changes for the search index: a bulk batch drops the insert trigger
  inside its own transaction, fills the index for its rows with one
  ``INSERT … SELECT`` and recreates the trigger before commit (faster than a
  trigger with a ``WHEN`` flag, which costs ~3 µs per row even when skipped;
  see ``haven/store/bulk.py``).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = [
    """CREATE TABLE bulk_job (
        job_key TEXT PRIMARY KEY,
        galaxy_id INTEGER NOT NULL REFERENCES galaxy(id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        total_batches INTEGER,
        batches_done INTEGER NOT NULL DEFAULT 0,
        rows_done INTEGER NOT NULL DEFAULT 0,
        source TEXT,
        source_checksum TEXT,
        params TEXT,
        state TEXT NOT NULL DEFAULT 'running',
        started_at INTEGER NOT NULL,
        finished_at INTEGER
    ) WITHOUT ROWID""",
    """CREATE TABLE bulk_job_batch (
        job_key TEXT NOT NULL REFERENCES bulk_job(job_key) ON DELETE CASCADE,
        batch_index INTEGER NOT NULL,
        rows INTEGER NOT NULL,
        first_id INTEGER,
        last_id INTEGER,
        PRIMARY KEY (job_key, batch_index)
    ) WITHOUT ROWID""",
    "ALTER TABLE system ADD COLUMN seed INTEGER",
]

DOWNGRADE = [
    "DROP INDEX IF EXISTS system_legacy_id",
    "ALTER TABLE system DROP COLUMN seed",
    "DROP TABLE bulk_job_batch",
    "DROP TABLE bulk_job",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    # Nothing may be lost: derived details are stored before the seed column goes, and
    # systems an unfinished bulk job left outside the octree are placed in it.
    from haven.store.bulk import PENDING_LEVEL, materialize_all_seeded
    from haven.store.lod import rebuild

    conn = op.get_bind().connection.dbapi_connection
    materialize_all_seeded(conn)
    for galaxy_id, capacity in conn.execute(
        "SELECT id, lod_capacity FROM galaxy g WHERE EXISTS "
        "(SELECT 1 FROM system s WHERE s.galaxy_id = g.id AND s.lod_level = ?)",
        (PENDING_LEVEL,),
    ).fetchall():
        rebuild(conn, galaxy_id, capacity)
    for statement in DOWNGRADE:
        op.execute(statement)
