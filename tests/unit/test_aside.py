"""Where the request starts after an aside (bot/conversation/aside.py), in the four languages."""

from __future__ import annotations

import pytest

from bot.conversation.aside import folded_in_place, request_part


@pytest.mark.parametrize(
    "text,part",
    [
        ("lol my cousin says shes gonna kill me if i burn the rice 😂 anyway hi!", "hi!"),
        (
            "lmao my roommate says shell sell me if i eat her yogurt 💀 anyway can u switch to "
            "spanish pls",
            "can u switch to spanish pls",
        ),
        (
            "jajaja mi jefe es un explotador, mentira, es buena gente. oye qué significa "
            "servidumbre por deudas?",
            "qué significa servidumbre por deudas?",
        ),
        (
            "hahaha to presa no trabalho até as 22h 😭😂 brincadeira. mas sério, quem eu procuro "
            "pra cobrar horas extras",
            "quem eu procuro pra cobrar horas extras",
        ),
        (
            "Haha mon chum m'a kidnappée pour une fin de semaine surprise lol. Bon, vous parlez "
            "anglais?",
            "vous parlez anglais?",
        ),
        # No turning word: the last sentence, if it has a few words.
        (
            "my friends kidnapped me for my birthday lmao. best day. just wanted to say thank you",
            "just wanted to say thank you",
        ),
    ],
)
def test_the_request_after_the_aside(text: str, part: str) -> None:
    assert request_part(text) == part


@pytest.mark.parametrize(
    "text",
    [
        "hi",
        "anyway, are you a bot",  # nothing before the turning word: no aside
        "I'm starving over here, what time is dinner at the shelter?",  # one sentence
        "ok. yes",  # too short on both sides
        "bueno dias a todos",  # "bueno" at the start is no turn
    ],
)
def test_no_aside(text: str) -> None:
    assert request_part(text) is None


def test_folding_keeps_every_position() -> None:
    text = "Ça VA? Olá, ÉTÉ ﬁn"
    folded = folded_in_place(text)
    assert len(folded) == len(text)
    assert folded.startswith("ca va? ola, ete")
