"""Pseudonyms and encryption at rest, both derived from the deployment's one secret key.

A contact is known only by a keyed hash of ``channel:user id``; the address needed to reply is kept
encrypted. Without the key, a copy of the database links no row to a phone number or chat.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def _derive(secret: str, purpose: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose).derive(
        secret.encode()
    )


class Crypto:
    def __init__(self, secret: str) -> None:
        self._hash_key = _derive(secret, b"contact-pseudonym")
        self._fernet = Fernet(base64.urlsafe_b64encode(_derive(secret, b"address-encryption")))
        self._token_key = _derive(secret, b"internal-token")
        self._digest_key = _derive(secret, b"keyed-digest")

    def pseudonym(self, channel: str, user_id: str) -> str:
        msg = f"{channel}:{user_id}".encode()
        return hmac.new(self._hash_key, msg, hashlib.sha256).hexdigest()

    def message_key(self, channel: str, message_id: str) -> str:
        """Dedupe key for an inbound message id, so raw platform ids are not kept either."""
        msg = f"msg:{channel}:{message_id}".encode()
        return hmac.new(self._hash_key, msg, hashlib.sha256).hexdigest()[:40]

    def encrypt(self, plain: str) -> str:
        return self._fernet.encrypt(plain.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except (InvalidToken, ValueError):
            return None

    def internal_token(self, purpose: str) -> str:
        """A stable token for loopback callbacks (Rasa → bot, CLI → bot)."""
        return hmac.new(self._token_key, purpose.encode(), hashlib.sha256).hexdigest()

    def keyed_digest(self, purpose: str, value: str) -> str:
        """A keyed hash of something the database must match on but never hold in clear (a
        staff address and a client address, for the sign-in delays). A key of its own, so that
        it can never equal a contact's pseudonym or a token."""
        msg = f"{purpose}\0{value}".encode()
        return hmac.new(self._digest_key, msg, hashlib.sha256).hexdigest()
