"""The web chat's pure parts: laying replies out, reading a message from the page, the open chats
(tokens, listening pages, closed tabs) and the headers that keep the page unframed and uncached."""

from __future__ import annotations

import asyncio

from bot.channels.webchat.channel import (
    EXIT_WORD,
    csp,
    headers_for,
    parse_message,
    plan_replies,
)
from bot.channels.webchat.sessions import Sessions, is_user_id, user_id_of
from bot.safety.commands import Command, CommandMatcher
from bot.types import Reply, ReplyButton


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sessions(clock: Clock | None = None) -> Sessions:
    return Sessions(lambda user_id: "c-" + user_id, clock or Clock())


def test_only_the_question_a_number_answers_is_numbered() -> None:
    offer = Reply(
        "Switch?", [ReplyButton("Español", '/choose_language{"language":"es"}')], key="offer"
    )
    asked = Reply("Safe?", [ReplyButton("Yes", "/affirm"), ReplyButton("No", "/deny")], key="q")
    planned = plan_replies([Reply("Hello.", key="intro"), offer, asked], erase=False)
    assert planned == [
        {"kind": "message", "text": "Hello.", "buttons": []},
        {
            "kind": "message",
            "text": "Switch?",
            "buttons": [{"title": "Español", "data": '/choose_language{"language":"es"}'}],
        },
        {
            "kind": "message",
            "text": "Safe?",
            "buttons": [
                {"title": "1. Yes", "data": "/affirm"},
                {"title": "2. No", "data": "/deny"},
            ],
        },
    ]


def test_a_payload_too_long_travels_as_its_number() -> None:
    long = "/" + "x" * 300
    asked = Reply("Pick", [ReplyButton("A", "/a"), ReplyButton("B", long)])
    other = Reply("Also", [ReplyButton("C", long)])
    planned = plan_replies([other, asked], erase=False)
    assert planned[0]["buttons"] == []  # neither tappable nor typed: left out
    assert planned[1]["buttons"] == [
        {"title": "1. A", "data": "/a"},
        {"title": "2. B", "data": "2"},
    ]


def test_the_exit_clears_the_page_instead() -> None:
    assert plan_replies([Reply("OK", key="exit_reply")], erase=True) == [{"kind": "erase"}]


def test_messages_from_the_page() -> None:
    session = sessions().open("es")[1]
    typed = parse_message({"id": "ab" * 8, "text": "  hola \n"}, session)
    assert typed is not None
    assert (typed.channel, typed.user_id, typed.text, typed.payload) == (
        "webchat",
        session.user_id,
        "hola",
        None,
    )
    assert typed.message_id == f"{session.user_id}:{'ab' * 8}"
    assert typed.language_hint == "es"
    tapped = parse_message({"id": "cd" * 8, "payload": "/affirm"}, session)
    assert tapped is not None and (tapped.text, tapped.payload) == (None, "/affirm")
    number = parse_message({"id": "ef" * 8, "payload": "2"}, session)
    assert number is not None and (number.text, number.payload) == ("2", None)
    cut = parse_message({"id": "01" * 8, "text": "a" * 5000}, session)
    assert cut is not None and cut.text == "a" * 4096
    for bad in (
        {"text": "hola"},
        {"id": "AB" * 8, "text": "hola"},
        {"id": "ab", "text": "hola"},
        {"id": "ab" * 8},
        {"id": "ab" * 8, "text": ""},
        {"id": "ab" * 8, "text": ["hola"]},
        {"id": "ab" * 8, "payload": "affirm"},
        {"id": "ab" * 8, "payload": "/"},
        {"id": "ab" * 8, "payload": "123"},
        {"id": "ab" * 8, "payload": 5},
    ):
        assert parse_message(bad, session) is None, bad


def test_the_exit_word_is_a_command_in_every_language() -> None:
    hit = CommandMatcher().match(EXIT_WORD)
    assert hit is not None and hit.command is Command.EXIT


def test_tokens_are_kept_only_as_their_hash() -> None:
    chats = sessions()
    token, session = chats.open("fr")
    assert len(token) == 43 and token not in session.user_id
    assert session.user_id == user_id_of(token) and is_user_id(session.user_id)
    assert session.contact_id == "c-" + session.user_id
    assert chats.get(token) is session
    assert chats.by_contact(session.contact_id) is session
    assert chats.get(token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert chats.get("") is None and chats.get(None) is None and chats.get("x" * 500) is None
    assert not is_user_id("w" + "g" * 40) and not is_user_id("123456")
    chats.drop(session)
    assert chats.get(token) is None and len(chats) == 0


async def test_a_page_that_stops_reading_did_not_get_the_reply() -> None:
    clock = Clock()
    chats = sessions(clock)
    _, session = chats.open("en")
    assert chats.push(session, {"kind": "message"}) == []  # nobody listens
    queue = chats.attach(session)
    assert session.gone_since is None and session.attached.is_set()
    written = chats.push(session, {"kind": "message", "text": "hi"})
    assert len(written) == 1 and not written[0].done()
    item = queue.get_nowait()
    assert item is not None and item[0] == {"kind": "message", "text": "hi"}
    item[1].set_result(True)  # what the stream does once it wrote the event
    unread = chats.push(session, {"kind": "message", "text": "lost?"})
    clock.now += 5
    chats.detach(session, queue)
    assert [f.result() for f in unread] == [False]  # counted as not delivered: held, resent
    assert session.gone_since == clock.now and not session.attached.is_set()
    await asyncio.sleep(0)


def test_closed_tabs_are_found_after_the_grace_period() -> None:
    clock = Clock()
    chats = sessions(clock)
    _, never = chats.open("en")  # opened, never listened
    _, listening = chats.open("en")
    chats.attach(listening)
    clock.now += 119
    assert chats.gone(120) == []
    clock.now += 1
    assert chats.gone(120) == [never]


def test_framing_is_refused_unless_an_origin_is_allowed() -> None:
    assert "frame-ancestors 'none'" in csp([])
    assert headers_for([])["x-frame-options"] == "DENY"
    allowed = headers_for(["https://www.example.org", "*", "https://a.org; script-src *"])
    assert "frame-ancestors https://www.example.org;" in allowed["content-security-policy"]
    assert "x-frame-options" not in allowed
    assert "script-src 'self';" in allowed["content-security-policy"]
    assert headers_for([])["cache-control"] == "no-store"
