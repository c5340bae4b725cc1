"""Admins teach the assistant new phrases and retrain it; the new model goes live only if it is no worse."""

from __future__ import annotations

from starlette.routing import Route

from bot.console.core import Console


def routes(console: Console) -> list[Route]:
    return []
