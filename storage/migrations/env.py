"""Alembic environment: migrations run on the engine the application built (see storage.db)."""

from alembic import context

from storage.models import Base

config = context.config
engine = config.attributes.get("engine")
if engine is None:  # pragma: no cover - only when alembic is run by hand with a URL
    from sqlalchemy import create_engine

    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite:///commstat.sqlite3")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
