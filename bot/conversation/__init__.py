"""The conversation: one turn per inbound message, from any channel (turns.py is the entry).

Modules, in the order a turn meets them: ``turns`` (unit of work, loading, held lines),
``language``, ``routes`` (the table), then one module per kind of step: ``commands``,
``crisis``, ``choices`` (buttons and typed numbers), ``understanding`` (the model's reading of
free text), ``dialogue`` (Rasa), ``erasure`` (exit, stop, delete), ``rate`` (the per-contact
rate limit). The survivor's side of the handoff lives in ``bot/handoff/survivor.py``.
"""

from bot.conversation.parts import Countries, Parts, Rasa
from bot.conversation.turns import Conversations

__all__ = ["Conversations", "Countries", "Parts", "Rasa"]
