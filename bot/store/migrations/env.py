"""Alembic environment: runs on the engine the application hands over (see Database.migrate)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from bot.settings import get_settings
from bot.store import (  # noqa: F401 - register their tables
    channel_models,
    console_models,
    content_models,
    job_models,
    ops_models,
)
from bot.store.db import normalise_url
from bot.store.models import Base

config = context.config
engine = config.attributes.get("connection_engine")
if engine is None:
    engine = create_engine(normalise_url(get_settings().sqlalchemy_url))

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
