"""All configuration, read once from ``BOT_*`` environment variables (and an optional ``.env``).

Every field has a default that runs the assistant on one machine with nothing else installed:
SQLite under ``var/``, Rasa on loopback, the sample directory. docs/configuration.md lists them.
"""

from __future__ import annotations

import os
import secrets
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.languages import CODES

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LANGUAGES: tuple[str, ...] = CODES  # bot/languages.py declares them
# The default organisation name, and how each language says it (survivors never see an English
# name inside Spanish, Portuguese or French text).
DEFAULT_ORG_NAME = "Support Line"
DEFAULT_ORG_NAMES: dict[str, str] = {
    "en": "Support Line",
    "es": "Línea de Apoyo",
    "pt": "Linha de Apoio",
    "fr": "Ligne de soutien",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BOT_", env_file=".env", extra="ignore")

    @field_validator("redis_key_prefix")
    @classmethod
    def _alphanumeric_prefix(cls, value: str) -> str:
        # Rasa ignores a prefix that is not alphanumeric, and would silently share keys.
        if not value.isalnum() or not value.isascii():
            raise ValueError("BOT_REDIS_KEY_PREFIX must be ASCII letters and digits only")
        return value

    def org_name_in(self, language: str) -> str:
        """The organisation's name in ``language`` (``org_names``, then the default name's own
        translation, then ``org_name``)."""
        if language in self.org_names:
            return self.org_names[language]
        if self.org_name == DEFAULT_ORG_NAME:
            return DEFAULT_ORG_NAMES.get(language, self.org_name)
        return self.org_name

    # The bot server (webhooks, Rasa callbacks, console).
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str = ""  # e.g. https://help.example.org, used for webhook registration
    # Addresses of the reverse proxy whose X-Forwarded-For is believed (comma separated), so
    # per-address limits (web chat, sign-in) count each person, not the proxy. Never more.
    trusted_proxies: str = "127.0.0.1"

    # Where local state lives: the SQLite file, the generated secret key, logs.
    data_dir: Path = PROJECT_ROOT / "var"
    database_url: str = ""  # empty: sqlite:///<data_dir>/bot.sqlite3
    # PostgreSQL as a dependency that can fail (bot/store/db.py): seconds to open a connection,
    # for one statement and for a row lock (server-side; 0: no limit), to wait for a free pooled
    # connection; and the threads that run database work off the event loop.
    database_connect_timeout: float = 5.0
    database_statement_timeout: float = 30.0
    database_lock_timeout: float = 10.0
    database_pool_timeout: float = 10.0
    # Few: each runs ORM code holding the interpreter lock the event loop needs, so more threads
    # slow a crisis down above saturation and speed nothing up (docs/benchmarks.md, 2026-12-06).
    database_threads: int = 4
    # Threads kept for a crisis's, an exit's or a delete's database work (their webhook, claim,
    # turn and delivery), so it never queues behind the ordinary work on the threads above.
    database_urgent_threads: int = 2
    # Seconds a database call made on the event loop (a turn's reads, the console) may take
    # before its connection is given up, so a stalled database does not stop the process.
    database_loop_timeout: float = 1.0
    secret_key: str = ""  # empty: generated once into <data_dir>/secret_key

    # The Rasa process: Python 3.10 venv, loopback only.
    rasa_venv: Path = PROJECT_ROOT / ".venv-rasa"
    rasa_host: str = "127.0.0.1"
    rasa_port: int = 5005
    rasa_timeout: float = 8.0  # seconds before the conversation answers without Rasa
    rasa_start_timeout: float = 240.0
    # While Rasa starts, restarts or hangs, a message that needs it waits in the inbox this long
    # before it gets the fixed apology with the numbers (crisis, exit, delete, language and
    # "person" never wait).
    rasa_wait_seconds: float = 300.0
    rasa_restart_max_seconds: float = 60.0  # a dead Rasa is restarted after 1 s, 2 s, 4 s … this
    start_rasa: bool = True  # `bot run` starts Rasa itself; false when it runs elsewhere
    # An already running Rasa to use instead of starting one (e.g. http://10.0.0.5:5005, one
    # Rasa or a load balancer in front of several): `bot run` then starts none. Empty: `bot run`
    # starts its own on BOT_RASA_HOST:BOT_RASA_PORT.
    rasa_url: str = ""
    # Redis for the Rasa that `bot run` starts: its trackers (RedisTrackerStore, kept
    # BOT_TRANSCRIPT_TTL_HOURS after a conversation's last turn) and its conversation locks
    # (RedisLockStore), e.g. redis://:password@127.0.0.1:6379/0 (rediss:// for TLS). Then a
    # restarted Rasa, or another process's, continues each conversation where it was. Empty:
    # in memory, for one process on one machine.
    redis_url: str = ""
    # What our Redis keys start with (letters and digits only), so that several deployments
    # can share one Redis.
    redis_key_prefix: str = "safeharbour"
    model_dir: Path = PROJECT_ROOT / "models"
    model_cache_dir: Path = (
        Path(os.environ.get("XDG_CACHE_HOME", str(Path.home() / ".cache")))
        / "safe-harbour"
        / "models"
    )

    # Understanding.
    languages: list[str] = Field(default_factory=lambda: list(LANGUAGES))
    default_language: str = "en"
    # Below this confidence the assistant shows what it can help with instead of guessing.
    # Measured on the held-out split (docs/eval.md): errors mostly come with high confidence, so a
    # higher bar mostly turns right answers into menus.
    nlu_threshold: float = 0.3
    # The model's reading is a crisis when its emergency and self-harm probabilities together
    # reach this, whatever intent came first (a crisis reply is never irreversible; a missed one
    # may be). Chosen on the development set eval/dev/, reported on eval/independent/.
    crisis_threshold: float = 0.5
    # The same, for a message whose words say it is told from the past or from safety, a joke, a
    # condition or an everyday idiom, with no marker of the present and no risky phrase standing
    # (bot/safety/context.py). Where the model errs most, it must be surer. Chosen on eval/dev/.
    crisis_threshold_in_context: float = 0.8
    # A second look at a risky phrase found alone (not signs of forced labour together, not in a
    # live conversation with staff): the model reads the whole message, and when its emergency and
    # self-harm probabilities together stay below this, the phrase was an everyday idiom ("the
    # exam is going to kill me", "me matan los zapatos nuevos") and the message is answered as
    # what it says. 0 turns the second look off. Chosen on eval/dev* (no crisis those sets found
    # by a phrase was read below 0.23; about a third of their false alarms were below 0.15).
    crisis_second_look: float = 0.15
    # How long that look may take. A model that does not answer in time (slow, restarting, down)
    # is no reason to hold the numbers back: the phrase decides, as it did before the look.
    crisis_second_look_seconds: float = 0.5
    # A crisis the database cannot store within this many seconds (stalled, failing over, cut
    # off) gets its numbers from the webhook itself, before the message is stored
    # (bot/channels/lifeline.py); the turn answers it fully once the database is back.
    crisis_lifeline_seconds: float = 1.5
    # A retrained model goes live only if intent accuracy drops by at most this much in every
    # language (crisis recall may not drop at all): bot/rasa/retrain.py, docs/understanding.md.
    retrain_margin: float = 0.01

    # What the deployment says about itself (neutral name: it shows on lock screens).
    org_name: str = DEFAULT_ORG_NAME
    # The organisation's name as each language says it (JSON: {"es": "Línea de Apoyo"}); a
    # language left out uses BOT_ORG_NAME (the default name has its own translations).
    org_names: dict[str, str] = Field(default_factory=dict)
    bot_name: str = "Ana"
    # Extra exit words, comma separated, on top of EXIT / SALIR / SAIR / QUITTER.
    exit_words: str = ""
    exit_reply: str = "OK"  # the one innocuous line sent after the exit word; empty sends nothing

    # Handoff: when people are on duty (one team, local time), and how long a request may wait.
    team_timezone: str = "America/Mexico_City"
    team_hours: str = "mon-fri 09:00-17:00"
    team_holidays: str = ""  # comma separated ISO dates
    handoff_accept_timeout_minutes: int = 5

    # The per-contact rate limit (bot/conversation/rate.py): messages one person may send in a
    # window before the assistant asks them, once, to slow down. Crisis words, commands, the code
    # word and buttons always go through; in a live handoff every message is still kept for the
    # team. 0 turns it off.
    contact_rate_messages: int = 30
    contact_rate_window_seconds: int = 60

    # Data retention.
    transcript_ttl_hours: int = 24
    dedupe_ttl_days: int = 7

    # Messaging channels (bot/channels/, docs/deploy.md): one without its token is not started.
    telegram_token: str = ""
    telegram_secret: str = ""  # webhook secret header; empty: derived from the secret key
    telegram_api_url: str = "https://api.telegram.org"  # tests point it at a local fake
    telegram_polling: bool = False  # development: getUpdates instead of the webhook
    whatsapp_verify_token: str = ""  # the GET handshake's hub.verify_token
    whatsapp_app_secret: str = ""  # signs every webhook (X-Hub-Signature-256); required
    whatsapp_access_token: str = ""
    whatsapp_phone_number_id: str = ""
    whatsapp_api_url: str = "https://graph.facebook.com/v21.0"
    # An approved, neutral template sent outside the 24-hour window, only to contacts who opted in.
    whatsapp_template: str = ""
    # How long a person's "yes, you may reopen the chat later" lasts (docs/safety.md); 0: never
    # asked, so a reply after the 24-hour window always waits for the person to write.
    whatsapp_optin_days: int = 7
    # The durable outbox: tries before a message is dead-lettered, and the backoff between them.
    outbox_max_attempts: int = 10
    outbox_backoff_seconds: float = 2.0  # doubled after every failed try, with jitter
    outbox_backoff_max_seconds: float = 600.0
    outbox_poll_seconds: float = 2.0  # how often pending rows are looked for without a wake-up
    outbox_dead_ttl_hours: int = 72  # dead letters (encrypted) are kept this long for staff
    # Several bot processes on one PostgreSQL database: how long a process's claim on an inbox or
    # outbox row lasts without renewal (it renews it every third of this while it lives), so
    # how long the rows of a killed process wait before another process takes them over.
    lease_seconds: float = 30.0
    # Turns one process runs at once (urgent ones come on top): a process takes no more people's
    # messages than it can run, so the others on the same database take the rest. The database
    # pool is sized for the default (bot/store/db.py). Few: the bot's CPU, not Rasa's wait, is
    # the limit, and every turn in flight lengthens the event loop's queue a crisis shares.
    inbox_concurrent_turns: int = 4

    # The web chat (/chat, bot/channels/webchat/, docs/webchat.md): a page on this server, or in
    # an <iframe> on an organisation's site, for people who cannot keep a messaging app.
    webchat_enabled: bool = False
    # Where the quick-exit button and the Esc key send the tab (location.replace: the chat's
    # history entry is replaced). Something ordinary that loads fast everywhere.
    webchat_exit_url: str = "https://www.google.com/"
    # Closing or reloading the tab ends the conversation as the exit word does (nothing kept);
    # false keeps it (and a handoff request) for staff until the transcript time-to-live.
    webchat_end_on_close: bool = True
    # A page whose stream has been gone this long counts as closed (a phone that killed the tab
    # sends no goodbye).
    webchat_gone_seconds: int = 120
    # Sites allowed to frame the chat (Content-Security-Policy frame-ancestors), e.g.
    # ["https://www.example.org"]; empty: the chat may not be framed at all.
    webchat_embed_origins: list[str] = Field(default_factory=list)
    # Messages a minute per client address (and per chat), and new chats a minute per address.
    webchat_per_minute: int = 30
    webchat_sessions_per_minute: int = 10
    webchat_max_sessions: int = 2000  # open chats at once; more get "try again later"

    # The staff console (/console) and the live handoff (bot/console/, docs/console.md).
    console_enabled: bool = True
    # "Their turn": minutes after the survivor's last message in which staff may write to someone
    # who chose "only when I write" (the default); outside it the reply box is disabled.
    console_turn_minutes: int = 10
    console_session_hours: int = 12  # a sign-in lasts this long at most
    console_idle_minutes: int = 30  # a session unused this long ends (0: only the hours above)
    # Failed passwords (per account and address) or codes (per account) allowed before each next
    # try must wait, twice as long every time, up to the maximum. Never a hard lock: anyone could
    # lock staff out with one.
    console_free_attempts: int = 5
    console_max_delay_seconds: int = 300
    # Sign-in, second step and invitation posts a minute, per client address and for everyone.
    console_signin_per_ip_per_minute: int = 10
    console_signin_per_minute: int = 120
    # Roles that must use the second step (TOTP) to sign in; "staff" may be added.
    console_totp_roles: list[str] = Field(default_factory=lambda: ["supervisor", "admin"])
    console_invite_hours: int = 72  # a one-time invitation link expires after this
    handoff_watch_seconds: float = 15.0  # how often the queue is checked for unanswered requests

    # The directory seeded on first start.
    sample_directory: Path = PROJECT_ROOT / "bot" / "directory" / "sample_directory.json"
    # Every OAS member state with its emergency and support numbers, merged into the database at
    # start (bot/directory/seed.py: merge_reference); admins edit them from then on.
    countries_file: Path = PROJECT_ROOT / "bot" / "directory" / "countries.json"
    seed_sample_directory: bool = True
    # Entries not verified for this many days are flagged for staff, then no longer offered.
    directory_flag_after_days: int = 90
    directory_hide_after_days: int = 365
    # HSDS imports from the console run as background jobs (bot/directory/hsds/jobs.py): a file
    # may hold at most this many rows (CSV rows of all tables together; in JSON, each service and
    # each of its phones, languages, schedules, areas and attributes), and is checked and written
    # this many entries at a time, each batch its own transaction, so crisis replies and webhooks
    # take the database between batches.
    directory_import_max_rows: int = 50_000
    directory_import_batch_rows: int = 100

    # What one HTTP client may make the server read and compute (bot/http_limits.py): bodies of
    # routes without a larger limit of their own, how long a body may take to arrive, and the
    # threads for password checks (directory imports are checked in a child process).
    max_body_bytes: int = 1_000_000
    body_timeout_seconds: float = 20.0
    cpu_threads: int = 2

    # GET /metrics (Prometheus, counts only): empty answers loopback only, and refuses what came
    # through a proxy; set, it answers anyone who sends "Authorization: Bearer <token>".
    metrics_token: str = ""

    log_level: str = "INFO"

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'bot.sqlite3'}"

    @property
    def rasa_local_url(self) -> str:
        """Where a Rasa that this process starts listens."""
        return f"http://{self.rasa_host}:{self.rasa_port}"

    @property
    def rasa_endpoint(self) -> str:
        """The Rasa this process talks to: ``BOT_RASA_URL``, else the one it starts."""
        return self.rasa_url.rstrip("/") or self.rasa_local_url

    @property
    def rasa_external(self) -> bool:
        """Rasa runs elsewhere and is reached by URL: `bot run` starts none."""
        return bool(self.rasa_url.strip())

    @property
    def callback_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    def key(self) -> str:
        """The deployment's secret: from the environment, else generated once and kept in var/."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        self.secret_key = path.read_text().strip()
        return self.secret_key


def private_dir(path: Path) -> None:
    """A folder only this user can enter (0700), made if missing."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)


def secure_data_dir(path: Path) -> None:
    """``var/`` and everything in it readable by this user only: folders 0700, files 0600.

    The SQLite file, its WAL, Rasa's log and the secret key are worth reading to anyone else on
    the machine. New files are made private by the server's umask (``bot run`` sets 077); this
    fixes what an older version, or a copy, left open.
    """
    private_dir(path)
    for root, dirs, files in os.walk(path):
        for name in dirs:
            os.chmod(os.path.join(root, name), 0o700)
        for name in files:
            full = os.path.join(root, name)
            if not os.path.islink(full):
                os.chmod(full, 0o600)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
