"""Rasa custom actions (rasa_sdk API). Thin: they call into the bot's services and run in the
bot process behind a loopback endpoint (bot/rasa/callbacks.py)."""
