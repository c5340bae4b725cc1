"""Turn message keys into replies in the conversation's language, filled from the directory.

Both Rasa's NLG endpoint and the conversation's deterministic paths (crisis, exit, delete,
fallback) render through here, so every text comes from the same catalogs.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from babel import Locale

from bot.directory.service import Directory, shown_name
from bot.languages import NATIVE_NAMES
from bot.nlg.catalog import Catalog
from bot.nlg.messages import BUTTON_TEXTS, MESSAGES, Button
from bot.platforms import platform
from bot.safety.commands import Command, CommandMatcher
from bot.safety.screen import CrisisKind
from bot.settings import Settings
from bot.store.models import Service
from bot.types import Reply, ReplyButton

LANGUAGE_NAMES = NATIVE_NAMES


# The crisis reply for whose danger it is (bot/safety/screen.py); ``_unknown_country`` variants.
CRISIS_KEYS: dict[CrisisKind, str] = {
    "self": "utter_crisis",
    "self_harm": "utter_self_harm",
    "others": "utter_crisis_others",
}


# Wording for a young person (under 18, bot/safety/people.py), where it differs: the one limit of
# confidentiality is said wherever privacy or the police come up.
YOUNG_VARIANTS: dict[str, str] = {
    "utter_privacy": "utter_privacy_young",
    "utter_status": "utter_status_young",
}
# A person who speaks of themselves is never thanked "for caring about someone".
FIRST_PERSON_VARIANTS: dict[str, str] = {"utter_report_case": "utter_report_case_self"}


def platform_keeps_key(channel: str) -> str:
    """The sentence on what the messaging platform itself keeps (``platform_keeps_<name>``), or
    the general one for a platform without its own (the terminal, an unknown channel): a whole
    translated sentence, never an English platform name dropped into another language."""
    key = f"platform_keeps_{platform(channel).name}"
    return key if key in MESSAGES else "platform_keeps_other"


# How many likely countries' numbers a reply shows when the country is not known.
EXAMPLES = 3


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


class _Values(dict[str, Any]):
    """Placeholder values computed only when a text asks for them, then kept: most texts use
    two or three of them, and several need the database."""

    def __init__(self, compute: dict[str, Callable[[], Any]]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: str) -> Any:
        make = self._compute.get(key)
        if make is None:
            return ""
        value = self[key] = make()
        return value

    def resolved(self) -> dict[str, Any]:
        """Every value, computed now (the console's preview shows them all)."""
        return {key: self[key] for key in self._compute}


@dataclass
class RenderContext:
    language: str
    channel: str
    country: str | None = None
    country_hint: str | None = None
    now: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))
    young: bool = False  # the person said they are under 18
    filters: frozenset[str] = frozenset()  # what they asked services to be (people.FILTERS)
    first_person: bool = False  # this turn's message is about the writer, no one else


class HoursText(Protocol):
    """The team's hours in words (bot/handoff/hours.py), for ``{hours}`` and ``{next_open}``."""

    def describe(self, language: str) -> str: ...

    def describe_next(self, now: dt.datetime, language: str) -> str: ...


