"""What an admin sees beside a message while editing it: the checks of ``bot/nlg/lint.py``
(errors and warnings, reading grade against its limit, length) and a phone preview (the lock-screen
line, the bubble with every placeholder filled from the real directory and settings, its buttons).
It is apart from the editor because it is computed for every keystroke the live checks send and
for every page load, from many parts of the runtime (directory, renderer, handoff card), none of
which the editor's own logic needs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.console.auth import Staff
from bot.console.core import Console
from bot.directory.service import Directory
from bot.handoff.card import LANGUAGE_NAMES, card_text
from bot.nlg import edits
from bot.nlg.catalog import source_texts
from bot.nlg.lint import LOCK_SCREEN_CHARS, MAX_GRADE, MAX_LENGTH, PLACEHOLDER, reading_grade
from bot.nlg.messages import BUTTON_TEXTS, MESSAGES
from bot.nlg.render import RenderContext
from bot.store.models import HandoffRequest


@dataclass
class Preview:
    notification: str  # the first line as a lock screen shows it
    text: str  # the whole bubble, placeholders filled with sample values
    buttons: list[str]  # the message's buttons in its language, or the label being edited
    button: bool  # the text is a button label


def sample_values(console: Console, language: str, staff: Staff) -> dict[str, str]:
    """Realistic values for every placeholder, from the directory and the settings."""
    rt = console.rt
    with rt.db.session() as s:
        directory = Directory(s)
        countries = directory.likely_countries(language, None, limit=1)
        country = countries[0] if countries else None
        ctx = RenderContext(language, "telegram", country=country)
        values = {k: str(v) for k, v in rt.renderer.all_values(ctx, directory).items()}
        hotline = next(iter(directory.hotlines(country, limit=1)), None)
        req = HandoffRequest(language=language, country=country, needs=["legal"], safety={})
        values["card"] = card_text(rt.renderer, ctx, req)
        if hotline is not None:
            phones = hotline.phones or []
            values["name"] = hotline.name
            values["contact"] = rt.renderer.contact_text(hotline, ctx, first_only=True)
            values["number"] = str(phones[0].get("number", "")) if phones else ""
            values["email"] = hotline.email or ""
            values["address"] = hotline.address or ""

    def t(key: str, **more: Any) -> str:
        return rt.renderer.t(key, ctx, **more)

    values.update(
        staff_name=staff.display_name,
        position="2",
        minutes="10",
        n="1",
        total="3",
        wait_estimate=t("queue_wait_estimate", minutes=10),
        categories=", ".join(t(k) for k in ("category_legal", "category_labour")),
        value=LANGUAGE_NAMES.get(language, language),
        free=t("fact_yes"),
        confidential=t("fact_yes"),
        authorities=t("fact_no"),
    )
    return values


def preview(console: Console, key: str, language: str, text: str, staff: Staff) -> Preview:
    values = sample_values(console, language, staff)
    # Only {name} placeholders are filled: no format specs, so a draft cannot reach anything else.
    filled = PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
    first = filled.split("\n", 1)[0]
    if len(first) > LOCK_SCREEN_CHARS:
        first = first[: LOCK_SCREEN_CHARS - 1].rstrip() + "…"
    if key in BUTTON_TEXTS:
        return Preview(first, filled, [text], button=True)
    definition = MESSAGES.get(key)
    defs = definition.buttons if definition else ()
    buttons = [console.rt.catalog.text(b.key, language) for b in defs]
    return Preview(first, filled, buttons, button=False)


def checks_context(
    console: Console, key: str, language: str, text: str, staff: Staff
) -> dict[str, Any]:
    with console.rt.db.session() as s:
        problems = edits.lint(s, key, language, text) if key in source_texts() else []
    definition = MESSAGES.get(key)
    return {
        "problems": problems,
        "errors": [p for p in problems if p.severity == "error"],
        "grade": reading_grade(text, language),
        "grade_limit": MAX_GRADE[bool(definition and definition.safety_critical)],
        "length": len(text),
        "max_length": MAX_LENGTH,
        "preview": preview(console, key, language, text, staff),
        "bot_name": console.settings.bot_name,
    }
