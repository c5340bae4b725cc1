"""The web chat channel: a page at /chat (or in an organisation's <iframe>) for people who cannot
keep a messaging app on a phone someone else checks. Its messages go through the same durable
inbox, turn and outbox as Telegram's; docs/webchat.md describes it."""
