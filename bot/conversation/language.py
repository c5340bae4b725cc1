"""Which language the replies use: detected, kept, offered, or chosen by the person."""

from __future__ import annotations

from bot.conversation.context import TurnContext
from bot.conversation.parts import Parts
from bot.language import decide
from bot.safety.commands import LANGUAGE_NAMES
from bot.safety.text import fold_command
from bot.store.models import Awaiting


def apply_detection(p: Parts, ctx: TurnContext) -> None:
    """Settle this message's language before anything is rendered (never flips on one word)."""
    msg, conv, languages = ctx.msg, ctx.conv, p.settings.languages
    hint = msg.language_hint if msg.language_hint in languages else None
    # A code word says nothing about the person's language (and is read by nothing but its hash).
    code_word = conv.awaiting in (Awaiting.CODE_WORD, Awaiting.CODE_WORD_CHECK)
    if msg.payload or not msg.text or ctx.screening.command is not None or code_word:
        if conv.language is None:
            conv.language = hint or p.settings.default_language
        return
    detection = p.detector.detect(msg.text)
    current = conv.language if (conv.language_confirmed or not ctx.is_new) else None
    if current is None and ctx.screening.language_hint:
        hint = ctx.screening.language_hint
    decision = decide(
        current,
        conv.language_candidate,
        detection,
        hint,
        p.settings.default_language,
        text=msg.text,
    )
    conv.language = decision.language
    conv.language_candidate = decision.candidate
    if decision.confident:
        conv.language_confirmed = True


def choose(p: Parts, ctx: TurnContext, language: str) -> None:
    if language not in p.settings.languages:
        menu(p, ctx)
        return
    conv = ctx.conv
    conv.language = language
    conv.language_confirmed = True
    conv.language_candidate = None
    ctx.contact.language = language
    ctx.answer(p.renderer.render("utter_language_set", ctx.render, ctx.directory))


def menu(p: Parts, ctx: TurnContext) -> None:
    r = ctx.render
    buttons = p.renderer.language_buttons(r)
    ctx.answer(p.renderer.render("utter_language_menu", r, ctx.directory, buttons=buttons))


def named(text: str) -> str | None:
    """A language the message names ("in Spanish please"), if exactly recognisable."""
    folded = f" {fold_command(text)} "
    for lang, names in LANGUAGE_NAMES.items():
        if any(f" {name} " in folded for name in names):
            return lang
    return None
