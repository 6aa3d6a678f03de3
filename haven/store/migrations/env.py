"""Alembic environment: runs Haven's migrations against the configured URL.

Each migration is one transaction, together with the revision it writes down: a
run killed or failing halfway leaves the database at the last revision that
finished, with none of the unfinished one's changes, and running it again
finishes the job.

So a migration must not end that transaction: no ``executescript()`` (it commits
first), no ``commit()`` on the raw connection, and nothing SQLite refuses or
ignores inside a transaction (``VACUUM``, ``PRAGMA journal_mode``,
``PRAGMA foreign_keys``).
"""

import sqlite3


from alembic import context
from sqlalchemy import Connection, create_engine, event, pool
from sqlalchemy.pool import ConnectionPoolEntry

from haven.store import search

config = context.config
engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)

if engine.dialect.name == "sqlite":

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # The search index's triggers call Haven's SQL functions (revision 0008).
        search.register_functions(dbapi_conn)
        # Python's sqlite3 opens a transaction only before INSERT, UPDATE and DELETE, so
        # every CREATE, DROP and ALTER would commit on its own. Begin explicitly instead
        # (below): SQLite's schema changes are transactional.
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
