"""The phrase families and context rules of the ninth pass (issue #11), in all four languages:
someone hit now, said with a pronoun ("l'homme la frappe"); a past or a safety told about someone
else ("when she was young … she's fine now"); Portuguese "no" ("no ano passado") that negates no
marker; and a football shot that is no blow.

These sentences were written for these tests; none is a line of any evaluation set.
"""

from __future__ import annotations

import pytest

from bot.safety.context import negated
from bot.safety.lexicon import with_variants
from bot.safety.screen import SafetyScreen

HIT_NOW = [
    ("en", "the man upstairs is hitting her, i can hear her screaming"),
    ("en", "they are beating him in the yard"),
    ("es", "el vecino le pega a la niña, está llorando"),
    ("es", "el señor le pega al niño ahorita"),
    ("pt", "o padrasto tá batendo na menina de novo, ela tá gritando"),
    ("pt", "o homem tá batendo no menino lá fora"),
    ("fr", "le voisin la frappe, elle pleure"),
    ("fr", "ils le frappent dans la cour"),
]

TOLD_FROM_SAFETY = [
    ("en", "when she was a teenager her boss locked her in the store at night. she's fine now"),
    ("en", "they took her passport and locked her in back then. shes safe now, she lives with me"),
    ("es", "de joven la encerraban en la casa del patrón. ella ya está bien, estudia enfermería"),
    ("es", "antes del rescate lo tenían encerrado en una bodega. él ya está en casa"),
    ("pt", "meu primo ficou trancado numa carvoaria no ano passado. já tá em casa com a gente"),
    ("pt", "quando ela era nova trancavam ela no quarto. ela já tá bem, mora comigo"),
    ("fr", "quand elle était jeune, on l'enfermait chez le patron. elle va bien maintenant"),
    ("fr", "avant le sauvetage, ils le frappaient tous les jours. il va bien maintenant"),
]

NOT_A_BLOW = [
    ("fr", "quelle frappe, il la frappe du gauche en pleine lucarne"),
]


@pytest.mark.parametrize(("lang", "text"), HIT_NOW)
def test_someone_hit_now_is_a_crisis_for_another(
    screen: SafetyScreen, lang: str, text: str
) -> None:
    s = screen.screen(text, lang)
    assert s.crisis, (text, s.reason)
    assert s.kind == "others", s.reason


@pytest.mark.parametrize(("lang", "text"), TOLD_FROM_SAFETY)
def test_a_past_told_about_someone_safe_now_is_not_a_crisis(
    screen: SafetyScreen, lang: str, text: str
) -> None:
    s = screen.screen(text, lang)
    assert not s.crisis, (text, s.reason)


@pytest.mark.parametrize(("lang", "text"), NOT_A_BLOW)
def test_a_shot_at_goal_is_not_a_crisis(screen: SafetyScreen, lang: str, text: str) -> None:
    s = screen.screen(text, lang)
    assert not s.crisis, (text, s.reason)


def test_the_same_story_in_the_present_stays_a_crisis(screen: SafetyScreen) -> None:
    """The third-person markers speak for the past only: said now, it is still a crisis."""
    for lang, text in [
        ("en", "her boss locked her in the store right now"),
        ("pt", "meu primo tá trancado numa carvoaria agora"),
        ("fr", "on l'enferme dans la cuisine du patron en ce moment"),
    ]:
        s = screen.screen(text, lang)
        assert s.crisis, (text, s.reason)


def test_portuguese_no_negates_no_marker() -> None:
    text = "me trancaram no ano passado"
    start = text.index("ano passado")
    assert not negated(text, start, "pt")
    assert negated("no es broma", 3, "es")  # Spanish "no" still negates


def test_variants_add_other_persons_and_contractions_once() -> None:
    variants = {"she is": ["she's", "shes"], "when i was": ["when she was"]}
    assert with_variants(["she is fine now", "when i was young", "she is fine now"], variants) == [
        "she is fine now",
        "she's fine now",
        "shes fine now",
        "when i was young",
        "when she was young",
    ]
