"""The Telegram Bot API as this channel uses it: the PTB client aimed at the configured server,
the webhook's secret and registration, the platform's limits (text length, callback data) and what
a Bot API error means for the outbox (429 waits ``retry_after``, 403 means the person blocked the
bot, 400 is dead, the rest is retried). Receiving, sending and erasing all talk to the same client
and read the same limits, so they are declared once here, below all three."""

from __future__ import annotations

import datetime as dt
import warnings

from telegram import Bot
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest

from bot.channels.base import Outcome, SendResult
from bot.settings import Settings
from bot.store.crypto import Crypto

ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
MAX_TEXT = 4096
MAX_CALLBACK_DATA = 64  # bytes
MAX_WEBHOOK_CONNECTIONS = 5  # few parallel deliveries: fewer updates out of order


def webhook_secret(settings: Settings, crypto: Crypto) -> str:
    """The secret Telegram sends back in every webhook: configured, or derived from the key
    (hex: within the 1-256 characters of A-Z, a-z, 0-9, _ and - that Telegram accepts)."""
    return settings.telegram_secret or crypto.internal_token("telegram-webhook")[:64]


class Api:
    """A PTB ``Bot`` aimed at BOT_TELEGRAM_API_URL, with the HTTP clients we open and close
    ourselves (``Bot.initialize`` would call getMe, which start-up does not need)."""

    def __init__(self, settings: Settings, poll_timeout: float = 0) -> None:
        base = settings.telegram_api_url.rstrip("/")
        self.requests = (
            HTTPXRequest(
                connection_pool_size=16,
                connect_timeout=5.0,
                read_timeout=15.0,
                write_timeout=15.0,
                pool_timeout=5.0,
            ),
            HTTPXRequest(
                connection_pool_size=1, connect_timeout=5.0, read_timeout=poll_timeout + 15.0
            ),
        )
        self.bot = Bot(
            settings.telegram_token,
            base_url=f"{base}/bot",
            base_file_url=f"{base}/file/bot",
            request=self.requests[0],
            get_updates_request=self.requests[1],
        )

    async def close(self) -> None:
        for request in self.requests:
            await request.shutdown()


async def set_webhook(settings: Settings, crypto: Crypto, url: str) -> bool:
    """Register the webhook with our secret and only the update kinds the bot uses."""
    api = Api(settings)
    try:
        return await api.bot.set_webhook(
            url,
            secret_token=webhook_secret(settings, crypto),
            allowed_updates=ALLOWED_UPDATES,
            max_connections=MAX_WEBHOOK_CONNECTIONS,
        )
    finally:
        await api.close()


def retry_after(exc: BaseException) -> float | None:
    if not isinstance(exc, RetryAfter):
        return None
    with warnings.catch_warnings():  # PTB 22 warns that retry_after will become a timedelta
        warnings.simplefilter("ignore")
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def failure(exc: TelegramError) -> SendResult:
    """What a Bot API error means for the outbox (PTB maps the HTTP status to the class)."""
    name = type(exc).__name__
    if isinstance(exc, RetryAfter):
        return SendResult(Outcome.RETRY, "429", retry_after=retry_after(exc))
    if isinstance(exc, Forbidden):
        return SendResult(Outcome.BLOCKED, "403")
    if isinstance(exc, BadRequest | ChatMigrated):  # BadRequest before NetworkError: a subclass
        return SendResult(Outcome.DEAD, "400")
    if isinstance(exc, InvalidToken):
        return SendResult(Outcome.RETRY, "401")  # a configuration error: staff can fix it
    return SendResult(Outcome.RETRY, name)  # NetworkError, TimedOut, 5xx, Conflict
