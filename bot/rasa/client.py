"""The one module that talks to the Rasa process (HTTP on loopback, token auth).

Rasa only ever receives intents ("/need_legal") and routing slots from a turn; free text is
sent only to ``/model/parse``, which keeps nothing. So Rasa's tracker holds no message text.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa did not answer in time or answered with an error: the conversation falls back."""


@dataclass(frozen=True)
class Parse:
    intent: str
    confidence: float
    ranking: list[tuple[str, float]]

    def share(self, intents: Iterable[str]) -> float:
        """The probability of any of ``intents`` (the crisis decision adds emergency and
        self-harm: danger often splits its weight between the two, and with report_case). Our
        classifier's ranking is a probability distribution; a reader whose scores add up to more
        than 1 (other classifiers, the test double) is read as shares of their sum."""
        wanted = set(intents)
        part = sum(score for name, score in self.ranking if name in wanted)
        total = sum(score for _, score in self.ranking)
        return part / total if total > 1.0 else part


class RasaClient:
    def __init__(
        self, base_url: str, token: str, timeout: float, hold_timeout: float = 120
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.hold_timeout = hold_timeout
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=timeout, params={"token": token}
        )
        self._open: asyncio.Event | None = None
        # Names the Rasa process answering now: set anew by whoever (re)starts it
        # (``RasaSupervisor``), so slots synced to a dead Rasa are sent again to its successor.
        self._instance = "initial"
        # For a Rasa nobody here restarts (``bot run --no-rasa``; ``follow_restarts`` sets it):
        # once a request found nobody listening after Rasa had answered, the next answer comes
        # from a Rasa restarted meanwhile, whatever request sees it first (a turn, the health
        # check). Not while the first one starts. A supervisor names its new Rasa itself.
        self.notices_restarts = False
        self._answered = self._unreachable = False

    @property
    def instance(self) -> str:
        return self._instance

    @instance.setter
    def instance(self, name: str) -> None:
        """Whoever (re)starts Rasa names the new one: the restart is known, not to be guessed."""
        self._instance = name
        self._unreachable = False

    async def aclose(self) -> None:
        await self._client.aclose()

    def hold(self) -> None:
        """Make new requests wait (a model switch is under way); nothing is dropped."""
        if self._open is None:
            self._open = asyncio.Event()
        self._open.clear()

    def release(self) -> None:
        if self._open is not None:
            self._open.set()

    async def switch(self, base_url: str) -> None:
        """Talk to another Rasa process from now on (the new model's)."""
        old = self._client
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, params={"token": self.token}
        )
        await old.aclose()

    async def _request(self, method: str, url: str, **kwargs: Any) -> Any:
        if self._open is not None and not self._open.is_set() and not kwargs.pop("bypass", False):
            try:
                await asyncio.wait_for(self._open.wait(), self.hold_timeout)
            except TimeoutError:
                raise RasaUnavailable("held too long") from None
        kwargs.pop("bypass", None)
        try:
            response = await self._client.request(method, url, **kwargs)
        except httpx.HTTPError as exc:
            refused = isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError)
            if refused and self._answered and self.notices_restarts:
                self._unreachable = True
            raise RasaUnavailable(type(exc).__name__) from None
        self._answered = True
        if self._unreachable:
            self._unreachable = False
            self._instance = uuid.uuid4().hex[:12]
            log.warning("rasa answers again; slots will be sent again")
        if response.status_code >= 400:
            raise RasaUnavailable(f"HTTP {response.status_code}")
        try:
            return response.json()
        except json.JSONDecodeError:
            raise RasaUnavailable("invalid JSON") from None

    async def ready(self) -> bool:
        try:
            status = await self._request("GET", "/status")
        except RasaUnavailable:
            return False
        return bool(status.get("model_file")) and bool(status.get("model_id"))

    async def parse(self, text: str) -> Parse:
        data = await self._request("POST", "/model/parse", json={"text": text})
        intent = data.get("intent") or {}
        ranking = [
            (str(r.get("name")), float(r.get("confidence") or 0.0))
            for r in data.get("intent_ranking") or []
        ]
        return Parse(
            str(intent.get("name") or "nlu_fallback"),
            float(intent.get("confidence") or 0.0),
            ranking,
        )

    async def send(
        self, sender: str, intent: str, entities: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Run one dialogue turn for an intent; returns Rasa's rendered messages."""
        message = "/" + intent + (json.dumps(entities) if entities else "")
        data = await self._request(
            "POST", "/webhooks/rest/webhook", json={"sender": sender, "message": message}
        )
        return list(data) if isinstance(data, list) else []

    async def set_slots(self, sender: str, slots: dict[str, Any]) -> None:
        events = [{"event": "slot", "name": k, "value": v} for k, v in slots.items()]
        await self._request(
            "POST",
            f"/conversations/{sender}/tracker/events",
            params={"token": self.token, "include_events": "NONE"},
            json=events,
        )

    async def tracker_events(self, sender: str) -> list[dict[str, Any]]:
        data = await self._request(
            "GET", f"/conversations/{sender}/tracker", params={"token": self.token}, bypass=True
        )
        return list(data.get("events") or [])

    async def replace_events(self, sender: str, events: list[dict[str, Any]]) -> None:
        await self._request(
            "PUT",
            f"/conversations/{sender}/tracker/events",
            params={"token": self.token, "include_events": "NONE"},
            json=events,
            bypass=True,
        )

    async def erase(self, sender: str) -> None:
        """Replace the conversation's tracker with nothing (Rasa 3.6 has no delete endpoint)."""
        await self._request(
            "PUT",
            f"/conversations/{sender}/tracker/events",
            params={"token": self.token, "include_events": "NONE"},
            json=[],
            bypass=True,  # exit and delete never wait behind a model switch
        )
