"""A fake Rasa Open Source 3.6 server, for the tests that are about the bot and not about Rasa.

It speaks the HTTP protocol ``bot/rasa/client.py`` uses, with Rasa's shapes (read from the Rasa
3.6.21 sources: ``rasa/server.py``, ``rasa/core/processor.py``, ``rasa/core/channels/channel.py``,
``rasa/core/actions/action.py``, ``rasa/core/nlg/callback.py``):

- ``GET /status``; ``POST /model/parse``; ``POST /webhooks/rest/webhook`` (the REST channel's
  output list); ``GET /conversations/{sender}/tracker``; ``POST`` and ``PUT
  /conversations/{sender}/tracker/events``. Every route but ``/`` wants ``?token=`` (401 otherwise).
- Dialogue: the rules of ``data/core/rules.yml`` as RulePolicy applies rules this simple (a
  ``conversation_start`` rule in a session's first turn, then a rule whose first step is the action
  before the last ``action_listen``, then the intent's own rule, else the core fallback action of
  ``config.yml``), on per-sender trackers kept in memory (sessions, slots from tracker events,
  ``PUT []`` erases). Each ``utter_*`` is rendered by the bot's NLG endpoint and each custom action
  run by its action endpoint, with the request bodies Rasa sends; a failed call loses that action's
  events and the turn goes on, as in Rasa.
- Understanding: deterministic and honest. Text is folded (case, accents, punctuation); an exact
  training example of ``data/nlu/*/*.yml`` is its intent at 0.95; anything else gets the nearest
  example by word and character-trigram overlap, with a confidence that falls with the similarity,
  and ``config.yml``'s FallbackClassifier threshold turns a weak one into ``nlu_fallback``.

Privacy: the webhook may only ever receive ``/intent`` or ``/intent{json}``. Any other message is
refused (400) and recorded in ``violations``; the test fixtures fail a test that caused one.

Faults for the tests of what the bot does without Rasa: ``fail("down")`` closes the port,
``fail("slow", seconds=…)`` delays answers, ``fail("error")`` answers 500; ``recover()`` undoes it.
``received`` lists every request (``count()`` filters it).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import threading
import time
import unicodedata
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PROJECT = Path(__file__).resolve().parents[2]
RASA_VERSION = "3.6.21"
EXACT_CONFIDENCE = 0.95
ACTION_LISTEN = "action_listen"
SESSION_START = "action_session_start"
# What the gateway sends to the REST channel: an intent, maybe with entities as a JSON object.
INTENT_MESSAGE = re.compile(r"^/([A-Za-z_][\w-]*)(\{.*\})?$", re.DOTALL)
_NOT_WORD = re.compile(r"[^\w\s]|_", re.UNICODE)


def fold(text: str) -> str:
    """Case, accents and punctuation do not count: "¿Quién LEE esto?" → "quien lee esto"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(_NOT_WORD.sub(" ", plain).split())


def trigrams(folded: str) -> set[str]:
    padded = f" {folded} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


# --- the Rasa project: training examples, rules, domain, config ---


@dataclass(frozen=True)
class Example:
    intent: str
    language: str
    text: str
    folded: str
    words: frozenset[str]
    grams: frozenset[str]


@dataclass(frozen=True)
class Rule:
    name: str
    conversation_start: bool
    prior_action: str | None
    intent: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class Understanding:
    intent: str
    confidence: float
    ranking: list[dict[str, Any]]
    exact: bool


