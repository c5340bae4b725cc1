"""What the privacy texts tell a survivor is what the code does (docs/data.md, issue #15 item 7).

Each test ties one claim of ``utter_privacy``, ``utter_privacy_young`` or ``utter_deleted`` to the
code or setting it depends on, in every language and for every platform: a change to what is kept
then fails here until the text says it too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from bot.directory.service import Directory
from bot.handoff.hours import TeamHours
from bot.nlg.catalog import Catalog
from bot.nlg.lint import MAX_LENGTH, glance, revealing
from bot.nlg.messages import MESSAGES
from bot.nlg.render import RenderContext, Renderer, platform_keeps_key
from bot.platforms import PLATFORMS
from bot.settings import Settings
from bot.store.crypto import Crypto
from bot.store.db import Database
from bot.store.models import Contact

LANGS = ("en", "es", "pt", "fr")
ROOT = Path(__file__).resolve().parents[2]
TEXTS = ("utter_privacy", "utter_privacy_young", "utter_deleted")
# The limits of confidentiality utter_handoff_explain states, as each language says them: a child
# at risk and a life in danger. The adult text names both; the young one names the first.
CHILD = {"en": "child", "es": "menor de edad", "pt": "criança", "fr": "enfant"}
LIFE = {"en": "a life", "es": "una vida", "pt": "uma vida", "fr": "une vie"}
# What the old text promised and the law does not allow: no exception at all.
NEVER_SHARE = {
    "en": r"never share",
    "es": r"nunca compart",
    "pt": r"nunca compartilh",
    "fr": r"ne partage\w* jamais",
}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog(list(LANGS))


@pytest.fixture(scope="module")
def renderer(catalog: Catalog) -> Renderer:
    settings = Settings(transcript_ttl_hours=37)  # not the default: the text follows the setting
    return Renderer(settings, catalog, TeamHours(settings.team_hours, settings.team_timezone))


@pytest.fixture(scope="module")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    database = Database(f"sqlite:///{tmp_path_factory.mktemp('privacy') / 'p.sqlite3'}")
    database.migrate()
    with database.session() as s:
        yield Directory(s)
    database.dispose()


def _render(
    renderer: Renderer, directory: Directory, key: str, lang: str, channel: str, young: bool
) -> str:
    ctx = RenderContext(lang, channel, young=young)
    return renderer.render(key, ctx, directory).text


@pytest.mark.parametrize("lang", LANGS)
def test_the_transcript_time_the_text_states_is_the_purge_setting(
    renderer: Renderer, directory: Directory, lang: str
) -> None:
    text = _render(renderer, directory, "utter_privacy", lang, "telegram", False)
    assert re.findall(r"\d+", text) == ["37"], text
    # The default, as docs/data.md states it, is the one a deployment gets.
    default = Settings.model_fields["transcript_ttl_hours"].default
    assert default == 24
    assert f"`BOT_TRANSCRIPT_TTL_HOURS` ({default})" in (ROOT / "docs/data.md").read_text()


@pytest.mark.parametrize("lang", LANGS)
def test_the_text_names_the_legal_limits_and_promises_no_secrecy(
    catalog: Catalog, lang: str
) -> None:
    adult = catalog.text("utter_privacy", lang)
    young = catalog.text("utter_privacy_young", lang)
    explain = catalog.text("utter_handoff_explain", lang)
    for text in (adult, explain):
        assert CHILD[lang] in text.lower() and LIFE[lang] in text.lower(), text
    assert "18" in young
    for text in (adult, young, explain):
        assert not re.search(NEVER_SHARE[lang], text.lower()), text


def test_what_the_text_says_is_kept_is_what_a_contact_row_holds() -> None:
    """Language, country and the address (encrypted); a contact is found by a keyed hash of its
    platform id, never the id. A new column here means the privacy text must say so too."""
    columns = {c.key for c in inspect(Contact).columns}
    assert columns == {
        "id",
        "channel",
        "address_enc",
        "language",
        "country",
        "first_seen_on",
        "last_seen_on",
        "blocked",
    }
    crypto = Crypto("x" * 40)
    address = "+15551234567"
    sealed = crypto.encrypt(address)
    assert address not in sealed and "5551234567" not in sealed
    assert crypto.decrypt(sealed) == address
    pseudonym = crypto.pseudonym("whatsapp", address)
    assert re.fullmatch(r"[0-9a-f]{64}", pseudonym)
    assert Crypto("y" * 40).pseudonym("whatsapp", address) != pseudonym  # keyed, not a bare hash


def test_each_platform_has_its_own_sentence_and_the_rest_a_general_one() -> None:
    keys = {p.name: platform_keeps_key(p.name) for p in PLATFORMS}
    assert keys == {
        "telegram": "platform_keeps_telegram",
        "whatsapp": "platform_keeps_whatsapp",
        "webchat": "platform_keeps_webchat",
        "terminal": "platform_keeps_other",
        "eval": "platform_keeps_other",
    }
    assert platform_keeps_key("somewhere") == "platform_keeps_other"
    assert all(MESSAGES[key].safety_critical for key in keys.values())


@pytest.mark.parametrize("lang", LANGS)
def test_every_text_as_received_on_every_platform_is_whole_neutral_and_short(
    renderer: Renderer, directory: Directory, catalog: Catalog, lang: str
) -> None:
    for p in PLATFORMS:
        keeps = catalog.text(platform_keeps_key(p.name), lang)
        for key in TEXTS:
            for young in (False, True):
                text = _render(renderer, directory, key, lang, p.name, young)
                where = (lang, p.name, key, young)
                assert keeps in text, where  # the platform's sentence, in this language
                assert "{" not in text and "}" not in text, where
                assert len(text) <= MAX_LENGTH, (where, len(text))
                assert revealing(text, lang) == [], (where, glance(text))
                assert text.count("?") == 0, where
                if lang != "en":  # never an English sentence ("the web chat") in another
                    english = catalog.text(platform_keeps_key(p.name), "en")
                    assert english not in text, where


def test_the_web_chat_page_keeps_nothing_in_the_browser() -> None:
    """platform_keeps_webchat: "your browser keeps this chat only while the page is open"."""
    script = (ROOT / "bot/channels/webchat/static/chat.js").read_text()
    for store in ("localStorage", "sessionStorage", "indexedDB", "document.cookie", "caches."):
        assert store not in script, store
