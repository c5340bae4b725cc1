"""A fresh installation gets its first admin account through a one-time link, once."""

from __future__ import annotations

from pathlib import Path

from conftest import make_settings
from sqlalchemy import select

from bot.console.cli_staff import first_admin_invite
from bot.store.console_models import StaffUser
from bot.store.db import Database


def test_first_admin_is_created_once(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    db = Database(settings.sqlalchemy_url)
    db.migrate()
    link = first_admin_invite(db, settings)
    assert link is not None and "/console/invite/" in link
    with db.session() as s:
        users = list(s.scalars(select(StaffUser)))
        assert [(u.email, u.role, u.password_hash) for u in users] == [
            ("admin@localhost", "admin", None)
        ]
    assert first_admin_invite(db, settings) is None
    db.dispose()
