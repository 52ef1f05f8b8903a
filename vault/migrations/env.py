"""Alembic environment: the URL comes from the caller's Config, never from a file."""

from alembic import context

from vault.db import Base, make_engine
from vault.models import *  # noqa: F403  (registers every table on Base.metadata)

config = context.config
url = config.get_main_option("sqlalchemy.url")
if url is None:
    raise RuntimeError("sqlalchemy.url must be set by vault.migrate")

if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=True,  # SQLite needs batch mode to alter tables
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()
