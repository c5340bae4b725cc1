"""Offer one to three directory entries for a need, asking the country first when unknown."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.directory.service import Directory
from bot.needs import NEED_CATEGORIES
from bot.nlg.render import RenderContext, Renderer
from bot.rasa.inflight import CallbackContexts
from bot.store.db import Database
from bot.store.models import Awaiting


class ActionFindServices(Action):  # rasa_sdk ships no type hints (pyproject: actions.*)
    """Built once by the composition root with what it needs (bot/runtime.py)."""

    def __init__(self, renderer: Renderer, db: Database, contexts: CallbackContexts) -> None:
        self.renderer = renderer
        self.db = db
        self.contexts = contexts

    def name(self) -> str:
        return "action_find_services"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        need = NEED_CATEGORIES.get(str(intent)) or tracker.get_slot("need")
        events: list[EventType] = []
        if need != tracker.get_slot("need"):
            events.append(SlotSet("need", need))
        ctx = self.contexts.for_sender(tracker.sender_id, tracker.current_slot_values())
        if need is None:
            self._send(dispatcher, ctx, "utter_menu")
            return events
        answered_country_question = intent in ("inform_country", "skip")
        if ctx.country is None and not answered_country_question:
            self._send(dispatcher, ctx, "utter_ask_country", awaiting=Awaiting.COUNTRY)
            return events
        with self.db.session() as s:
            directory = Directory(s)
            countries = (
                [ctx.country]
                if ctx.country
                else directory.likely_countries(ctx.language, ctx.country_hint, limit=3)
            )
            services = directory.find(need, countries, limit=3, filters=ctx.filters)
            replies = self.renderer.service_cards(services, ctx, ctx.country is None, directory)
        for reply in replies:
            dispatcher.utter_message(text=reply.text, json_message={"key": reply.key, "need": need})
        self._send(dispatcher, ctx, "utter_offer_human")
        return events

    def _send(
        self,
        dispatcher: CollectingDispatcher,
        ctx: RenderContext,
        key: str,
        awaiting: str | None = None,
    ) -> None:
        """Render a message here (with its buttons) and tag it for the conversation layer."""
        with self.db.session() as s:
            directory = Directory(s)
            buttons = (
                self.renderer.country_buttons(ctx, directory)
                if key == "utter_ask_country"
                else None
            )
            reply = self.renderer.render(key, ctx, directory, buttons=buttons)
        custom: dict[str, Any] = {"key": key, "roles": [b.role for b in reply.buttons]}
        if awaiting:
            custom["awaiting"] = awaiting
        dispatcher.utter_message(
            text=reply.text,
            buttons=[{"title": b.title, "payload": b.payload} for b in reply.buttons],
            json_message=custom,
        )
