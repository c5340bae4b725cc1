"""Checks a message text as an admin types it, in its language (safety-requirements D, H, I).

Each check returns a plain-language problem; the console shows them live and an edit with an
``error`` cannot be approved. The same rules run over every catalog text in the test suite.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Words that must not appear in a message's first line: it shows on lock screens (B4).
LOCK_SCREEN_BLOCKLIST: dict[str, tuple[str, ...]] = {
    "en": (
        "traffick",
        "police",
        "danger",
        "abuse",
        "violence",
        "rape",
        "emergency",
        "escape",
        "victim",
        "suicide",
        "kill",
        "immigration",
        "rescue",
        "exploit",
    ),
    "es": (
        "trata",
        "policía",
        "policia",
        "peligro",
        "abuso",
        "violencia",
        "violación",
        "emergencia",
        "escapar",
        "víctima",
        "suicid",
        "migración",
        "rescate",
        "explota",
    ),
    "pt": (
        "tráfico",
        "polícia",
        "policia",
        "perigo",
        "abuso",
        "violência",
        "estupro",
        "emergência",
        "fugir",
        "vítima",
        "suicíd",
        "imigração",
        "resgate",
        "explora",
    ),
    "fr": (
        "traite",
        "police",
        "danger",
        "abus",
        "violence",
        "viol",
        "urgence",
        "fuir",
        "victime",
        "suicid",
        "immigration",
        "sauvetage",
        "exploit",
    ),
}
# No "why" about the reader, no promises, no pressure (D1, D5, D7).
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "en": (
        r"\bwhy\b",
        r"we will rescue",
        r"you will be safe",
        r"you must\b",
        r"you should call",
        r"you need to report",
        r"are you a victim",
        r"won'?t be deported",
    ),
    "es": (
        r"por qu[eé]",
        r"te vamos a rescatar",
        r"estar[aá]s a salvo",
        r"tienes que denunciar",
        r"eres v[ií]ctima",
        r"no te van a deportar",
    ),
    "pt": (
        r"por que",
        r"vamos te resgatar",
        r"voc[eê] vai estar segur",
        r"voc[eê] precisa denunciar",
        r"voc[eê] [eé] v[ií]tima",
        r"n[aã]o vai ser deportad",
    ),
    "fr": (
        r"pourquoi",
        r"nous allons vous sauver",
        r"vous serez en s[eé]curit[eé]",
        r"vous devez",
        r"[eê]tes-vous (une )?victime",
        r"ne serez pas expuls",
    ),
}
INCLUSIVE_MARKERS = re.compile(r"\w[@·]\w|\b\w+[oa]sx\b|\w\.e\.\w|-e-")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
PHONE_LIKE = re.compile(r"(?<![\w{])(?:\+?\d[\d\s().-]{5,}\d)")
LINK = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
SENTENCE = re.compile(r"[^.!?¿¡]+[.!?]?")
MAX_LENGTH = 500
# How much of the first line a phone shows in a lock-screen notification (the console's preview
# shows the same span, and the first-line check reads all of it).
LOCK_SCREEN_CHARS = 80
# How much of a whole message a notification may show when its first line is short: the next
# lines follow it on the same preview ("I'm here. If you are in danger..."), so no word of the
# blocklist may appear in this many characters either, whatever line they are on.
GLANCE_CHARS = 60


def glance(text: str) -> str:
    """What a lock screen may show of a message: its first characters, lines run together."""
    return " ".join(text.split())[:GLANCE_CHARS]


def revealing(text: str, language: str | None = None) -> list[str]:
    """The blocklisted words a lock screen would show of ``text``: in its first line (up to
    ``LOCK_SCREEN_CHARS``) or its first ``GLANCE_CHARS`` characters. With no language, every
    language's words: an assembled message (a service card, a staff reply) may carry names in
    any language ("National Human Trafficking Hotline" inside Spanish text)."""
    shown = (text.split("\n", 1)[0][:LOCK_SCREEN_CHARS] + "\n" + glance(text)).lower()
    lists = [LOCK_SCREEN_BLOCKLIST[language]] if language else list(LOCK_SCREEN_BLOCKLIST.values())
    return sorted({word for words in lists for word in words if word in shown})


# Grade targets (I1): at most 6 for safety-critical texts, 8 for information.
MAX_GRADE = {True: 6.0, False: 8.0}


@dataclass(frozen=True)
class Problem:
    """``message`` is English (logs, refusals); the console shows ``code`` with ``params`` in the
    admin's own language."""

    code: str
    message: str
    severity: str = "error"  # error blocks approval; warning is shown
    params: dict[str, str] = field(default_factory=dict, compare=False, hash=False)


def _syllables(word: str, language: str) -> int:
    word = word.lower()
    vowels = "aeiouyáéíóúàèìòùâêîôûãõäëïöüœæ" if language != "en" else "aeiouy"
    groups = re.findall(f"[{vowels}]+", word)
    count = len(groups)
    if language == "en" and word.endswith("e") and count > 1:
        count -= 1
    if language == "fr" and word.endswith(("e", "es")) and count > 1:
        count -= 1
    return max(1, count)