class Project:
    """What a trained model would know, read straight from the Rasa project files."""

    def __init__(self, root: Path = PROJECT) -> None:
        self.domain = yaml.safe_load((root / "domain.yml").read_text(encoding="utf-8"))
        config = yaml.safe_load((root / "config.yml").read_text(encoding="utf-8"))
        self.intents = [i if isinstance(i, str) else next(iter(i)) for i in self.domain["intents"]]
        self.responses = set(self.domain.get("responses") or {})
        self.custom_actions = set(self.domain.get("actions") or [])
        self.slots: dict[str, dict[str, Any]] = dict(self.domain.get("slots") or {})
        session = self.domain.get("session_config") or {}
        self.session_minutes = float(session.get("session_expiration_time", 60))
        self.carry_over_slots = bool(session.get("carry_over_slots_to_new_session", True))
        pipeline = {c["name"]: c for c in config.get("pipeline") or []}
        self.fallback_threshold = float(
            pipeline.get("FallbackClassifier", {}).get("threshold", 0.3)
        )
        rule_policy: dict[str, Any] = next(
            (p for p in config.get("policies") or [] if p["name"] == "RulePolicy"), {}
        )
        self.core_fallback = str(
            rule_policy.get("core_fallback_action_name", "action_default_fallback")
        )
        self.rules = [
            _rule(r)
            for f in sorted((root / "data" / "core").glob("*.yml"))
            for r in (yaml.safe_load(f.read_text(encoding="utf-8")) or {}).get("rules") or []
        ]
        self.examples = list(_examples(sorted((root / "data" / "nlu").glob("*/*.yml"))))
        self.exact: dict[str, str] = {}
        votes: dict[str, Counter[str]] = defaultdict(Counter)
        for example in self.examples:
            if example.folded:
                votes[example.folded][example.intent] += 1
        for folded, counted in votes.items():  # the majority; a tie goes to the first name
            self.exact[folded] = sorted(counted.items(), key=lambda kv: (-kv[1], kv[0]))[0][0]
        self._by_word: dict[str, list[int]] = defaultdict(list)
        self._by_gram: dict[str, list[int]] = defaultdict(list)
        for n, example in enumerate(self.examples):
            for word in example.words:
                self._by_word[word].append(n)
            for gram in example.grams:
                self._by_gram[gram].append(n)

    def initial_slots(self) -> dict[str, Any]:
        values = {name: spec.get("initial_value") for name, spec in self.slots.items()}
        values["session_started_metadata"] = None  # Rasa's own slot, in every domain
        return values

    def understand(self, text: str) -> Understanding:
        folded = fold(text)
        best: dict[str, float] = {}
        exact = self.exact.get(folded) if folded else None
        if folded:
            words, grams = set(folded.split()), trigrams(folded)
            shared_words: Counter[int] = Counter()
            shared_grams: Counter[int] = Counter()
            for word in words:
                shared_words.update(self._by_word.get(word, ()))
            for gram in grams:
                shared_grams.update(self._by_gram.get(gram, ()))
            for n in set(shared_words) | set(shared_grams):
                example = self.examples[n]
                w, g = shared_words[n], shared_grams[n]
                similarity = (
                    w / (len(words) + len(example.words) - w)
                    + g / (len(grams) + len(example.grams) - g)
                ) / 2
                if similarity > best.get(example.intent, -1.0):
                    best[example.intent] = similarity
        # An exact example is certain enough; a near one is as sure as it is similar, never more.
        confidence = {i: round(min(s * EXACT_CONFIDENCE, 0.94), 4) for i, s in best.items()}
        if exact is not None:
            confidence[exact] = EXACT_CONFIDENCE
        ranking = sorted(confidence.items(), key=lambda kv: (-kv[1], self.intents.index(kv[0])))
        ranked = [{"name": name, "confidence": value} for name, value in ranking[:10]]
        top_name, top_confidence = ranking[0] if ranking else (None, 0.0)
        if top_name is None or top_confidence < self.fallback_threshold:
            fallback = {"name": "nlu_fallback", "confidence": self.fallback_threshold}
            return Understanding(
                "nlu_fallback", self.fallback_threshold, [fallback, *ranked], False
            )
        return Understanding(top_name, top_confidence, ranked, exact is not None)

    def next_actions(self, intent: str, at_start: bool, prior_action: str | None) -> list[str]:
        """The actions RulePolicy would run for this turn (then it listens)."""
        for rule in self.rules:
            if at_start and rule.conversation_start and rule.intent == intent:
                return list(rule.actions)
        for rule in self.rules:
            if prior_action and rule.prior_action == prior_action and rule.intent == intent:
                return list(rule.actions)
        for rule in self.rules:
            if rule.prior_action is None and not rule.conversation_start and rule.intent == intent:
                return list(rule.actions)
        return [self.core_fallback]


