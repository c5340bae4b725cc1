"""Admins edit every message in every language: live checks, phone preview, approval, history."""

from __future__ import annotations

from starlette.routing import Route

from bot.console.core import Console


def routes(console: Console) -> list[Route]:
    return []
