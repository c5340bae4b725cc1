"""The fake Rasa's own logic, without a server: how it reads the project, understands, picks the
rules' actions and shapes the REST channel's output (tests/fakes/rasa.py)."""

from __future__ import annotations

import pytest
from fakes.rasa import Tracker, _collect, fold, load_project


def test_folding_ignores_case_accents_and_punctuation() -> None:
    assert fold("¿Quién LEE esto?") == "quien lee esto"
    assert fold("ils m'ont enfermée") == "ils m ont enfermee"
    assert fold("  ???  ") == ""


def test_an_exact_training_example_is_its_intent_at_095() -> None:
    project = load_project()
    for text, intent in [
        ("i need a lawyer", "need_legal"),
        ("NECESITO UN ABOGADO!", "need_legal"),
        ("Quem lê isso?", "ask_privacy"),
        ("je veux parler à une personne", "request_human"),
    ]:
        found = project.understand(text)
        assert (found.intent, found.confidence, found.exact) == (intent, 0.95, True), text


def test_a_near_phrase_is_less_certain_and_nonsense_falls_back() -> None:
    project = load_project()
    typo = project.understand("i nead a lawyer pls")
    assert typo.intent == "need_legal" and not typo.exact
    assert project.fallback_threshold < typo.confidence < 0.95
    nothing = project.understand("zxqv wjkp qqrt")
    assert (nothing.intent, nothing.confidence) == ("nlu_fallback", project.fallback_threshold)
    assert nothing.ranking[0] == {"name": "nlu_fallback", "confidence": 0.25}
    assert project.understand("").intent == "nlu_fallback"


def test_understanding_is_deterministic() -> None:
    project = load_project()
    text = "preciso de ajuda com meus documentos"
    assert project.understand(text) == project.understand(text)


@pytest.mark.parametrize(
    "intent,at_start,prior,actions",
    [
        (
            "greet",
            True,
            None,
            ["utter_first_contact", "utter_language_offer", "utter_ask_safe_to_chat"],
        ),
        ("greet", False, "utter_menu", ["utter_greet_again"]),
        ("affirm", False, "utter_ask_safe_to_chat", ["utter_menu"]),
        ("deny", False, "utter_ask_safe_to_chat", ["utter_safe_not_now"]),
        ("deny", False, "utter_menu", ["utter_pause"]),
        ("affirm", True, None, ["utter_menu"]),
        ("report_case", False, None, ["utter_report_case", "action_find_services"]),
        ("request_human", False, None, ["utter_handoff_explain", "utter_ask_handoff_consent"]),
        ("nlu_fallback", False, None, ["utter_not_understood"]),
        ("not_an_intent", False, None, ["utter_not_understood"]),  # the core fallback
    ],
)
def test_the_rules_rulepolicy_would_apply(
    intent: str, at_start: bool, prior: str | None, actions: list[str]
) -> None:
    assert load_project().next_actions(intent, at_start, prior) == actions


def test_turn_context_looks_past_listen_and_slots() -> None:
    def action(name: str) -> dict[str, object]:
        return {"event": "action", "name": name}

    tracker = Tracker(
        "s",
        [
            action("action_session_start"),
            {"event": "session_started"},
            action("action_listen"),
            {"event": "user", "parse_data": {"intent": {"name": "greet"}}},
        ],
    )
    assert tracker.turn_context() == (True, None)
    tracker.events += [
        action("utter_ask_safe_to_chat"),
        action("action_listen"),
        {"event": "slot", "name": "language", "value": "es"},
        {"event": "user", "parse_data": {"intent": {"name": "affirm"}}},
    ]
    assert tracker.turn_context() == (False, "utter_ask_safe_to_chat")


def test_slots_start_from_the_domain_and_a_new_session_resets_them() -> None:
    project = load_project()
    tracker = Tracker("s", [{"event": "slot", "name": "country", "value": "MX"}])
    assert tracker.slots(project) == {
        "language": "en",
        "country": "MX",
        "need": None,
        "session_started_metadata": None,
    }
    tracker.events.append({"event": "session_started"})
    assert tracker.slots(project)["country"] is None


def test_the_rest_channel_output_of_one_bot_message() -> None:
    """Buttons keep the text whole; plain text is split at blank lines; custom JSON comes apart."""
    with_buttons = {
        "text": "a\n\nb",
        "data": {"buttons": [{"title": "Sí", "payload": "/affirm"}], "custom": {"key": "k"}},
    }
    assert _collect("r", with_buttons) == [
        {"recipient_id": "r", "text": "a\n\nb", "buttons": [{"title": "Sí", "payload": "/affirm"}]},
        {"recipient_id": "r", "custom": {"key": "k"}},
    ]
    plain = {"text": "one\n\ntwo", "data": {"buttons": [], "custom": None}}
    assert _collect("r", plain) == [
        {"recipient_id": "r", "text": "one"},
        {"recipient_id": "r", "text": "two"},
    ]