def _rule(raw: dict[str, Any]) -> Rule:
    """A rule of the only shapes this project writes: [action], intent, action, action, …"""
    steps = list(raw.get("steps") or [])
    prior = None
    if steps and "action" in steps[0]:
        prior = str(steps.pop(0)["action"])
    if not steps or "intent" not in steps[0] or any("action" not in s for s in steps[1:]):
        raise ValueError(f"the fake Rasa cannot interpret rule {raw.get('rule')!r}")
    return Rule(
        name=str(raw.get("rule")),
        conversation_start=bool(raw.get("conversation_start", False)),
        prior_action=prior,
        intent=str(steps[0]["intent"]),
        actions=tuple(str(s["action"]) for s in steps[1:]),
    )


def _examples(files: Iterable[Path]) -> Iterable[Example]:
    for path in files:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in data.get("nlu") or []:
            intent = block.get("intent")
            if not intent:
                continue
            for line in str(block.get("examples", "")).splitlines():
                line = line.strip()
                if line.startswith("- "):
                    text = line[2:].strip()
                    folded = fold(text)
                    yield Example(
                        str(intent),
                        path.parent.name,
                        text,
                        folded,
                        frozenset(folded.split()),
                        frozenset(trigrams(folded)) if folded else frozenset(),
                    )


# --- trackers ---


@dataclass
class Tracker:
    sender_id: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def applied(self) -> list[dict[str, Any]]:
        """Events since the last session start or restart (Rasa's ``applied_events``)."""
        out: list[dict[str, Any]] = []
        for event in self.events:
            if event.get("event") in ("session_started", "restart"):
                out = []
            else:
                out.append(event)
        return out

    def slots(self, project: Project) -> dict[str, Any]:
        values = project.initial_slots()
        for event in self.events:
            kind = event.get("event")
            if kind in ("session_started", "restart"):
                values = project.initial_slots()
            elif kind == "slot" and event.get("name") in values:
                values[str(event["name"])] = event.get("value")
        return values

    def latest(self, kind: str) -> dict[str, Any] | None:
        return next((e for e in reversed(self.events) if e.get("event") == kind), None)

    def state(self, project: Project, verbosity: str = "AFTER_RESTART") -> dict[str, Any]:
        """``DialogueStateTracker.current_state`` (Rasa 3.6)."""
        user = self.latest("user")
        action = self.latest("action")
        restart = max(
            (n for n, e in enumerate(self.events) if e.get("event") == "restart"), default=-1
        )
        events: list[dict[str, Any]] | None = {
            "ALL": list(self.events),
            "AFTER_RESTART": self.events[restart + 1 :],
            "APPLIED": self.applied(),
        }.get(verbosity)
        latest_message = None
        if user is not None:
            latest_message = dict(user.get("parse_data") or {})
            latest_message["entities"] = list(latest_message.get("entities") or [])
        return {
            "sender_id": self.sender_id,
            "slots": self.slots(project),
            "latest_message": latest_message,
            "latest_event_time": self.events[-1].get("timestamp") if self.events else None,
            "followup_action": None,
            "paused": False,
            "events": [dict(e) for e in events] if events is not None else None,
            "latest_input_channel": user.get("input_channel") if user else None,
            "active_loop": {},
            "latest_action": {"action_name": action["name"]} if action else None,
            "latest_action_name": action["name"] if action else None,
        }

    def turn_context(self) -> tuple[bool, str | None]:
        """(first turn of the session?, the action before the last action_listen) for the rules,
        looked at just before the latest user message (slot events do not count)."""
        applied = self.applied()
        users = [n for n, e in enumerate(applied) if e.get("event") == "user"]
        before = applied[: users[-1]] if users else applied
        at_start = len(users) <= 1
        actions = [e["name"] for e in before if e.get("event") == "action"]
        if actions and actions[-1] == ACTION_LISTEN:
            actions.pop()
        prior = actions[-1] if actions and actions[-1] != SESSION_START else None
        return at_start, prior


# --- the server ---


@dataclass
class Received:
    method: str
    path: str
    at: float = field(default_factory=time.monotonic)


@dataclass
class Fault:
    kind: str  # down / slow / error
    path: str  # "" for every path, else a path prefix
    times: int | None
    seconds: float