def reading_grade(text: str, language: str) -> float:
    """An approximate school grade: Flesch–Kincaid (en) or the grade implied by the language's
    adapted Flesch reading ease (Fernández-Huerta es, Martins pt, Kandel–Moles fr)."""
    plain = PLACEHOLDER.sub("x", text)
    words = re.findall(r"[^\W\d_]+", plain)
    sentences = [s for s in SENTENCE.findall(plain) if re.search(r"\w", s)]
    if not words or not sentences:
        return 0.0
    wps = len(words) / len(sentences)
    spw = sum(_syllables(w, language) for w in words) / len(words)
    if language == "en":
        return 0.39 * wps + 11.8 * spw - 15.59
    if language == "es":
        ease = 206.84 - 60 * spw - 1.02 * wps
    elif language == "pt":
        ease = 248.835 - 1.015 * wps - 84.6 * spw
    else:
        ease = 207 - 1.015 * wps - 73.6 * spw
    # Flesch ease → grade, the usual banding (90–100 ≈ grade 5, 60–70 ≈ 8–9, 30–50 ≈ college).
    return max(0.0, (100 - ease) / 10 + 5)


def check(
    text: str,
    language: str,
    source: str,
    *,
    whole_message: bool,
    safety_critical: bool,
    question: bool,
    known_numbers: set[str] | None = None,
    button: bool = False,
) -> list[Problem]:
    """Every problem with ``text`` as the ``language`` version of a message whose English
    source is ``source``."""
    problems: list[Problem] = []
    if not text.strip():
        return [Problem("empty", "The text is empty.")]
    if button:
        if len(text) > 20:
            problems.append(
                Problem(
                    "button_length",
                    "A button label has at most 20 characters.",
                    params={"count": str(len(text))},
                )
            )
        return problems
    if set(PLACEHOLDER.findall(text)) != set(PLACEHOLDER.findall(source)):
        wanted = ", ".join(sorted("{" + p + "}" for p in set(PLACEHOLDER.findall(source))))
        problems.append(
            Problem(
                "placeholders",
                f"Keep exactly these placeholders: {wanted or 'none'}.",
                params={"wanted": wanted},
            )
        )
    if re.search(r"[{}]", PLACEHOLDER.sub("", text)):
        # A stray brace would break the message when it is filled in (and reach no one).
        problems.append(Problem("braces", "Braces are only for placeholders like {name}."))
    if text.count("\n") != source.count("\n"):
        problems.append(Problem("lines", "Keep the same number of lines as the original."))
    if whole_message:
        shown = PLACEHOLDER.sub(
            "0", text
        )  # a bare number is fine; the rendered text is checked too
        for word in revealing(shown, language) if language in LOCK_SCREEN_BLOCKLIST else ():
            problems.append(
                Problem(
                    "first_line",
                    f"The first line shows on lock screens: move “{word}” after the first line.",
                    params={"word": word},
                )
            )
    lowered = text.lower()
    for pattern in FORBIDDEN.get(language, ()):
        found = re.search(pattern, lowered)
        if found:
            problems.append(
                Problem(
                    "wording",
                    f"This wording blames, pressures or promises (matches “{pattern}”).",
                    params={"phrase": found.group(0)},
                )
            )
    if INCLUSIVE_MARKERS.search(text):
        problems.append(Problem("inclusive", "No “@”, “x” or “·” inside words: reword instead."))
    if len(text) > MAX_LENGTH:
        problems.append(
            Problem(
                "length",
                f"At most {MAX_LENGTH} characters ({len(text)} now).",
                params={"limit": str(MAX_LENGTH), "count": str(len(text))},
            )
        )
    questions = text.count("?")
    if questions > 1:
        problems.append(Problem("questions", "One question per message."))
    if question and questions == 0:
        problems.append(Problem("question_missing", "This message must still ask its question."))
    for number in PHONE_LIKE.findall(PLACEHOLDER.sub("", text)):
        digits = re.sub(r"\D", "", number)
        if known_numbers is None or digits not in known_numbers:
            problems.append(
                Problem(
                    "number",
                    f"“{number.strip()}” is not in the directory: "
                    "numbers come from the directory only.",
                    params={"number": number.strip()},
                )
            )
    if LINK.search(text):
        problems.append(Problem("link", "No links in messages (they leave traces on the phone)."))
    grade = reading_grade(text, language)
    limit = MAX_GRADE[safety_critical]
    if grade > limit + 2:
        problems.append(
            Problem(
                "readability",
                f"Hard to read (about grade {grade:.0f}; aim for "
                f"{limit:.0f} or lower): shorter sentences, plainer words.",
                "warning",
                params={"grade": f"{grade:.0f}", "limit": f"{limit:.0f}"},
            )
        )
    return problems


# What a staff reply or a canned reply may not do: the rules of catalog texts that are about the
# person reading it (lock screen, pressure, inclusive markers, length, links). The rules about a
# translation matching its source do not apply to free text.
FREE_TEXT_RULES = ("empty", "first_line", "wording", "inclusive", "length", "link")


def check_free_text(text: str, language: str) -> list[Problem]:
    """The problems that stop a staff reply or a canned reply from being sent or saved, in the
    reader's language; names in other languages are read too ("Trafficking Hotline" inside a
    Spanish reply)."""
    problems = [
        p
        for p in check(
            text, language, text, whole_message=True, safety_critical=False, question=False
        )
        if p.code in FREE_TEXT_RULES
    ]
    flagged = {p.params.get("word") for p in problems if p.code == "first_line"}
    for word in revealing(text):
        if word not in flagged:
            problems.append(
                Problem(
                    "first_line",
                    f"The first line shows on lock screens: move “{word}” after the first line.",
                    params={"word": word},
                )
            )
    return problems
