"""Alembic environment: runs Haven's migrations against the configured URL."""

from alembic import context
from sqlalchemy import create_engine, event, pool

from haven.store import search

config = context.config
engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=pool.NullPool)

if engine.dialect.name == "sqlite":
    # The search index's triggers call Haven's SQL functions (revision 0008).
    event.listen(engine, "connect", lambda dbapi_conn, _record: search.register_functions(dbapi_conn))

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
