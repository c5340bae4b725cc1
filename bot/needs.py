"""The needs the assistant can help find services for, declared once.

A need is an intent the person may express (``need_legal``) and the directory category that
serves it (``legal``). Everything in Python reads this table; adding a need also takes an intent
in ``domain.yml`` with a rule in ``data/core/rules.yml``, training examples in ``data/nlu/``, the
category's name in ``bot/nlg/messages.py`` (``category_<name>``) and a menu button if it should
be offered there. docs/architecture.md lists the steps.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Need:
    intent: str
    category: str


NEEDS: tuple[Need, ...] = (
    Need("need_shelter", "shelter"),
    Need("need_legal", "legal"),
    Need("need_medical", "medical"),
    Need("need_repatriation", "repatriation"),
    Need("need_labour", "labour"),
    # Someone tells about another person: the hotlines first.
    Need("report_case", "hotline"),
)

# Directory categories, in the order cards and forms show them.
CATEGORIES: tuple[str, ...] = ("hotline", "shelter", "legal", "medical", "labour", "repatriation")
NEED_CATEGORIES: dict[str, str] = {n.intent: n.category for n in NEEDS}
NEED_INTENTS: frozenset[str] = frozenset(NEED_CATEGORIES)
# Asked in a first message: answered right after the person says it is safe to chat.
FIRST_MESSAGE_FOLLOW_UPS: frozenset[str] = NEED_INTENTS | {
    "ask_privacy",
    "ask_trafficking_info",
    "bot_identity",
}
CRISIS_INTENTS: frozenset[str] = frozenset({"emergency", "self_harm"})
# Categories whose entries a crisis or self-harm reply shows ({hotline_lines}: the first active
# hotline of the country, bot/directory/service.py ``Directory.hotlines``). A change to an entry
# in one of them waits for a second admin (bot/directory/changes.py).
CRISIS_CATEGORIES: frozenset[str] = frozenset({"hotline"})
