"""Change history for undo.

``system_change`` keeps, for every create, replace, patch and delete made
through the store's single-system writes, what the system looked like before
the change (``before``: the stored fields and stored children as JSON; null
for a create). Undo restores the latest entry of a system and removes it.
Bulk loads are not recorded. The table keeps the newest 100,000 entries.

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # No foreign key to system: the entry of a delete outlives its system.
    op.execute(
        """CREATE TABLE system_change (
            id INTEGER PRIMARY KEY,
            galaxy_id INTEGER NOT NULL REFERENCES galaxy(id) ON DELETE CASCADE,
            system_id INTEGER NOT NULL,
            op TEXT NOT NULL CHECK (op IN ('create', 'update', 'delete')),
            version_after INTEGER,
            before BLOB,
            at INTEGER NOT NULL
        )"""
    )
    op.execute("CREATE INDEX system_change_system ON system_change (system_id, id)")


def downgrade() -> None:
    op.execute("DROP TABLE system_change")
