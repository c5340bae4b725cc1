"""Admins keep the service directory true: search, edit, retire, what needs checking, HSDS files."""

from __future__ import annotations

from starlette.routing import Route

from bot.console.core import Console


def routes(console: Console) -> list[Route]:
    return []
