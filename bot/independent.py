"""The independent evaluation set (``eval/independent/``) through the whole pipeline.

Every line is a new conversation's first message, handled exactly as a survivor's would be (the
safety screen, the language, Rasa, the route table), so the figures are what people get, not what
the model alone would say. Reported per file (en, es, pt, fr) and for the mixed-language lines,
beside the lexicons alone. The set is frozen and never tuned on (eval/independent/README.md).
"""

from __future__ import annotations

import json
import tempfile
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.evaluation import BAR
from bot.language import LanguageDetector
from bot.net import free_port
from bot.progress import Progress
from bot.safety.screen import SafetyScreen
from bot.server import Stack
from bot.settings import PROJECT_ROOT, Settings
from bot.types import Inbound, TurnResult

INDEPENDENT_DIR = PROJECT_ROOT / "eval" / "independent"
# What a deterministic command means as an intent, for accuracy.
COMMAND_INTENTS = {
    "command:exit": "exit",
    "command:delete": "delete_data",
    "command:person": "request_human",
    "command:language": "change_language",
    "command:privacy": "ask_privacy",
}


async def run_lines(
    settings: Settings, items: Iterable[dict[str, Any]], progress: Progress | None = None
) -> AsyncIterator[tuple[dict[str, Any], TurnResult]]:
    """Each line through a real stack (its own Rasa and a temporary database)."""
    with tempfile.TemporaryDirectory(prefix="bot-eval-") as tmp:
        settings = settings.model_copy(
            update={
                "port": free_port(),
                "rasa_port": free_port(),
                "database_url": f"sqlite:///{tmp}/eval.sqlite3",
                "secret_key": settings.key(),
                "log_level": "WARNING",
                # The figures are the decision's, not the machine's: a model slowed down by
                # other work on a shared machine must not skip the crisis second look (its
                # bound is tested in tests/integration/test_second_look.py).
                "crisis_second_look_seconds": max(settings.crisis_second_look_seconds, 10.0),
            }
        )
        async with Stack(settings, quiet=True, progress=progress) as runtime:
            if progress is not None:
                progress.say("Ready: reading the lines.")
            for item in items:
                user = f"eval:{item.get('conversation') or item['id']}"
                runtime.conversations.prepare("eval", user, item.get("lang"), item.get("country"))
                result = await runtime.conversations.handle(
                    Inbound("eval", user, None, text=str(item["text"]))
                )
                yield item, result
                if not item.get("conversation"):
                    await runtime.conversations.forget("eval", user)


def decided_by(result: TurnResult) -> str:
    """Which part decided the turn: a command, a lexicon, the model, or something else."""
    if result.route == "crisis":
        return "lexicon"
    if result.route == "understanding":
        return "model"
    return result.route or "unknown"


def intent_of(result: TurnResult, threshold: float) -> str:
    intent = result.intent or "nlu_fallback"
    if intent in COMMAND_INTENTS:
        return COMMAND_INTENTS[intent]
    if result.route == "understanding" and (result.confidence or 0.0) < threshold:
        return "nlu_fallback"
    return intent


@dataclass
class Figures:
    name: str
    lines: int = 0
    crisis_recall: float = 0.0
    false_crisis_rate: float = 0.0
    intent_accuracy: float = 0.0
    lexicon_recall: float = 0.0
    lexicon_false_rate: float = 0.0
    missed: dict[str, int] = field(default_factory=dict)  # crisis kind -> lines missed
    false_alarms: dict[str, int] = field(default_factory=dict)  # trap kind -> lines flagged
    decided_by: dict[str, int] = field(default_factory=dict)

    def meets_bar(self) -> bool:
        return (
            self.crisis_recall >= BAR["crisis_recall"]
            and self.false_crisis_rate <= BAR["false_crisis_rate"]
            and self.intent_accuracy >= BAR["intent_accuracy"]
        )


def lexicons_alone(screen: SafetyScreen) -> Callable[[dict[str, Any]], bool]:
    """The crisis decision of the deterministic screen alone (lexicons, languages, context)."""

    def decide(item: dict[str, Any]) -> bool:
        return screen.screen(str(item["text"]), item.get("lang")).crisis

    return decide


