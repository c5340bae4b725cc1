"""The security scenario of ``make bench``: crisis replies while the console is attacked and used.

Issue #12 asks that "a crisis reply stays under one second while sign-in is hammered and an import
runs". This module holds the two loads, driven over HTTP against the real bot process exactly as
clients would: ``Hammer`` posts wrong passwords to /console/signin from several concurrent
clients (each attempt for a new address, so no per-account delay makes it cheap: every one costs
an Argon2 check), and ``ConsoleAdmin`` signs in, uploads a large HSDS zip of CSV tables, waits for
its check and applies it. ``__main__`` measures crisis replies from Telegram contacts, idle and
under both loads, side by side. Nothing is asserted; the figures are for people to read.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import html
import io
import re
import secrets
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bot.console.auth import Accounts
from bot.directory.hsds import exporting
from bot.settings import Settings
from bot.store.crypto import Crypto
from bot.store.db import Database
from bot.store.models import Organization, Service

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
STATE = re.compile(r'id="import-result"[^>]*data-state="([a-z]+)"')
ADMIN_EMAIL = "bench-admin@example.org"
ADMIN_PASSWORD = "bench admin password, long enough"


def console_env() -> dict[str, str]:
    """The bot's settings for this scenario: the rate limits lifted (every wrong password then
    reaches the password check, the worst case for the CPU) and no second step for the bench's
    admin (it signs in with a password alone)."""
    return {
        "BOT_CONSOLE_SIGNIN_PER_IP_PER_MINUTE": "1000000",
        "BOT_CONSOLE_SIGNIN_PER_MINUTE": "1000000",
        "BOT_CONSOLE_TOTP_ROLES": "[]",
    }


def create_admin(data_dir: Path, secret_key: str) -> None:
    """The bench's admin account, in the bot's own database (the bot has migrated it)."""
    settings = Settings(data_dir=data_dir, secret_key=secret_key)
    db = Database(settings.sqlalchemy_url)
    try:
        Accounts(db, settings, Crypto(settings.key())).create(
            ADMIN_EMAIL, "admin", "Bench", ADMIN_PASSWORD, [], "en"
        )
    finally:
        db.dispose()


def directory_zip(services: int) -> tuple[bytes, int, int]:
    """An HSDS zip of CSV tables with ``services`` valid new entries, as an export makes it;
    returns (the zip, its CSV bytes unpacked, its CSV rows)."""
    org = Organization(id="bench-org", name="Bench network", description="", url=None)
    items = []
    for i in range(services):
        svc = Service(
            id=f"bench-{i:05d}",
            name=f"Bench service {i}",
            description="A service made up for the benchmark.",
            country=("MX", "GT", "PE", "BR", "US")[i % 5],
            region="Region",
            categories=[("legal", "shelter", "medical", "labour")[i % 4]],
            languages=["es", "en"],
            phones=[
                {"number": f"+52 55 {1000 + i % 9000} {1000 + i % 7000}", "kind": "voice"},
                {"number": f"+52 55 {2000 + i % 8000} 0000", "kind": "whatsapp"},
            ],
            email=None,
            hours={"text": "Mon-Fri 9-17", "timezone": "America/Mexico_City", "open_24_7": False},
            free=True,
            confidential=True,
            may_involve_police=False,
            may_share_with_immigration=False,
            for_children=False,
            lgbtq_affirming=None,
            public_address=False,
            address=None,
            source="https://example.org/bench",
            last_verified=dt.date.today(),
            verified_by="Bench",
            status="active",
        )
        svc.organization = org
        items.append(exporting.service_to_hsds(svc))
    body = exporting.zip_bytes({"services": items})
    with zipfile.ZipFile(io.BytesIO(body)) as zf:
        unpacked = sum(i.file_size for i in zf.infolist() if i.filename.endswith(".csv"))
        rows = sum(
            max(0, zf.read(i).decode().count("\n") - 1)
            for i in zf.infolist()
            if i.filename.endswith(".csv")
        )
    return body, unpacked, rows


def _csrf(page: str) -> str | None:
    found = CSRF.search(page)
    return html.unescape(found.group(1)) if found else None


@dataclass
class Hammer:
    """Clients posting wrong passwords to the sign-in form as fast as they are answered."""

    base: str
    clients: int
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._one()) for _ in range(self.clients)]

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def attempts(self) -> int:
        return sum(self.statuses.values())

    async def _one(self) -> None:
        async with httpx.AsyncClient(base_url=self.base, timeout=60) as client:
            token: str | None = None
            while not self._stop.is_set():
                try:
                    if token is None:
                        token = _csrf((await client.get("/console/signin")).text)
                        continue
                    answer = await client.post(
                        "/console/signin",
                        data={
                            "email": f"nobody-{secrets.token_hex(6)}@example.org",
                            "password": "wrong password " + secrets.token_hex(4),
                            "csrf": token,
                        },
                    )
                except httpx.HTTPError:
                    self.errors += 1
                    await asyncio.sleep(0.1)
                    continue
                self.statuses[answer.status_code] += 1
                token = _csrf(answer.text)  # each answer sets a new form token


@dataclass
class ImportRun:
    services: int
    zip_bytes: int
    csv_bytes: int
    csv_rows: int
    state: str = ""
    upload_seconds: float = 0.0  # the upload's POST, answered once the job has started
    check_seconds: float = 0.0
    apply_seconds: float = 0.0

    def json(self) -> dict[str, Any]:
        return {
            "services": self.services,
            "zip_bytes": self.zip_bytes,
            "csv_bytes": self.csv_bytes,
            "csv_rows": self.csv_rows,
            "state": self.state,
            "upload_seconds": round(self.upload_seconds, 2),
            "check_seconds": round(self.check_seconds, 1),
            "apply_seconds": round(self.apply_seconds, 1),
        }


class ConsoleAdmin:
    """An admin in the console, over HTTP: signs in, uploads, waits, applies."""

    def __init__(self, base: str) -> None:
        self.client = httpx.AsyncClient(base_url=base, timeout=120, follow_redirects=True)

    async def sign_in(self) -> None:
        form = await self.client.get("/console/signin")
        answer = await self.client.post(
            "/console/signin",
            data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf": _csrf(form.text)},
        )
        if not answer.url.path.endswith("/queue"):
            raise RuntimeError(f"the bench admin could not sign in ({answer.status_code})")

    async def run_import(self, body: bytes, run: ImportRun, poll: float = 0.5) -> None:
        page = await self.client.get("/console/directory/import")
        started = time.monotonic()
        job = await self.client.post(
            "/console/directory/import",
            data={"csrf": _csrf(page.text) or "", "action": "check"},
            files={"file": ("bench-directory.zip", body, "application/zip")},
        )
        run.upload_seconds = time.monotonic() - started
        path = job.url.path
        if "/directory/import/" not in path:
            raise RuntimeError(f"the import was not started ({job.status_code})")
        checked = await self._until_settled(path, poll)
        run.check_seconds = time.monotonic() - started
        run.state = _state(checked.text)
        if run.state != "checked":
            return
        started = time.monotonic()
        await self.client.post(f"{path}/apply", data={"csrf": _csrf(checked.text) or ""})
        done = await self._until_settled(path, poll)
        run.apply_seconds = time.monotonic() - started
        run.state = _state(done.text)

    async def _until_settled(self, path: str, poll: float) -> httpx.Response:
        while True:
            panel = await self.client.get(f"{path}/progress")
            if _state(panel.text) not in ("checking", "applying"):
                return panel
            await asyncio.sleep(poll)

    async def aclose(self) -> None:
        await self.client.aclose()


def _state(page: str) -> str:
    found = STATE.search(page)
    return found.group(1) if found else "unknown"
