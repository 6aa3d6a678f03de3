"""Initial schema: galaxies, regions, systems with Morton codes, children, search index.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

UPGRADE = [
    """CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID""",
    """CREATE TABLE galaxy (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        frame TEXT NOT NULL DEFAULT 'galactic-ly',
        centre_x_ly REAL NOT NULL DEFAULT 0,
        centre_y_ly REAL NOT NULL DEFAULT 0,
        centre_z_ly REAL NOT NULL DEFAULT 0,
        half_size_ly REAL NOT NULL,
        system_count INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL
    )""",
    """CREATE TABLE region (
        id INTEGER PRIMARY KEY,
        galaxy_id INTEGER NOT NULL REFERENCES galaxy(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        bounds TEXT,
        system_count INTEGER NOT NULL DEFAULT 0,
        UNIQUE (galaxy_id, name)
    )""",
    """CREATE TABLE system (
        id INTEGER PRIMARY KEY,
        galaxy_id INTEGER NOT NULL REFERENCES galaxy(id),
        region_id INTEGER REFERENCES region(id),
        name TEXT NOT NULL,
        x REAL NOT NULL,
        y REAL NOT NULL,
        z REAL NOT NULL,
        code INTEGER NOT NULL,
        fauna TEXT,
        flora TEXT,
        sentinel TEXT,
        materials TEXT,
        base_location TEXT,
        photo TEXT,
        attributes TEXT,
        glyph TEXT,
        legacy_id TEXT,
        provenance TEXT,
        confidence REAL,
        extra TEXT,
        version INTEGER NOT NULL DEFAULT 1,
        created_at INTEGER NOT NULL,
        modified_at INTEGER NOT NULL
    )""",
    "CREATE UNIQUE INDEX system_name ON system (galaxy_id, name)",
    "CREATE INDEX system_region_name ON system (region_id, name)",
    "CREATE INDEX system_code ON system (galaxy_id, code)",
    """CREATE TABLE planet (
        id INTEGER PRIMARY KEY,
        system_id INTEGER NOT NULL REFERENCES system(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        sentinel TEXT, fauna TEXT, flora TEXT, properties TEXT, materials TEXT,
        base_location TEXT, photo TEXT, notes TEXT, extra TEXT
    )""",
    "CREATE UNIQUE INDEX planet_system ON planet (system_id, position)",
    """CREATE TABLE moon (
        id INTEGER PRIMARY KEY,
        planet_id INTEGER NOT NULL REFERENCES planet(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        sentinel TEXT, fauna TEXT, flora TEXT, properties TEXT, materials TEXT,
        base_location TEXT, photo TEXT, notes TEXT,
        orbit_radius REAL, orbit_speed REAL, extra TEXT
    )""",
    "CREATE UNIQUE INDEX moon_planet ON moon (planet_id, position)",
    """CREATE TABLE space_station (
        system_id INTEGER PRIMARY KEY REFERENCES system(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        x REAL, y REAL, z REAL,
        race TEXT, sell_percent REAL, buy_percent REAL, extra TEXT
    )""",
    """CREATE VIRTUAL TABLE system_fts USING fts5(
        name, materials, attributes,
        content='system', content_rowid='id', tokenize='trigram'
    )""",
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
]

DOWNGRADE = [
    "DROP TRIGGER system_fts_update",
    "DROP TRIGGER system_fts_delete",
    "DROP TRIGGER system_fts_insert",
    "DROP TABLE system_fts",
    "DROP TABLE space_station",
    "DROP TABLE moon",
    "DROP TABLE planet",
    "DROP TABLE system",
    "DROP TABLE region",
    "DROP TABLE galaxy",
    "DROP TABLE meta",
]


def upgrade() -> None:
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
