"""The additive LOD octree: node of every system, node metadata, galaxy clock.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE galaxy ADD COLUMN lod_capacity INTEGER NOT NULL DEFAULT 4096")
    op.execute("ALTER TABLE galaxy ADD COLUMN lod_clock INTEGER NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE system ADD COLUMN priority INTEGER NOT NULL DEFAULT 0")
    op.execute("ALTER TABLE system ADD COLUMN lod_level INTEGER")
    op.execute("ALTER TABLE system ADD COLUMN lod_cell INTEGER")
    op.execute(
        """CREATE TABLE lod_node (
            galaxy_id INTEGER NOT NULL,
            level INTEGER NOT NULL,
            cell INTEGER NOT NULL,
            count INTEGER NOT NULL,
            min_priority INTEGER,
            max_priority INTEGER,
            version INTEGER NOT NULL,
            PRIMARY KEY (galaxy_id, level, cell)
        ) WITHOUT ROWID"""
    )
    op.execute("CREATE INDEX system_lod ON system (galaxy_id, lod_level, lod_cell, priority)")
    # Existing systems join the octree: computed in bulk, exactly as a fresh load would.
    from haven.store.lod import rebuild_all

    rebuild_all(op.get_bind().connection.dbapi_connection)


def downgrade() -> None:
    op.execute("DROP INDEX system_lod")
    op.execute("DROP TABLE lod_node")
    op.execute("ALTER TABLE system DROP COLUMN lod_cell")
    op.execute("ALTER TABLE system DROP COLUMN lod_level")
    op.execute("ALTER TABLE system DROP COLUMN priority")
    op.execute("ALTER TABLE galaxy DROP COLUMN lod_clock")
    op.execute("ALTER TABLE galaxy DROP COLUMN lod_capacity")
