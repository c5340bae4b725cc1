"""Storage: SQLAlchemy models (all tables registered on import), Alembic migrations, crypto."""

from bot.store import (
    channel_models,
    console_models,
    content_models,
    job_models,
    models,
    ops_models,
)

__all__ = [
    "channel_models",
    "console_models",
    "content_models",
    "job_models",
    "models",
    "ops_models",
]