class Renderer:
    def __init__(self, settings: Settings, catalog: Catalog, hours: HoursText) -> None:
        self.settings = settings
        self.catalog = catalog
        self.hours = hours

    # --- building blocks ---

    def t(self, key: str, ctx: RenderContext, **values: Any) -> str:
        text = self.catalog.text(key, ctx.language)
        if not values:
            return text
        return string.Formatter().vformat(text, (), _Blank(values))

    def country_name(self, code: str | None, language: str) -> str:
        if not code:
            return ""
        return str(Locale.parse(language).territories.get(code, code))

    @staticmethod
    def is_country(code: str) -> bool:
        """A two-letter code Babel names as a territory (a country a person can be in)."""
        return len(code) == 2 and code.isalpha() and code in Locale.parse("en").territories

    def outside_country(
        self, ctx: RenderContext, directory: Directory, code: str, number: str | None
    ) -> Reply:
        """A country the directory does not list: its shared emergency number when there is one,
        never another country's; then a person."""
        name = self.country_name(code, ctx.language)
        if number:
            return self.render(
                "utter_outside_directory", ctx, directory, country_name=name, emergency=number
            )
        return self.render("utter_outside_directory_no_number", ctx, directory, country_name=name)

    def which_country(
        self, ctx: RenderContext, directory: Directory, codes: tuple[str, ...]
    ) -> Reply:
        """A place name several countries share: a button for each of them."""
        buttons = [
            ReplyButton(
                self.country_name(code, ctx.language)[:20], f'/inform_country{{"country":"{code}"}}'
            )
            for code in codes
        ]
        return self.render("utter_ask_which_country", ctx, directory, buttons=buttons)

    def all_values(self, ctx: RenderContext, directory: Directory) -> dict[str, Any]:
        return self.variables(ctx, directory).resolved()

    def variables(self, ctx: RenderContext, directory: Directory) -> _Values:
        """Every placeholder a message may use, each computed only if the text asks for it."""
        lang = ctx.language

        def emergency() -> str:
            number = directory.emergency(ctx.country)
            return number.number if number else self.emergency_examples(ctx, directory)

        return _Values(
            {
                "bot_name": lambda: self.settings.bot_name,
                "org_name": lambda: self.settings.org_name_in(lang),
                "exit_word": lambda: CommandMatcher.keyword(Command.EXIT, lang),
                "menu_word": lambda: CommandMatcher.keyword(Command.MENU, lang),
                "person_word": lambda: CommandMatcher.keyword(Command.PERSON, lang),
                "back_word": lambda: CommandMatcher.keyword(Command.BACK, lang),
                "delete_word": lambda: CommandMatcher.keyword(Command.DELETE, lang),
                "emergency": emergency,
                "health_emergency": lambda: self.health_emergency(ctx, directory),
                "self_harm_line": lambda: self.self_harm_line(ctx, directory),
                "emergency_examples": lambda: self.emergency_examples(ctx, directory),
                "country_name": lambda: self.country_name(ctx.country, lang),
                "hotline_lines": lambda: self.hotline_lines(ctx, directory),
                "child_line": lambda: self.child_line(ctx, directory),
                "hours": lambda: self.hours.describe(lang),
                "next_open": lambda: self.hours.describe_next(ctx.now, lang),
                "platform_keeps": lambda: self.t(platform_keeps_key(ctx.channel), ctx),
                "ttl_hours": lambda: self.settings.transcript_ttl_hours,
            }
        )

    def emergency_examples(self, ctx: RenderContext, directory: Directory) -> str:
        """Numbers for the likely countries, each with its country: never one number for all.
        Three of them: with the support lines and the offer of a person, a fourth took a crisis
        reply past 500 characters."""
        parts = []
        for code in directory.likely_countries(ctx.language, ctx.country_hint, limit=EXAMPLES):
            number = directory.emergency(code)
            if number:
                parts.append(f"{self.country_name(code, ctx.language)} {number.number}")
        return ", ".join(parts)

    def health_emergency(self, ctx: RenderContext, directory: Directory) -> str:
        """For self-harm: the general or ambulance number before the police."""
        number = directory.health_emergency(ctx.country)
        return number.number if number else self.emergency_examples(ctx, directory)

    def self_harm_line(self, ctx: RenderContext, directory: Directory) -> str:
        """The line that comes first in a self-harm reply: the country's suicide or crisis line,
        or, with no country yet, those of the likely countries; empty when there is none (the
        reply then goes straight to the emergency number)."""
        if ctx.country:
            line = directory.crisis_line(ctx.country)
            return self.t("self_harm_line", ctx, number=line.number) if line else ""
        parts = []
        for code in directory.likely_countries(ctx.language, ctx.country_hint, limit=EXAMPLES):
            line = directory.crisis_line(code)
            if line:
                parts.append(f"{self.country_name(code, ctx.language)} {line.number}")
        if not parts:
            return ""
        return self.t("self_harm_line_examples", ctx, examples=", ".join(parts))

    def child_line(self, ctx: RenderContext, directory: Directory) -> str:
        """The line for children and young people: the country's, or with no country yet those
        of the likely countries; said plainly when there is none."""
        if ctx.country:
            line = directory.child_line(ctx.country)
            return (
                self.t("child_line", ctx, number=line.number)
                if line
                else self.t("no_child_line", ctx)
            )
        parts = []
        for code in directory.likely_countries(ctx.language, ctx.country_hint, limit=4):
            line = directory.child_line(code)
            if line:
                parts.append(f"{self.country_name(code, ctx.language)} {line.number}")
        if not parts:
            return self.t("no_child_line", ctx)
        return self.t("child_line_examples", ctx, examples=", ".join(parts))

    def variant(self, key: str, ctx: RenderContext) -> str:
        """The wording of ``key`` for this person (YOUNG_VARIANTS, FIRST_PERSON_VARIANTS)."""
        if ctx.young and key in YOUNG_VARIANTS:
            return YOUNG_VARIANTS[key]
        if ctx.first_person and key in FIRST_PERSON_VARIANTS:
            return FIRST_PERSON_VARIANTS[key]
        return key

    def no_voice_line(self, ctx: RenderContext, directory: Directory, shown: str = "") -> str:
        """For someone who cannot call: the country's numbers that work without a voice call
        (those not already in ``shown``, the rest of the message), else, honestly, that there
        is none and that a person can answer here in writing; then that the numbers to call are
        for someone near them."""
        found = directory.without_voice(ctx.country) if ctx.country else []
        parts = []
        if not found:
            parts.append(self.t("crisis_no_voice_none", ctx))
        ways = [
            self.t(f"service_contact_{how}", ctx, number=number)
            if f"service_contact_{how}" in MESSAGES
            else number
            for how, number in found
            if number not in shown
        ]
        if ways:
            parts.append(self.t("crisis_no_voice_lines", ctx, ways=", ".join(ways)))
        parts.append(self.t("crisis_voice_note", ctx))
        return " ".join(parts)

    def hotline_lines(self, ctx: RenderContext, directory: Directory) -> str:
        countries = (
            [ctx.country]
            if ctx.country
            # One: a toll-free line works only inside its country, and the reply must stay short.
            else directory.likely_countries(ctx.language, ctx.country_hint, limit=1)
        )
        lines = []
        for code in countries:
            for svc in directory.hotlines(code, limit=1, filters=ctx.filters):
                contact = self.contact_text(svc, ctx, first_only=True)
                shown = shown_name(svc, ctx.language)
                name = (
                    shown if ctx.country else f"{shown} ({self.country_name(code, ctx.language)})"
                )
                lines.append(self.t("hotline_line", ctx, name=name, contact=contact))
        if not lines:
            return self.t("no_hotline_line", ctx)
        return "\n".join(lines)

    def contact_text(self, svc: Service, ctx: RenderContext, first_only: bool = False) -> str:
        parts = []
        for phone in svc.phones or []:
            kind = phone.get("kind", "voice")
            if kind == "voice" and "no_voice" in ctx.filters:
                continue  # they cannot call: only what they can use
            key = f"service_contact_{kind}"
            if key not in MESSAGES:
                key = "service_contact_voice"
            parts.append(self.t(key, ctx, number=phone.get("number", "")))
            if first_only:
                break
        if svc.email and not (first_only and parts):
            parts.append(self.t("service_contact_email", ctx, email=svc.email))
        website = svc.organization.url if svc.organization else None
        if not parts and website:
            # Some services take requests only through their website's form (a return
            # programme, a legal clinic): the site is then the way to reach them.
            parts.append(self.t("service_contact_web", ctx, url=website))
        return ", ".join(parts)

    def buttons(self, defs: tuple[Button, ...], ctx: RenderContext) -> list[ReplyButton]:
        return [ReplyButton(self.t(b.key, ctx), b.payload, b.role) for b in defs]

    # --- whole replies ---

    def render(
        self,
        key: str,
        ctx: RenderContext,
        directory: Directory,
        buttons: list[ReplyButton] | None = None,
        **extra: Any,
    ) -> Reply:
        key = self.variant(key, ctx)
        values = self.variables(ctx, directory)
        values.update(extra)
        text = string.Formatter().vformat(self.catalog.text(key, ctx.language), (), values)
        definition = MESSAGES.get(key)
        if buttons is None:
            buttons = self.buttons(definition.buttons, ctx) if definition else []
        return Reply(text=text, buttons=buttons, key=key)

    def language_buttons(self, ctx: RenderContext) -> list[ReplyButton]:
        order = [ctx.language] + [x for x in self.settings.languages if x != ctx.language]
        return [
            ReplyButton(LANGUAGE_NAMES.get(code, code), f'/choose_language{{"language":"{code}"}}')
            for code in order
        ]

    def country_buttons(
        self, ctx: RenderContext, directory: Directory, with_skip: bool = True
    ) -> list[ReplyButton]:
        codes = directory.likely_countries(ctx.language, ctx.country_hint, limit=5)
        buttons = [
            ReplyButton(
                self.country_name(code, ctx.language)[:20], f'/inform_country{{"country":"{code}"}}'
            )
            for code in codes
        ]
        if with_skip:
            buttons.append(ReplyButton(self.t("button_skip", ctx), "/skip", "no"))
        return buttons

    def first_contact(self, ctx: RenderContext, directory: Directory) -> list[Reply]:
        intro = self.render("utter_first_contact", ctx, directory)
        offer = self.render(
            "utter_language_offer", ctx, directory, buttons=self.language_buttons(ctx)
        )
        ask = self.render("utter_ask_safe_to_chat", ctx, directory)
        return [intro, offer, ask]

    def crisis(
        self,
        ctx: RenderContext,
        directory: Directory,
        kind: CrisisKind,
        language_confident: bool,
        new: bool = False,
    ) -> list[Reply]:
        """Numbers first, then the offer of a person; a country question only after both. The
        wording follows whose danger it is: the writer's, self-harm, or someone else's.

        At most two messages, the numbers once: a new conversation's introduction is the short
        one (no numbers) and carries the country question when there is one (A1, A7)."""
        known = directory.emergency(ctx.country) is not None
        key = CRISIS_KEYS[kind] + ("" if known else "_unknown_country")
        first = self.render(key, ctx, directory)
        # A placeholder with nothing to say (no crisis line) leaves no empty line behind.
        first.text = "\n".join(line for line in first.text.split("\n") if line.strip())
        if not language_confident:
            # A2: language not yet known: add the short line in Spanish and English too.
            others = [x for x in ("es", "en") if x != ctx.language]
            extra = [self.t("crisis_short_line", RenderContext(x, ctx.channel)) for x in others]
            first.text = first.text + "\n" + "\n".join(extra)
        if "no_voice" in ctx.filters:
            # They cannot call: what works without a voice call comes first, or, honestly, that
            # there is none here and that this chat can reach a person (the numbers after it
            # are for someone near them who can call).
            head, _, rest = first.text.partition("\n")
            first.text = f"{head}\n{self.no_voice_line(ctx, directory, rest)}\n{rest}"
        replies = [first]
        if not known:
            key = "utter_first_contact_crisis_pick_country" if new else "utter_crisis_pick_country"
            buttons = self.country_buttons(ctx, directory, with_skip=False)
            replies.append(self.render(key, ctx, directory, buttons=buttons))
        elif new:
            replies.append(self.render("utter_first_contact_crisis", ctx, directory))
        return replies

    def service_cards(
        self, services: list[Service], ctx: RenderContext, any_country: bool, directory: Directory
    ) -> list[Reply]:
        if not services:
            if ctx.country and directory.emergency(ctx.country):
                # A named country with nothing listed: its own number, never another country's.
                reply = self.render("utter_no_services_country", ctx, directory)
                if "no_voice" in ctx.filters:  # and what works without a call, or that none does
                    reply.text += "\n" + self.no_voice_line(ctx, directory, reply.text)
                return [reply]
            return [self.render("utter_no_services", ctx, directory)]
        intro_key = "utter_services_intro_any_country" if any_country else "utter_services_intro"
        replies = [self.render(intro_key, ctx, directory)]
        for n, svc in enumerate(services, start=1):
            replies.append(Reply(text=self.card(svc, n, len(services), ctx), key="service_card"))
        return replies

    def card(self, svc: Service, n: int, total: int, ctx: RenderContext) -> str:
        """One service. Its name comes after the numbers, hours and kind of help: names often say
        what the service is about ("… Trafficking Hotline"), and a lock screen shows the first
        characters of a message whatever line they are on (bot/nlg/lint.py, ``revealing``)."""
        cats = [c for c in svc.categories or [] if f"category_{c}" in MESSAGES]
        lines = [self.t("service_card_title", ctx, n=n, total=total)]
        contact = self.contact_text(svc, ctx)
        if contact:
            lines.append(contact + ".")
        hours = svc.hours or {}
        if hours.get("open_24_7"):
            lines.append(self.t("service_open_always", ctx))
        elif hours.get("text"):
            lines.append(self.t("service_hours", ctx, hours=hours["text"]))
        else:
            lines.append(self.t("service_hours_unknown", ctx))
        if cats:
            names = ", ".join(self.t(f"category_{c}", ctx) for c in cats)
            lines.append(self.t("service_helps_with", ctx, categories=names))
        country = self.country_name(svc.country, ctx.language)
        lines.append(f"{shown_name(svc, ctx.language)} ({country})")
        if svc.public_address and svc.address:  # G3: never a confidential address
            lines.append(self.t("service_address", ctx, address=svc.address))
        if svc.gender_only in ("women", "men"):
            lines.append(self.t(f"service_{svc.gender_only}_only", ctx))
        if svc.for_children:
            lines.append(self.t("service_for_children", ctx))
        if "lgbtq" in ctx.filters:
            lines.append(self.t("service_lgbtq", ctx, value=self._fact(svc.lgbtq_affirming, ctx)))
        lines.append(
            self.t(
                "service_facts",
                ctx,
                free=self._fact(svc.free, ctx),
                confidential=self._fact(svc.confidential, ctx),
                police=self._fact(svc.may_involve_police, ctx),
                immigration=self._fact(svc.may_share_with_immigration, ctx),
            )
        )
        return "\n".join(lines)

    def _fact(self, value: bool | None, ctx: RenderContext) -> str:
        if value is None:
            return self.t("fact_unknown", ctx)
        return self.t("fact_yes" if value else "fact_no", ctx)


def button_text_keys() -> list[str]:
    return list(BUTTON_TEXTS)
