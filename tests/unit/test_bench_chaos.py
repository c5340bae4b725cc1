"""The crisis traffic of ``make chaos`` (bench/chaos.py): its messages are crises for the safety
screen alone, in every language, and its counts say which crisis got the crisis reply, how fast,
and whether the fault lasted when it was sent."""

from __future__ import annotations

import pytest

from bench.chaos import CRISIS, Crisis, Outcome, count_crises, percentile, reconcile_lifelines
from bot.language import LanguageDetector
from bot.languages import CODES
from bot.safety.screen import SafetyScreen


@pytest.mark.parametrize("language", sorted(CRISIS))
def test_every_crisis_message_is_a_crisis_for_the_screen_alone(language: str) -> None:
    """Not a model's reading: the bench's crisis reply must not depend on Rasa being there."""
    screen = SafetyScreen(list(CODES), guess=LanguageDetector(list(CODES)))
    for conversation_language in (None, language, "es"):
        screening = screen.screen(CRISIS[language], conversation_language)
        assert screening.crisis, screening.reason
        assert screening.kind == "self"
        assert screening.tempered is None


def test_the_four_languages_have_a_crisis_message() -> None:
    assert sorted(CRISIS) == ["en", "es", "fr", "pt"]


def test_percentile_is_the_nearest_rank() -> None:
    values = [0.4, 0.1, 0.3, 0.2]
    assert percentile(values, 0.5) == 0.2
    assert percentile(values, 0.99) == 0.4
    assert percentile(values, 1.0) == 0.4
    assert percentile([], 0.5) is None


def test_crises_are_counted_against_the_reference_and_split_by_the_fault() -> None:
    outcome = Outcome("kill-rasa", 1, 3, 21)
    numbers = "I'm here.\n911 (US): call the number of your country if you are not safe now."
    intro = "This is Ana, an automated chat from Support Line."
    outcome.crisis_reference = {"en": [numbers, intro], "es": ["Aquí estoy.\n911", "Soy Ana."]}
    crises = [
        Crisis(1, "en", posted=10.0, accepted=10.0, during=False),
        Crisis(2, "en", posted=20.0, accepted=20.0, during=True),
        Crisis(3, "es", posted=21.0, accepted=21.5, during=True),  # other words: not the crisis
        Crisis(4, "en", posted=22.0, accepted=22.0, during=True),  # never answered
        Crisis(5, "en", posted=30.0, accepted=30.0, during=False),  # answered twice
    ]
    received = {
        1: [(10.25, numbers), (10.5, intro)],
        2: [(21.0, numbers), (21.1, intro)],
        3: [(23.0, "Hola, ¿en qué te ayudo?")],
        5: [(30.5, numbers), (30.6, intro), (31.0, numbers)],
    }
    count_crises(outcome, crises, received)
    assert (outcome.crisis_sent, outcome.crisis_answered, outcome.crisis_worded) == (5, 4, 3)
    assert outcome.crisis_lost == 1 + 2  # chat 3's second message, chat 4's two
    assert outcome.crisis_differing == 1  # chat 3's other words in place of the numbers
    # chat 5's second numbers: a lifeline if a process logged one, else a duplicate
    assert (outcome.crisis_lifelines, outcome.crisis_duplicated) == (1, 0)
    reconcile_lifelines(outcome)  # no process logged a lifeline
    assert (outcome.crisis_lifelines, outcome.crisis_duplicated) == (0, 1)
    assert (outcome.during_sent, outcome.during_worded) == (3, 1)
    assert (outcome.outside_sent, outcome.outside_worded) == (2, 2)
    assert (outcome.during_p50, outcome.during_max) == (1.0, 1.0)
    assert outcome.during_accept_max == 0.5  # chat 3's webhook, refused at first
    assert (outcome.outside_p50, outcome.outside_p99, outcome.outside_max) == (0.25, 0.5, 0.5)
    assert (outcome.crisis_p50, outcome.crisis_max) == (0.5, 1.0)


def test_a_logged_lifeline_is_not_a_duplicate() -> None:
    outcome = Outcome("db-blackhole", 2, 1, 7)
    numbers, intro = "Aquí estoy.\n911", "Soy Ana."
    outcome.crisis_reference = {"es": [numbers, intro]}
    crisis = Crisis(1, "es", posted=10.0, accepted=12.0, during=True)
    # the lifeline's numbers before the acceptance, then the full reply; the reply may also
    # reach the stand-in before the sender hears its 200 (latency 0, not lost)
    count_crises(outcome, [crisis], {1: [(11.6, numbers), (11.9, numbers), (11.95, intro)]})
    outcome.lifelines_logged = 1
    reconcile_lifelines(outcome)
    assert (outcome.crisis_lifelines, outcome.crisis_duplicated, outcome.crisis_lost) == (1, 0, 0)
    assert outcome.crisis_detail[0]["latency"] == 0.0
    assert outcome.during_numbers == [1.6]
