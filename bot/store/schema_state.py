"""Say what a migration did: created a database, updated it, or found it up to date.

A newcomer's first `make run` used to print "database is up to date" on a database it had just
created, and fifteen lines of Alembic's own log before it. `migrate_and_describe` runs the same
migrations as ``Database.migrate`` and returns one sentence a person can trust instead.
"""

from __future__ import annotations

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from bot.store.db import Database


def revisions(engine: Engine) -> frozenset[str]:
    """The schema's current Alembic heads (empty on a brand-new database)."""
    with engine.connect() as conn:
        return frozenset(MigrationContext.configure(conn).get_current_heads())


def where(url: str) -> str:
    """The database named for a person, without its password (PostgreSQL URLs may carry one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or "memory"
    return parsed.render_as_string(hide_password=True)


def migrate_and_describe(db: Database) -> str:
    """Migrate ``db`` and say what happened, in one line."""
    before = revisions(db.engine)
    db.migrate()
    after = revisions(db.engine)
    place = where(db.url)
    if not before:
        return f"created the database ({place})"
    if before != after:
        return f"updated the database to the current schema ({place})"
    return f"database is up to date ({place})"
