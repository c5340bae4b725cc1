"""The parts that let several processes share state, one by one: Rasa's endpoints file (Redis
tracker and lock stores, secrets out of files and command lines), the Redis URL and key prefix,
``BOT_RASA_URL``, one secret key per database, and the event relay's encoding."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.events import Event
from bot.rasa.endpoints import (
    REDIS_PASSWORD_VARIABLE,
    RedisTarget,
    RedisUrlError,
    endpoints_text,
    redis_environment,
    tracker_expiry_seconds,
    write_endpoints,
)
from bot.rasa.process import RasaProcess
from bot.settings import Settings
from bot.store.crypto import Crypto
from bot.store.db import Database
from bot.store.keys import KeyMismatch, check_key
from bot.store.notify import MAX_PAYLOAD, conninfo, decode, encode

PASSWORD = "s3cr/t p@ss"
URL = "redis://:s3cr%2Ft%20p%40ss@10.0.0.7:6380/3"


def settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, secret_key="k", **values)  # type: ignore[arg-type]


def test_without_redis_rasa_keeps_its_trackers_in_memory(tmp_path: Path) -> None:
    text = endpoints_text(settings(tmp_path))
    assert "${BOT_CALLBACK_URL}/rasa/nlg" in text and "${BOT_CALLBACK_TOKEN}" in text
    assert "tracker_store" not in text and "lock_store" not in text
    assert redis_environment(settings(tmp_path)) == {}


def test_with_redis_both_stores_expire_with_the_transcripts(tmp_path: Path) -> None:
    s = settings(tmp_path, redis_url=URL, redis_key_prefix="deploy2", transcript_ttl_hours=48)
    text = endpoints_text(s)
    tracker, lock = text.split("tracker_store:")[1].split("lock_store:")
    for block in (tracker, lock):
        assert "type: redis" in block and 'url: "10.0.0.7"' in block
        assert "port: 6380" in block and "db: 3" in block and "use_ssl: false" in block
        assert 'key_prefix: "deploy2"' in block
        assert f"password: ${{{REDIS_PASSWORD_VARIABLE}}}" in block
    assert f"record_exp: {48 * 3600}" in tracker and "record_exp" not in lock
    assert tracker_expiry_seconds(s) == 48 * 3600
    # The password reaches Rasa in its environment, decoded, and is in no file.
    assert redis_environment(s) == {REDIS_PASSWORD_VARIABLE: PASSWORD}
    assert PASSWORD not in text and "s3cr" not in text


def test_the_endpoints_file_is_private_and_not_on_the_command_line(tmp_path: Path) -> None:
    s = settings(tmp_path, redis_url=URL)
    path = write_endpoints(s)
    assert path == tmp_path / "rasa" / "endpoints.yml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert "s3cr" not in path.read_text()
    process = RasaProcess(s, tmp_path / "model.tar.gz", "api-token", "callback-token")
    command = " ".join(process.command())
    assert str(path) in command
    assert "s3cr" not in command and "api-token" not in command and "10.0.0.7" not in command


def test_redis_urls() -> None:
    tls = RedisTarget.parse("rediss://user:pw@cache.internal")
    assert (tls.host, tls.port, tls.db, tls.username, tls.password, tls.ssl) == (
        "cache.internal",
        6379,
        0,
        "user",
        "pw",
        True,
    )
    for bad in ("http://127.0.0.1:6379", "redis://", "redis://h:port/0", "redis://h/zero"):
        with pytest.raises(RedisUrlError) as refused:
            RedisTarget.parse(bad)
        assert "BOT_REDIS_URL" in str(refused.value)
    with pytest.raises(RedisUrlError) as refused:
        RedisTarget.parse("redis://:hunter2@h:x/0")
    assert "hunter2" not in str(refused.value)


def test_the_key_prefix_is_letters_and_digits(tmp_path: Path) -> None:
    # Rasa would silently fall back to its shared default for any other prefix.
    for bad in ("safe-harbour", "a:b", "", "clé"):
        with pytest.raises(ValidationError):
            settings(tmp_path, redis_key_prefix=bad)


def test_rasa_url_names_a_running_rasa(tmp_path: Path) -> None:
    local = settings(tmp_path, rasa_port=5111)
    assert not local.rasa_external
    assert local.rasa_endpoint == local.rasa_local_url == "http://127.0.0.1:5111"
    remote = settings(tmp_path, rasa_url="http://127.0.0.1:5200/", rasa_port=5111)
    assert remote.rasa_external and remote.rasa_endpoint == "http://127.0.0.1:5200"
    assert remote.rasa_local_url == "http://127.0.0.1:5111"  # what a retraining's candidate uses


def test_one_secret_key_per_database(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    db.migrate()
    try:
        check_key(db, Crypto("key-one-xyz"), explicit=True)  # recorded
        check_key(db, Crypto("key-one-xyz"), explicit=False)  # the same key: fine, every time
        with pytest.raises(KeyMismatch) as generated:
            check_key(db, Crypto("a key generated on another host"), explicit=False)
        assert "BOT_SECRET_KEY" in str(generated.value)
        assert "generated a key of its own" in str(generated.value)
        with pytest.raises(KeyMismatch) as explicit:
            check_key(db, Crypto("key-two-xyz"), explicit=True)
        assert "set, but to a different value" in str(explicit.value)
        assert "xyz" not in str(explicit.value)
    finally:
        db.dispose()


def test_events_travel_as_ids_and_kinds() -> None:
    event = Event("handoff.message", "c0ffee", {"handoff": "h1", "direction": "in"})
    payload = encode(event, "process-a")
    assert payload is not None
    assert decode(payload) == ("process-a", event)
    assert encode(Event("x", None, {"big": "y" * MAX_PAYLOAD}), "a") is None
    for junk in ("", "not json", "[]", '{"o": "a"}', '{"o": "a", "k": "x", "d": [1]}'):
        assert decode(junk) is None


def test_conninfo_from_the_database_url() -> None:
    assert (
        conninfo("postgresql+psycopg://bot:pw@db.internal:5433/bot")
        == "postgresql://bot:pw@db.internal:5433/bot"
    )


@pytest.mark.parametrize("command", [["run"], ["rasa", "serve"]])
def test_an_unreadable_redis_url_stops_before_anything_starts(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot import cli
    from bot.settings import get_settings

    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BOT_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("BOT_REDIS_URL", "http://:hunter2@127.0.0.1:6379/0")
    get_settings.cache_clear()
    try:
        assert cli.main(command) == 1
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "Not started: BOT_REDIS_URL must start with redis://" in err
    assert "hunter2" not in err
    assert not (tmp_path / "bot.sqlite3").exists()  # nothing was started or created