class CallbackFailed(Exception):
    """The bot's NLG or action endpoint failed: Rasa logs it and loses that action's events."""


class FakeRasa:
    """``FakeRasa(token, callback_url, callback_token).serve(port)``; ``stop()`` at the end."""

    def __init__(
        self,
        token: str,
        callback_url: str,
        callback_token: str,
        project: Project | None = None,
    ) -> None:
        self.token = token
        self.callback_url = callback_url.rstrip("/")
        self.callback_token = callback_token
        self.project = project or load_project()
        self.model_id = uuid.uuid4().hex
        self.model_file = "models/fake-rasa.tar.gz"
        self.lock = threading.Lock()
        self.received: list[Received] = []
        self.violations: list[str] = []
        self.understood: list[tuple[str, Understanding]] = []  # every /model/parse, in order
        self.faults: list[Fault] = []
        self.trackers: dict[str, Tracker] = {}
        self._sender_locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._client: httpx.AsyncClient | None = None
        self.port: int | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.app = Starlette(
            routes=[
                Route("/", self._hello, methods=["GET"]),
                Route("/status", self._status, methods=["GET"]),
                Route("/model/parse", self._parse, methods=["POST"]),
                Route("/webhooks/rest/webhook", self._webhook, methods=["POST"]),
                Route("/conversations/{sender:path}/tracker", self._tracker, methods=["GET"]),
                Route(
                    "/conversations/{sender:path}/tracker/events",
                    self._events,
                    methods=["POST", "PUT"],
                ),
            ]
        )

    # --- lifecycle (a uvicorn server in a daemon thread with its own event loop) ---

    def serve(self, port: int) -> FakeRasa:
        self.port = port
        self._sender_locks = defaultdict(asyncio.Lock)  # a new event loop: new locks
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=port, log_config=None, access_log=False,
            lifespan="off",
        )  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True, name="fake-rasa")
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the fake Rasa did not start on port {port}")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = self._thread = None
        self._client = None  # it belonged to the stopped event loop

    # --- what tests tell it and read from it ---

    def fail(
        self, kind: str, *, path: str = "", times: int | None = None, seconds: float = 30.0
    ) -> None:
        """``down``: nothing listens; ``slow``: answers after ``seconds``; ``error``: HTTP 500.
        ``path`` limits slow and error to one route (a prefix); ``times`` to that many requests."""
        if kind not in ("down", "slow", "error"):
            raise ValueError(kind)
        if kind == "down":
            self.stop()
            return
        with self.lock:
            self.faults.append(Fault(kind, path, times, seconds))

    def recover(self) -> None:
        with self.lock:
            self.faults.clear()
        if self._server is None and self.port is not None:
            self.serve(self.port)

    def count(self, path: str = "", method: str | None = None) -> int:
        """Requests received whose path starts with ``path`` (and with that method)."""
        with self.lock:
            return sum(
                1
                for r in self.received
                if r.path.startswith(path) and (method is None or r.method == method)
            )

    def tracker(self, sender: str) -> list[dict[str, Any]]:
        """A copy of a conversation's events (empty if Rasa has none)."""
        with self.lock:
            found = self.trackers.get(sender)
            return [dict(e) for e in found.events] if found else []

    # --- plumbing ---

    async def _gate(self, request: Request) -> Response | None:
        """Record the request, apply a fault, check the token; a Response ends it there."""
        path = request.url.path
        with self.lock:
            self.received.append(Received(request.method, path))
            fault = next((f for f in self.faults if path.startswith(f.path)), None)
            if fault is not None and fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.seconds)
        if fault is not None and fault.kind == "error":
            return _error(500, "ServerError", "the fake Rasa was told to fail")
        if request.query_params.get("token") != self.token:
            return _error(401, "NotAuthenticated", "User is not authenticated.")
        return None

    def _get(self, sender: str) -> Tracker:
        with self.lock:
            if sender not in self.trackers:
                self.trackers[sender] = Tracker(sender)
            return self.trackers[sender]

    def _event(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {
            "event": kind,
            "timestamp": time.time(),
            "metadata": {"model_id": self.model_id, "assistant_id": "safe-harbour-assistant"},
            **fields,
        }

    def _action_event(
        self, name: str, policy: str | None = "RulePolicy", confidence: float | None = 1.0
    ) -> dict[str, Any]:
        return self._event(
            "action",
            name=name,
            policy=policy,
            confidence=confidence,
            action_text=None,
            hide_rule_turn=policy == "RulePolicy",
        )

    def _append(self, tracker: Tracker, *events: dict[str, Any]) -> None:
        """``tracker.update``: every event logged carries the model's id and the assistant's."""
        model = {"model_id": self.model_id, "assistant_id": "safe-harbour-assistant"}
        with self.lock:
            for event in events:
                tracker.events.append(
                    {**event, "metadata": {**(event.get("metadata") or {}), **model}}
                )

    def _start_session_if_needed(self, tracker: Tracker, expiry: bool) -> None:
        """``action_session_start`` on an empty tracker (or an expired session, for messages)."""
        user = tracker.latest("user")
        expired = (
            expiry
            and user is not None
            and (time.time() - float(user["timestamp"])) / 60 > self.project.session_minutes
        )
        if tracker.applied() and not expired:
            return
        carried = [
            self._event("slot", name=e["name"], value=e.get("value"))
            for e in tracker.applied()
            if e.get("event") == "slot" and self.project.carry_over_slots
        ]
        self._append(
            tracker,
            self._action_event(SESSION_START, policy=None),
            self._event("session_started"),
            *carried,
            self._action_event(ACTION_LISTEN, policy=None, confidence=None),
        )

    # --- routes ---

    async def _hello(self, request: Request) -> Response:
        with self.lock:
            self.received.append(Received(request.method, request.url.path))
        return Response(f"Hello from Rasa: {RASA_VERSION}", media_type="text/plain")

    async def _status(self, request: Request) -> Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        return JSONResponse(
            {
                "model_file": self.model_file,
                "model_id": self.model_id,
                "num_active_training_jobs": 0,
            }
        )

    async def _parse(self, request: Request) -> Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        body = await request.json()
        text = str(body.get("text") or "")
        found = self.project.understand(text)
        with self.lock:
            self.understood.append((text, found))
        return JSONResponse(
            {
                "text": text,
                "intent": {"name": found.intent, "confidence": found.confidence},
                "entities": [],
                "text_tokens": [[m.start(), m.end()] for m in re.finditer(r"\S+", text)],
                "intent_ranking": found.ranking,
            }
        )

    async def _tracker(self, request: Request) -> Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        sender = request.path_params["sender"]
        verbosity = request.query_params.get("include_events", "AFTER_RESTART").upper()
        async with self._sender_locks[sender]:
            tracker = self._get(sender)
            if not tracker.events:  # fetch_full_tracker_with_initial_session
                self._start_session_if_needed(tracker, expiry=False)
            return JSONResponse(tracker.state(self.project, verbosity))

    async def _events(self, request: Request) -> Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        sender = request.path_params["sender"]
        verbosity = request.query_params.get("include_events", "AFTER_RESTART").upper()
        body = await request.json()
        events = body if isinstance(body, list) else [body]
        if not all(isinstance(e, dict) and isinstance(e.get("event"), str) for e in events):
            return _error(400, "BadRequest", "Failed to validate the events format.")
        async with self._sender_locks[sender]:
            if request.method == "PUT":  # replaces the whole tracker; [] erases it
                with self.lock:
                    self.trackers[sender] = Tracker(sender, [dict(e) for e in events])
                return JSONResponse(self.trackers[sender].state(self.project, verbosity))
            if not events:
                return _error(400, "BadRequest", "Couldn't extract a proper event.")
            tracker = self._get(sender)
            starts_session = events[0].get("event") == "action" and (
                events[0].get("name") == SESSION_START
            )
            if not starts_session and not tracker.events:  # fetch_tracker_with_initial_session
                self._start_session_if_needed(tracker, expiry=False)
            self._append(tracker, *[{"timestamp": time.time(), **e} for e in events])
            return JSONResponse(tracker.state(self.project, verbosity))

    async def _webhook(self, request: Request) -> Response:
        refused = await self._gate(request)
        if refused is not None:
            return refused
        body = await request.json()
        sender = str(body.get("sender") or "default")
        message = body.get("message")
        found = INTENT_MESSAGE.match(message) if isinstance(message, str) else None
        entities: dict[str, Any] = {}
        if found and found.group(2):
            try:
                loaded = json.loads(found.group(2))
            except json.JSONDecodeError:
                loaded = None
            if isinstance(loaded, dict):
                entities = loaded
            else:
                found = None
        if found is None:
            # Rasa must only ever receive intents here: it would keep any text in its tracker.
            with self.lock:
                self.violations.append(f"free text sent to the REST channel for {sender}")
            return _error(400, "BadRequest", "the fake Rasa accepts only /intent{json} here")
        intent = found.group(1)
        async with self._sender_locks[sender]:
            tracker = self._get(sender)
            self._start_session_if_needed(tracker, expiry=True)
            message_id = uuid.uuid4().hex
            start = found.start(2) if found.group(2) else len(message)
            parsed = [
                {"entity": str(k), "start": start, "end": len(message), "value": v}
                for k, v in entities.items()
            ]
            self._append(
                tracker,
                self._event(
                    "user",
                    text=message,
                    parse_data={
                        "intent": {"name": intent, "confidence": 1.0},
                        "entities": parsed,
                        "text": message,
                        "message_id": message_id,
                        "metadata": {},
                        "intent_ranking": [{"name": intent, "confidence": 1.0}],
                    },
                    input_channel="rest",
                    message_id=message_id,
                ),
            )
            at_start, prior = tracker.turn_context()
            out: list[dict[str, Any]] = []
            # RulePolicy's first prediction of a turn says the intent, not the text, was used.
            self._append(
                tracker, self._event("user_featurization", use_text_for_featurization=False)
            )
            for action in self.project.next_actions(intent, at_start, prior):
                events = await self._run(action, tracker)
                self._append(tracker, self._action_event(action), *events)
                for event in events:
                    if event.get("event") == "bot":
                        out.extend(_collect(sender, event))
            self._append(tracker, self._action_event(ACTION_LISTEN))
        return JSONResponse(out)

    # --- running actions (and calling the bot back) ---

    async def _run(self, action: str, tracker: Tracker) -> list[dict[str, Any]]:
        """An action's events; a failed callback loses them, as ``MessageProcessor._run_action``
        does (it logs the exception and the bot continues)."""
        try:
            if action.startswith("utter_"):
                if action not in self.project.responses:
                    raise CallbackFailed(f"no response {action} in the domain")
                draft = await self._nlg(action, tracker, {})
                return [self._bot_event(draft, action)] if draft else []
            if action not in self.project.custom_actions:
                raise CallbackFailed(f"no action {action} in the domain")
            return await self._custom(action, tracker)
        except CallbackFailed:
            return []

    async def _call(self, path: str, body: dict[str, Any]) -> Any:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=10)
        try:
            response = await self._client.post(
                f"{self.callback_url}{path}", params={"token": self.callback_token}, json=body
            )
        except httpx.HTTPError as exc:
            raise CallbackFailed(f"{path}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise CallbackFailed(f"{path}: HTTP {response.status_code}")
        try:
            return response.json()
        except json.JSONDecodeError:
            raise CallbackFailed(f"{path}: not JSON") from None

    async def _nlg(
        self, response: str, tracker: Tracker, arguments: dict[str, Any]
    ) -> dict[str, Any] | None:
        """``CallbackNaturalLanguageGenerator.generate``: the request body of Rasa 3.6 and the
        check of ``nlg_response_format_spec``."""
        body = {
            "response": response,
            "id": None,  # the domain's responses have no ids
            "arguments": arguments,
            "tracker": tracker.state(self.project, "ALL"),
            "channel": {"name": "collector"},  # the REST channel's CollectingOutputChannel
        }
        draft = await self._call("/rasa/nlg", body)
        if draft is None or draft == "":
            return None
        if not isinstance(draft, dict) or not _valid_nlg(draft):
            raise CallbackFailed("NLG web endpoint returned an invalid response.")
        return draft

    async def _custom(self, action: str, tracker: Tracker) -> list[dict[str, Any]]:
        """``RemoteAction.run``: the action server request and the handling of its answer."""
        body = {
            "next_action": action,
            "sender_id": tracker.sender_id,
            "tracker": tracker.state(self.project, "ALL"),
            "version": RASA_VERSION,
            "domain": self.project.domain,
        }
        result = await self._call("/rasa/actions", body)
        if (
            not isinstance(result, dict)
            or not isinstance(result.get("events", []), list)
            or not isinstance(result.get("responses", []), list)
        ):
            raise CallbackFailed("invalid action server response")
        uttered: list[dict[str, Any]] = []
        for response in result.get("responses") or []:
            response = dict(response)
            name = response.pop("response", None)
            if name:
                draft = await self._nlg(name, tracker, response)
                if not draft:
                    continue
            else:
                draft = {}
            buttons = response.pop("buttons", []) or []
            if buttons:
                draft.setdefault("buttons", [])
                draft["buttons"].extend(buttons)
            draft.update({k: v for k, v in response.items() if v})
            uttered.append(self._bot_event(draft, name))
        returned = [
            {"timestamp": time.time(), **e}
            for e in result.get("events") or []
            if isinstance(e, dict) and e.get("event")
        ]
        return uttered + returned

    def _bot_event(self, draft: dict[str, Any], utter_action: str | None) -> dict[str, Any]:
        """``create_bot_utterance``: text apart, the rich parts as data, the rest as metadata."""
        message = dict(draft)
        if utter_action:
            message["utter_action"] = utter_action
        text = message.pop("text", None)
        data = {
            "elements": message.pop("elements", None),
            "quick_replies": message.pop("quick_replies", None),
            "buttons": message.pop("buttons", None),
            "attachment": message.pop("attachment", None) or message.get("image"),
            "image": message.pop("image", None),
            "custom": message.pop("custom", None),
        }
        return {
            "event": "bot",
            "timestamp": time.time(),
            "metadata": message,
            "text": text,
            "data": data,
        }


def _collect(recipient: str, bot: dict[str, Any]) -> list[dict[str, Any]]:
    """What ``OutputChannel.send_response`` gives the REST channel's collector for one BotUttered:
    text with buttons as one message, plain text split at blank lines, custom JSON apart."""
    message = {**(bot.get("data") or {}), "text": bot.get("text")}
    if message.get("image") == message.get("attachment"):
        message["attachment"] = None

    def one(**parts: Any) -> dict[str, Any]:
        return {"recipient_id": recipient, **{k: v for k, v in parts.items() if v is not None}}

    out: list[dict[str, Any]] = []
    if message.get("quick_replies"):
        out.append(one(text=message.get("text"), buttons=message["quick_replies"]))
    elif message.get("buttons"):
        out.append(one(text=message.get("text"), buttons=message["buttons"]))
    elif message.get("text"):
        out.extend(one(text=part) for part in str(message["text"]).strip().split("\n\n"))
    if message.get("custom"):
        out.append(one(custom=message["custom"]))
    if message.get("image"):
        out.append(one(image=message["image"]))
    if message.get("attachment"):
        out.append(one(attachment=message["attachment"]))
    return out


def _valid_nlg(draft: dict[str, Any]) -> bool:
    """``nlg_response_format_spec`` of Rasa 3.6, without jsonschema."""
    kinds: dict[str, tuple[type, ...]] = {
        "text": (str,),
        "id": (str, type(None)),
        "buttons": (list, type(None)),
        "elements": (list, type(None)),
        "attachment": (dict, type(None)),
        "image": (str, type(None)),
        "custom": (dict,),
    }
    for key, allowed in kinds.items():
        if key in draft and not isinstance(draft[key], allowed):
            return False
    return all(
        isinstance(item, dict) for key in ("buttons", "elements") for item in draft.get(key) or []
    )


def _error(status: int, reason: str, message: str) -> JSONResponse:
    """Rasa's ``ErrorResponse`` body."""
    return JSONResponse(
        {
            "version": RASA_VERSION,
            "status": "failure",
            "message": message,
            "reason": reason,
            "details": {},
            "help": None,
            "code": status,
        },
        status_code=status,
    )


@functools.lru_cache(maxsize=1)
def load_project() -> Project:
    """The project's files, read and indexed once per test session."""
    return Project()
