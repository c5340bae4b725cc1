"""Admins run the service: teams, hours and holidays, exit words, crisis phrases, the audit trail."""

from __future__ import annotations

from starlette.routing import Route

from bot.console.core import Console


def routes(console: Console) -> list[Route]:
    return []
