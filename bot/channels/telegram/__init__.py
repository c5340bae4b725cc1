"""Telegram, through python-telegram-bot 22, split by what each part does: ``api`` (the client,
the webhook's secret, the platform's limits, what an error means), ``updates`` (reading an update,
touching nothing), ``replies`` (laying replies out and sending one), ``erasure`` (deleting a chat's
messages on exit) and ``channel`` (``TelegramChannel``: the webhook, polling in development, and
the channel interface the inbox and outbox call)."""
