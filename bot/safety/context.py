"""When and how a risky phrase is meant: the context rules of the crisis decision.

A lexicon phrase says what happened ("they locked me in"); the words around it say when and how.
"Years ago" or "I'm out now" put it in a past told from safety; "lol" or "if I'm late again" make
it a joke or an everyday hyperbole. The lexicons alone do not answer such a message as a crisis:
the model, trained on the same kinds of message, reads it whole and may still find danger in it.
A marker of the present ("right now", "tonight", "he is outside") keeps the crisis, unless it lies
inside the past or safe phrase itself ("I'm safe *now*"). A hypothesis ("what if", "si algún
día") speaks only for the risky phrases after it, up to the next comma or full stop.

Markers are phrases of each language's ``context.yml`` (matched like lexicon phrases), plus the
laughter every language writes alike (haha, jajaja, kkkk, rsrs, mdr, emoji), found by pattern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from bot.safety.text import fold

# The lists of a language's context.yml, and what each means for a risky phrase.
MARKERS = (
    "past",
    "safe_now",
    "joke",
    "conditional",
    "hypothetical",
    "present",
    "cry",
    "worry",
    "recovered",
)
# In this order, the first present decides the reason a lexicon match is set aside.
SETS_ASIDE = ("joke", "conditional", "past", "safe_now")
# Only a past or safe marker contains a present one ("I am safe now"): a joke stays a joke.
COVERS_PRESENT = ("past", "safe_now", "conditional", "hypothetical", "worry", "recovered")
# A recovery told in the present ("I'm doing much better now", "aujourd'hui ça va mieux", "hoje
# não penso mais") only keeps its own "now" from counting as the present: on its own it sets
# nothing aside, so "I'm doing better now but I want to die" stays a crisis; with a past marker
# ("when I was in that house I tried to kill myself. I'm doing much better now") the past decides,
# as it does for any risky phrase. Negated ("I'm not better now") it is dropped.
RECOVERED = "recovered"
# A hypothesis ("what if", "si algún día", "se um dia", "au cas où") speaks only for what follows
# it up to the next comma or full stop: "what if they locked me in?" is a worry; "they locked me
# in. what if he comes back?" and "in case something happens to me, they locked me in room 12"
# are not. Its reason is given as "conditional".
HYPOTHETICAL = "hypothetical"
# A cry for help ("help me", "send help", "socorro") is a marker of the present, except right
# next to laughter: "minha vó me sequestrou pro culto, socorro kkkk", "held hostage by her
# toddler 😂 send help". Then the joke decides. Laughter further away ("socorro, ele disse que
# vai me matar kkkk") leaves the cry standing: nervous laughter is no joke.
CRY = "cry"
CRY_REACH = 3  # words between a cry and laughter that make it part of the joke
# A worry about what may happen ("is this job offer a trap?", "nothing has happened yet", "ainda
# não foi") never sets a risky phrase aside: "they took my passport, is it a trap?" stays a crisis.
# It only asks the model to be surer when no risky phrase stands (a parent asking for the red
# flags of a modelling offer is where the model most often cries danger), like the markers that
# set aside; a marker of the present still keeps the ordinary bar.
WORRY = "worry"
_HYPOTHESIS_END = re.compile(r"[.!?;:,\n]+")

_LAUGHTER = re.compile(
    r"(?<![\w])(?:"
    r"a?(?:[jh]a){2,}[jh]?"  # haha, jajaja, jajaj, ajaja (one syllable repeated: never "hija")
    r"|(?:[jh]e){2,}[jh]?|(?:[jh]i){2,}[jh]?"  # hehe, jeje, hihi, jiji
    r"|(?:js){2,}j?"  # jsjs (Spanish)
    r"|k{3,}"  # kkkk (Portuguese)
    r"|(?:rs){2,}"  # rsrs (Portuguese)
    r"|l+o+l+z*|lmf?ao+|rofl|xd+|mdr+|ptdr+"
    r")(?![\w])"
    r"|[\U0001F602\U0001F923\U0001F606\U0001F605\U0001F61C\U0001F61D\U0001F92A\U0001F639]",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Marker:
    name: str  # one of MARKERS
    language: str  # "" for the laughter every language shares
    phrase: str
    start: int
    end: int


# A marker right after one of these says the opposite: "I'm not safe now", "não estou a salvo",
# "no es broma", "not kidding". Checked on the few words before the marker, in every language.
NEGATIONS = frozenset(
    {
        "not",
        "no",
        "never",
        "dont",
        "isnt",
        "arent",
        "nao",
        "nunca",
        "nem",
        "ne",
        "pas",
        "jamais",
        "ni",
        "pa",
        "n",
        "nt",
    }
)
NEGATION_REACH = 3  # words before the marker
_WORD = re.compile(r"\w+")


_SENTENCE_END = re.compile(r"[.!?;\n]")


# Words of NEGATIONS that negate nothing in a language: Portuguese "no" is "in the" ("no ano
# passado, graças a Deus já tá em casa": a past and a safety, both standing).
NOT_NEGATIONS = {"pt": frozenset({"no"})}


def negated(text: str, start: int, language: str = "") -> bool:
    """Whether one of the few words before ``start``, in its own sentence, negates what follows
    ("no es broma"; but not "…con un cara que conoció no bar. Es broma?"), read as a marker of
    ``language`` (a Portuguese marker is not negated by "no")."""
    sentence = _SENTENCE_END.split(text[:start])[-1]
    before = _WORD.findall(fold(sentence).replace("'", ""))[-NEGATION_REACH:]
    negations = NEGATIONS - NOT_NEGATIONS.get(language, frozenset())
    return any(word in negations for word in before)


# A wish to die or to self-harm denied just before it is said: "it's not that I want to hurt
# myself", "n quero me matar nem nada", "no es que quiera morirme", "je ne veux pas mourir". Only a
# negation followed by nothing but these small words counts, in the phrase's own clause: "no, I
# want to die" (a comma), "I'm not ok, I want to die" and "I have no reason to stay alive" (the
# negation is part of the wish, or other words stand between) are not denials.
# Per language: Portuguese "no" is "in the" ("to no telhado pensando em pular").
DENIALS = {
    "en": frozenset({"not", "dont", "never", "wont", "no"}),
    "es": frozenset({"no", "nunca"}),
    "pt": frozenset({"nao", "n", "nunca", "nem"}),
    "fr": frozenset({"ne", "pas", "jamais", "n"}),
}
_DENIAL_FILLERS = frozenset(
    {"i", "that", "like", "even", "really", "its", "it", "is", "que", "eu", "yo", "je", "j", "e"}
    | {"es", "est", "c", "ce", "me"}
    # "I'm not thinking about killing myself", "no estoy pensando en suicidarme", "não tô pensando
    # em me matar", "je pense pas à me tuer": thinking or planning it, denied
    | {"im", "am", "thinking", "think", "about", "going", "gonna", "to", "planning"}
    | {"estoy", "estou", "to", "pensando", "pensar", "en", "em", "voy", "vou", "a", "pense"}
)
DENIAL_REACH = 5  # words before the phrase
# "no" before a subject is an answer, not a negation of what follows: "no i want to die", "não eu
# quero morrer" (written without the comma) are wishes. Spanish and Portuguese negation comes after
# the subject ("yo no quiero", "eu não quero"), so only these words make "no" an answer.
_SUBJECTS = frozenset({"i", "im", "eu", "yo", "je", "j"})
_ANSWERS = frozenset({"no", "nao", "n"})
_CLAUSE_MARK = re.compile(r"[.!?;,:\n]")


# A wish said through a negation of living ("je ne veux plus vivre", "i dont wanna wake up", "não
# quero acordar", "no quiero seguir viviendo"): the negation is the wish, never a denial of it. A
# phrase with one of these words is never denied ("life" and "vida" are not among them: "I don't
# want to end my life" is a denial), and a farewell said through a negation is none either.
_LIFE = frozenset(
    {"live", "living", "alive", "wake", "waking", "exist", "existing", "here", "on"}
    | {"vivre", "vivant", "vivante", "reveiller", "continuer", "exister"}
    | {"vivir", "viviendo", "vivo", "viva", "despertar", "seguir", "existir", "aqui"}
    | {"viver", "vivendo", "acordar", "continuar", "estar", "ficar"}
    # nor a farewell said as one ("ya no voy a ser una carga para nadie", "won't be a burden")
    | {"burden", "bother", "carga", "estorbo", "molestar", "peso", "incomodar", "fardeau"}
    | {"deranger", "probleme", "problema", "problem"}
)


def denied(text: str, start: int, phrase: str = "", language: str = "en") -> bool:
    """Whether the self-harm phrase at ``start`` follows a negation of it in the phrase's
    language (see DENIALS); never for a wish said through a negation of living (``_LIFE``)."""
    negations = DENIALS.get(language, frozenset())
    if _LIFE & set(_WORD.findall(fold(phrase).replace("'", " "))):
        return False
    clause = _CLAUSE_MARK.split(text[:start])[-1]
    before = _WORD.findall(fold(clause).replace("'", "").replace("\u2019", ""))[-DENIAL_REACH:]
    subject = False
    for word in reversed(before):
        if word in negations:
            return not (subject and word in _ANSWERS)
        if word not in _DENIAL_FILLERS:
            return False
        subject = subject or word in _SUBJECTS
    return False


def laughter(text: str) -> list[Marker]:
    """Laughter written the same way in every language: a joke marker."""
    return [Marker("joke", "", m.group(0), m.start(), m.end()) for m in _LAUGHTER.finditer(text)]


# Where one clause of a message ends and the next begins: a present marker speaks for its own
# clause ("years ago they hit me, I want to report him *now*" is a past told from safety).
_CLAUSE_END = re.compile(
    r"[.!?;:\n]+|,|\s(?:but|and|so|because|pero|y|e|mas|mais|porque|pq|et|parce que|donc)\s",
    re.IGNORECASE,
)


def clauses(text: str) -> list[int]:
    """The offsets where each clause after the first begins."""
    return [m.end() for m in _CLAUSE_END.finditer(text)]


def _clause(bounds: list[int], offset: int) -> int:
    return sum(1 for b in bounds if b <= offset)


def _standing(markers: list[Marker], text: str) -> list[Marker]:
    """The markers that mean what they say: a negated past, safe, joke or conditional marker is
    dropped ("I'm not safe now", "no es broma"); laughter is never negated ("se eu não comer tudo
    kkk" is still a joke). A cry for help counts as the present unless laughter is next to it."""
    standing = [
        m
        for m in markers
        if m.name not in (*SETS_ASIDE, RECOVERED)
        or not m.language
        or not negated(text, m.start, m.language)
    ]
    jokes = [m for m in standing if m.name == "joke"]
    return [
        replace(m, name="present") if m.name == CRY else m
        for m in standing
        if not (m.name == CRY and any(_next_to(m, joke, text) for joke in jokes))
    ]


def _next_to(a: Marker, b: Marker, text: str) -> bool:
    """Whether at most ``CRY_REACH`` words lie between two markers."""
    between = text[a.end : b.start] if a.end <= b.start else text[b.end : a.start]
    return len(_WORD.findall(between)) <= CRY_REACH


def _uncovered_present(markers: list[Marker]) -> list[Marker]:
    covering = [(m.start, m.end) for m in markers if m.name in COVERS_PRESENT]
    return [
        m
        for m in markers
        if m.name == "present" and not any(s <= m.start and m.end <= e for s, e in covering)
    ]


def tempering(markers: list[Marker], idioms: int, text: str) -> str | None:
    """Why the model alone should be surer before a message is a crisis, or None.

    Asked only when no risky phrase of the lexicons stands. A message told from the past or from
    safety, a joke, a condition or an everyday idiom ("I could die of shame", "matar el tiempo")
    is where the model's crisis probabilities are most often wrong: they are weighed against a
    higher bar (``BOT_CRISIS_THRESHOLD_IN_CONTEXT``). Any marker of the present ("now", "he is
    outside") keeps the ordinary bar: a missed crisis costs more than a false one.
    """
    standing = _standing(markers, text)
    if _uncovered_present(standing):
        return None
    names = {m.name for m in standing}
    # A hypothesis alone does not raise the bar: "e se eu sumisse?" may be a wish to die.
    reason = next((name for name in (*SETS_ASIDE, WORRY) if name in names), None)
    return reason or ("idiom" if idioms else None)


def _after_hypothesis(markers: list[Marker], spans: list[tuple[int, int]], text: str) -> bool:
    """Whether every risky phrase follows a hypothesis with no comma or stop between them."""
    hypotheses = [m for m in markers if m.name == HYPOTHETICAL]
    bounds = [m.end() for m in _HYPOTHESIS_END.finditer(text)]
    return bool(hypotheses and spans) and all(
        any(
            h.start < start and _clause(bounds, h.start) == _clause(bounds, start)
            for h in hypotheses
        )
        for start, _ in spans
    )


def set_aside(
    markers: list[Marker], spans: list[tuple[int, int]] | None = None, text: str = ""
) -> str | None:
    """The reason risky phrases are not a crisis on their own here, or None when they are.

    A present marker keeps the crisis when it is in the clause of a risky phrase (``spans``) and
    not inside a past, safe or conditional phrase. Without spans, any present marker keeps it.
    """
    markers = _standing(markers, text)
    bounds = clauses(text)
    # Every clause a risky phrase reaches into ("me suis échappée ... ils me cherchent").
    near = {
        clause
        for start, end in spans or []
        for clause in range(_clause(bounds, start), _clause(bounds, max(start, end - 1)) + 1)
    }
    present = [
        m for m in _uncovered_present(markers) if spans is None or _clause(bounds, m.start) in near
    ]
    if present:
        return None
    names = {m.name for m in markers}
    reason = next((name for name in SETS_ASIDE if name in names), None)
    if reason is None and spans and _after_hypothesis(markers, spans, text):
        reason = "conditional"
    return reason