def score(
    name: str,
    rows: list[tuple[dict[str, Any], TurnResult]],
    alone: Callable[[dict[str, Any]], bool],
    threshold: float,
) -> Figures:
    figures = Figures(name, lines=len(rows))
    crisis = [(item, r) for item, r in rows if item["expect_crisis"]]
    calm = [(item, r) for item, r in rows if not item["expect_crisis"]]
    if crisis:
        figures.crisis_recall = sum(r.crisis for _, r in crisis) / len(crisis)
        figures.lexicon_recall = sum(alone(i) for i, _ in crisis) / len(crisis)
    if calm:
        figures.false_crisis_rate = sum(r.crisis for _, r in calm) / len(calm)
        figures.lexicon_false_rate = sum(alone(i) for i, _ in calm) / len(calm)
    right = sum(intent_of(r, threshold) == item["expect_intent"] for item, r in rows)
    figures.intent_accuracy = right / len(rows) if rows else 0.0
    figures.missed = dict(Counter(str(i.get("kind")) for i, r in crisis if not r.crisis))
    figures.false_alarms = dict(Counter(str(i.get("kind")) for i, r in calm if r.crisis))
    figures.decided_by = dict(Counter(decided_by(r) for _, r in rows))
    return figures


def load(directory: Path = INDEPENDENT_DIR) -> dict[str, list[dict[str, Any]]]:
    files = {}
    for path in sorted(directory.glob("*.jsonl")):
        files[path.stem] = [
            json.loads(line) for line in path.read_text("utf-8").splitlines() if line
        ]
    return files


async def evaluate(
    settings: Settings, directory: Path = INDEPENDENT_DIR
) -> tuple[list[Figures], list[dict[str, Any]]]:
    """Figures per file and for the mixed lines of all files, and every line's outcome."""
    files = load(directory)
    everything = [item for items in files.values() for item in items]
    outcomes: dict[str, tuple[dict[str, Any], TurnResult]] = {}
    async for item, result in run_lines(settings, everything):
        outcomes[item["id"]] = (item, result)
    alone = lexicons_alone(
        SafetyScreen(settings.languages, guess=LanguageDetector(settings.languages))
    )
    by_file: dict[str, list[tuple[dict[str, Any], TurnResult]]] = defaultdict(list)
    for name, items in files.items():
        by_file[name] = [outcomes[item["id"]] for item in items]
    figures = [score(n, rows, alone, settings.nlu_threshold) for n, rows in by_file.items()]
    mixed = [outcomes[i["id"]] for i in everything if i.get("set") == "mixed"]
    figures.append(score("mixed", mixed, alone, settings.nlu_threshold))
    lines = [
        {
            "id": item["id"],
            "expect_crisis": item["expect_crisis"],
            "crisis": result.crisis,
            "expect_intent": item["expect_intent"],
            "intent": intent_of(result, settings.nlu_threshold),
            "confidence": result.confidence,
            "decided_by": decided_by(result),
            "reason": result.reason,
            "replies": [r.key for r in result.replies],
        }
        for item, result in outcomes.values()
    ]
    return figures, lines


def render(figures: list[Figures], title: str = "independent set (eval/independent/)") -> str:
    head = (
        f"{'set':<7}{'n':>5}{'crisis recall':>15}{'false crisis':>14}{'accuracy':>10}"
        f"{'lexicon recall':>16}{'lexicon false':>15}"
    )
    rows = [f"{title}, whole pipeline:", head, "-" * len(head)]
    for f in figures:
        rows.append(
            f"{f.name:<7}{f.lines:>5}{f.crisis_recall:>15.3f}{f.false_crisis_rate:>14.3f}"
            f"{f.intent_accuracy:>10.3f}{f.lexicon_recall:>16.3f}{f.lexicon_false_rate:>15.3f}"
        )
    for f in figures:
        if f.missed or f.false_alarms:
            rows.append(
                f"{f.name}: missed crises by kind {f.missed or '{}'}; "
                f"false alarms by kind {f.false_alarms or '{}'}"
            )
    return "\n".join(rows)
