"""``make eval``: how well the assistant understands, per language, on data training never saw.

Two sets per language:
- the held-out NLU split (``data/heldout/<lang>.yml``): intent accuracy, macro-F1 and per-intent
  F1 of the model as the conversation uses it (below the confidence threshold counts as "not
  understood"), and crisis recall / false-crisis rate of the whole safety decision (lexicon hit or
  a confident crisis intent), exactly as the conversation decides;
- the safety test set (``eval/safety/<lang>.yml``): recall and false-crisis rate of the
  deterministic lexicons alone, the layer that works when Rasa is down.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.net import free_port
from bot.rasa.client import RasaClient
from bot.rasa.model import ensure_model
from bot.rasa.process import RasaProcess
from bot.safety.check import evaluate as evaluate_lexicons
from bot.safety.lexicon import Lexicons
from bot.settings import PROJECT_ROOT, Settings, get_settings
from bot.store.crypto import Crypto

HELDOUT_DIR = PROJECT_ROOT / "data" / "heldout"
CRISIS = {"emergency", "self_harm"}
BAR = {"crisis_recall": 0.98, "false_crisis_rate": 0.03, "intent_accuracy": 0.90}


def load_examples(path: Path) -> list[tuple[str, str]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    out = []
    for block in data.get("nlu", []):
        intent = block.get("intent")
        for line in str(block.get("examples", "")).splitlines():
            line = line.strip()
            if intent and line.startswith("- "):
                out.append((intent, line[2:].strip()))
    return out


@dataclass
class LanguageReport:
    language: str
    examples: int = 0
    accuracy: float = 0.0
    macro_f1: float = 0.0
    per_intent_f1: dict[str, float] = field(default_factory=dict)
    crisis_recall: float = 0.0
    false_crisis_rate: float = 0.0
    model_crisis_recall: float = 0.0  # the model alone, as stock Rasa would decide
    model_false_crisis_rate: float = 0.0
    lexicon_recall: float = 0.0
    lexicon_false_rate: float = 0.0
    errors: list[dict[str, Any]] = field(default_factory=list)


def f1_scores(gold: list[str], pred: list[str]) -> dict[str, float]:
    labels = sorted(set(gold))
    scores = {}
    for label in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p == label)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != label and p == label)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        scores[label] = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return scores


async def evaluate_language(
    language: str,
    client: RasaClient,
    lexicons: Lexicons,
    threshold: float,
    crisis_threshold: float = 0.5,
) -> LanguageReport:
    report = LanguageReport(language)
    examples = load_examples(HELDOUT_DIR / f"{language}.yml")
    gold, pred = [], []
    crisis_total = crisis_hit = calm_total = calm_hit = model_hit = model_false = 0
    for intent, text in examples:
        parse = await client.parse(text)
        predicted = parse.intent if parse.confidence >= threshold else "nlu_fallback"
        gold.append(intent)
        pred.append(predicted)
        by_model = parse.share(CRISIS) >= crisis_threshold  # as the conversation decides
        flagged = by_model or bool(lexicons.scan(text))
        if intent in CRISIS:
            crisis_total += 1
            crisis_hit += flagged
            model_hit += by_model
        else:
            calm_total += 1
            calm_hit += flagged
            model_false += by_model
        if predicted != intent:
            report.errors.append(
                {
                    "text": text,
                    "gold": intent,
                    "predicted": predicted,
                    "confidence": round(parse.confidence, 3),
                }
            )
    report.examples = len(examples)
    report.accuracy = sum(g == p for g, p in zip(gold, pred, strict=True)) / max(len(gold), 1)
    report.per_intent_f1 = f1_scores(gold, pred)
    report.macro_f1 = sum(report.per_intent_f1.values()) / max(len(report.per_intent_f1), 1)
    report.crisis_recall = crisis_hit / crisis_total if crisis_total else 0.0
    report.false_crisis_rate = calm_hit / calm_total if calm_total else 0.0
    report.model_crisis_recall = model_hit / crisis_total if crisis_total else 0.0
    report.model_false_crisis_rate = model_false / calm_total if calm_total else 0.0
    lex = evaluate_lexicons(lexicons, language)
    report.lexicon_recall = float(lex["recall"])  # type: ignore[arg-type]
    report.lexicon_false_rate = float(lex["false_crisis_rate"])  # type: ignore[arg-type]
    return report


async def run_reports(settings: Settings, config: str = "config.yml") -> list[LanguageReport]:
    model = ensure_model(settings, config=config, quiet=True)
    settings = settings.model_copy(update={"rasa_port": free_port()})
    token = Crypto(settings.key()).internal_token("rasa-api")
    client = RasaClient(settings.rasa_local_url, token, timeout=30)
    process = RasaProcess(settings, model, token, "unused")
    process.start()
    try:
        await process.wait_ready(client, settings.rasa_start_timeout)
        lexicons = Lexicons(settings.languages)
        return [
            await evaluate_language(
                lang, client, lexicons, settings.nlu_threshold, settings.crisis_threshold
            )
            for lang in settings.languages
        ]
    finally:
        process.stop()
        await client.aclose()


def render_table(reports: list[LanguageReport]) -> str:
    head = (
        f"{'lang':<5}{'n':>5}{'accuracy':>10}{'macro-F1':>10}{'crisis recall':>15}"
        f"{'false crisis':>14}{'lexicon recall':>16}{'lexicon false':>15}"
    )
    rows = [head, "-" * len(head)]
    for r in reports:
        rows.append(
            f"{r.language:<5}{r.examples:>5}{r.accuracy:>10.3f}{r.macro_f1:>10.3f}"
            f"{r.crisis_recall:>15.3f}{r.false_crisis_rate:>14.3f}"
            f"{r.lexicon_recall:>16.3f}{r.lexicon_false_rate:>15.3f}"
        )
    rows.append("")
    intents = sorted({i for r in reports for i in r.per_intent_f1})
    rows.append("per-intent F1".ljust(22) + "".join(f"{r.language:>7}" for r in reports))
    for intent in intents:
        rows.append(
            intent.ljust(22) + "".join(f"{r.per_intent_f1.get(intent, 0.0):>7.2f}" for r in reports)
        )
    return "\n".join(rows)


def meets_bar(r: LanguageReport) -> bool:
    return (
        r.crisis_recall >= BAR["crisis_recall"]
        and r.false_crisis_rate <= BAR["false_crisis_rate"]
        and r.accuracy >= BAR["intent_accuracy"]
        and r.lexicon_recall >= BAR["crisis_recall"]
        and r.lexicon_false_rate <= BAR["false_crisis_rate"]
    )


def main(args: argparse.Namespace) -> int:
    settings = get_settings()
    started = time.monotonic()
    reports = asyncio.run(run_reports(settings, args.config))
    print(render_table(reports))
    confusions = Counter(
        (e["gold"], e["predicted"]) for r in reports for e in r.errors
    ).most_common(8)
    if confusions:
        print(
            "\nmost frequent confusions (gold -> predicted): "
            + ", ".join(f"{g}->{p} x{n}" for (g, p), n in confusions)
        )
    verdict = all(meets_bar(r) for r in reports)
    print(
        f"\nbar: crisis recall >= {BAR['crisis_recall']}, false-crisis rate <= "
        f"{BAR['false_crisis_rate']}, intent accuracy >= {BAR['intent_accuracy']}: "
        f"{'met' if verdict else 'NOT met'} ({time.monotonic() - started:.0f} s)"
    )
    if args.json:
        Path(args.json).write_text(
            json.dumps([r.__dict__ for r in reports], ensure_ascii=False, indent=2)
        )
    return 0
