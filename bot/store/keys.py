"""One secret key per database: a process whose key differs refuses to start.

The secret key makes every pseudonym (a contact is a keyed hash of its platform id) and encrypts
every address and transcript. A second ``bot run`` on another host, or in a container without
the first one's ``var/``, would otherwise generate a key of its own: the same person would become
a new contact there, with a new conversation, and neither process could read what the other
encrypted. Nothing would fail loudly; people would just be asked everything again and staff
would see two strangers.

So the first process to open a database records a keyed digest of its key (an HMAC: it tells
nothing about the key), and every later start compares. A mismatch stops the process with a
message that says what to do: give every process the same ``BOT_SECRET_KEY``. On SQLite, where
one process runs, the same check catches a ``var/secret_key`` lost or replaced beside an old
database file.
"""

from __future__ import annotations

import hmac

from sqlalchemy.exc import IntegrityError

from bot.store.crypto import Crypto
from bot.store.db import Database
from bot.store.ops_models import KeyCheck

NAME = "secret_key"
PURPOSE = "key-check"


class KeyMismatch(Exception):
    """This process's secret key is not the one the database was set up with."""


def digest(crypto: Crypto) -> str:
    return crypto.internal_token(PURPOSE)


def check_key(db: Database, crypto: Crypto, explicit: bool) -> None:
    """Record the key's digest on first use; raise ``KeyMismatch`` if another key was recorded.

    ``explicit``: the key came from ``BOT_SECRET_KEY`` (not generated into ``var/``), which only
    changes what the message advises.
    """
    ours = digest(crypto)
    for _ in range(2):  # two processes starting at once on an empty table: one insert wins
        with db.session() as s:
            row = s.get(KeyCheck, NAME)
            if row is not None:
                if hmac.compare_digest(row.digest, ours):
                    return
                raise KeyMismatch(_advice(explicit))
        try:
            with db.session() as s:
                s.add(KeyCheck(name=NAME, digest=ours))
            return
        except IntegrityError:
            continue
    raise KeyMismatch(_advice(explicit))  # pragma: no cover - the row exists after a lost race


def _advice(explicit: bool) -> str:
    where = (
        "BOT_SECRET_KEY is set, but to a different value"
        if explicit
        else "no BOT_SECRET_KEY is set, so this process generated a key of its own"
    )
    return (
        f"this database was set up with another secret key ({where}). Every bot process that "
        "shares a database must use the same key, or people would get new pseudonyms and "
        "nothing encrypted could be read. Set BOT_SECRET_KEY on every process to the first "
        "process's key (its BOT_SECRET_KEY, or the file secret_key in its data folder) and "
        "start again."
    )
