"""Check one language's lexicons against its safety test set: ``python -m bot.safety.check es``.

Prints the crisis messages the lexicons miss and the everyday ones they wrongly flag, then recall
and the false-crisis rate. The same figures appear in ``make eval``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from bot.languages import CODES
from bot.safety.lexicon import Lexicons

EVAL_DIR = Path(__file__).resolve().parents[2] / "eval" / "safety"


def evaluate(lexicons: Lexicons, language: str) -> dict[str, object]:
    data = yaml.safe_load((EVAL_DIR / f"{language}.yml").read_text(encoding="utf-8"))
    crisis = [str(t) for t in data.get("crisis", [])]
    calm = [str(t) for t in data.get("not_crisis", [])]
    missed = [t for t in crisis if not lexicons.scan(t)]
    false_hits = [t for t in calm if lexicons.scan(t)]
    return {
        "language": language,
        "crisis_total": len(crisis),
        "not_crisis_total": len(calm),
        "missed": missed,
        "false_hits": false_hits,
        "recall": (len(crisis) - len(missed)) / len(crisis) if crisis else 0.0,
        "false_crisis_rate": len(false_hits) / len(calm) if calm else 0.0,
    }


def main(argv: list[str]) -> int:
    languages = argv or list(CODES)
    lexicons = Lexicons(list(CODES))
    ok = True
    for lang in languages:
        r = evaluate(lexicons, lang)
        for t in r["missed"]:  # type: ignore[attr-defined]
            print(f"[{lang}] MISSED    {t}")
        for t in r["false_hits"]:  # type: ignore[attr-defined]
            hits = ", ".join(f"{m.language}:{m.phrase}" for m in lexicons.scan(t))
            print(f"[{lang}] FALSE HIT {t}   <- {hits}")
        print(
            f"[{lang}] recall {r['recall']:.3f} ({r['crisis_total']} crisis), "
            f"false-crisis rate {r['false_crisis_rate']:.3f} ({r['not_crisis_total']} everyday)"
        )
        ok = ok and float(r["recall"]) >= 0.98 and float(r["false_crisis_rate"]) <= 0.03  # type: ignore[arg-type]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
