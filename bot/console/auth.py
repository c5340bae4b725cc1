"""Staff accounts and sign-in: argon2 hashes, server-side sessions, lock-out, invitations, TOTP.

The cookie holds a random token; the database keeps only its SHA-256, so a copy of the database
cannot be replayed as a session. Errors never say whether an address has an account.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select

from bot.console import totp
from bot.settings import Settings
from bot.store.console_models import StaffSession, StaffUser
from bot.store.crypto import Crypto
from bot.store.db import Database
from bot.store.models import utcnow
from bot.store.ops_models import team_languages

ROLES = ("staff", "supervisor", "admin")
RANK = {role: n for n, role in enumerate(ROLES)}
PASSWORD_MIN = 12
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("never a real password, only for timing")


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_ok(stored: str | None, password: str) -> bool:
    try:
        return _hasher.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


class AccountError(ValueError):
    """A reason shown to the person creating or changing an account (never during sign-in)."""


@dataclass
class Staff:
    """The signed-in person, as every console view sees them."""

    id: str
    email: str
    display_name: str
    role: str
    language: str
    languages: list[str]  # the queues they answer: their own languages and their teams'
    csrf: str
    session_id: str
    has_totp: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    own_languages: list[str] = field(default_factory=list)  # as ticked in their account

    def can(self, role: str) -> bool:
        return RANK.get(self.role, -1) >= RANK[role]

    def answers(self, language: str) -> bool:
        """Own languages or a team's; nothing at all (no language, no team) means every queue."""
        return not self.languages or language in self.languages


@dataclass(frozen=True)
class SignIn:
    ok: bool
    user_id: str | None = None
    needs_totp: bool = False
    locked: bool = False


class Accounts:
    def __init__(self, db: Database, settings: Settings, crypto: Crypto) -> None:
        self.db = db
        self.settings = settings
        self.crypto = crypto

    # --- accounts ---

    def create(
        self,
        email: str,
        role: str,
        display_name: str,
        password: str | None = None,
        languages: list[str] | None = None,
        console_language: str = "en",
    ) -> tuple[StaffUser, str | None]:
        """A new account with a password, or with a one-time invitation token (returned)."""
        email = email.strip().lower()
        if "@" not in email or len(email) > 254:
            raise AccountError("not an email address")
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        if password is not None:
            check_password(password)
        invite = None if password is not None else secrets.token_urlsafe(32)
        with self.db.session() as s:
            if s.scalar(select(func.count()).where(StaffUser.email == email)):
                raise AccountError("an account with this email exists")
            user = StaffUser(
                email=email,
                display_name=(display_name or email.split("@")[0])[:64],
                role=role,
                password_hash=hash_password(password) if password is not None else None,
                language=console_language if console_language in self.settings.languages else "en",
                languages=[x for x in languages or [] if x in self.settings.languages],
                invite_token_hash=digest(invite) if invite else None,
                invite_expires_at=(
                    utcnow() + dt.timedelta(hours=self.settings.console_invite_hours)
                    if invite
                    else None
                ),
            )
            s.add(user)
        return user, invite

    def new_invite(self, user_id: str) -> str:
        invite = secrets.token_urlsafe(32)
        with self.db.session() as s:
            user = s.get(StaffUser, user_id)
            if user is None:
                raise AccountError("no such account")
            user.invite_token_hash = digest(invite)
            user.invite_expires_at = utcnow() + dt.timedelta(
                hours=self.settings.console_invite_hours
            )
        return invite

    def change(
        self,
        user_id: str,
        by: str,
        role: str | None = None,
        languages: list[str] | None = None,
    ) -> StaffUser:
        """An admin changes someone's role (never their own) or the languages they answer."""
        with self.db.session() as s:
            user = s.get(StaffUser, user_id)
            if user is None:
                raise AccountError("no such account")
            if role is not None:
                if role not in ROLES:
                    raise AccountError(f"role must be one of {', '.join(ROLES)}")
                if user_id == by:
                    raise AccountError("own role")
                user.role = role
            if languages is not None:
                user.languages = [x for x in self.settings.languages if x in languages]
        return user

    def invited(self, token: str) -> StaffUser | None:
        with self.db.session() as s:
            user = s.scalar(select(StaffUser).where(StaffUser.invite_token_hash == digest(token)))
            if user is None or not user.active:
                return None
            if user.invite_expires_at is None or user.invite_expires_at < utcnow():
                return None
            return user

    def accept_invite(self, token: str, password: str) -> str:
        check_password(password)
        user = self.invited(token)
        if user is None:
            raise AccountError("invitation")
        with self.db.session() as s:
            live = s.get(StaffUser, user.id)
            assert live is not None
            live.password_hash = hash_password(password)
            live.invite_token_hash, live.invite_expires_at = None, None
            live.failed_logins, live.locked_until = 0, None
        return user.id

    def set_password(self, user_id: str, current: str, new: str) -> None:
        check_password(new)
        with self.db.session() as s:
            user = s.get(StaffUser, user_id)
            if user is None or not password_ok(user.password_hash, current):
                raise AccountError("current password")
            user.password_hash = hash_password(new)
            # Every other session of this person ends.
            s.execute(delete(StaffSession).where(StaffSession.staff_id == user_id))

    # --- sign-in ---

    def sign_in(self, email: str, password: str) -> SignIn:
        now = utcnow()
        with self.db.session() as s:
            user = s.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
            if user is None or not user.active:
                password_ok(None, password)  # the same work as for a real account
                return SignIn(False)
            if user.locked_until and user.locked_until > now:
                password_ok(None, password)
                return SignIn(False, locked=True)
            if not password_ok(user.password_hash, password):
                user.failed_logins += 1
                if user.failed_logins >= self.settings.console_lockout_attempts:
                    user.locked_until = now + dt.timedelta(
                        minutes=self.settings.console_lockout_minutes
                    )
                    user.failed_logins = 0
                    return SignIn(False, user.id, locked=True)
                return SignIn(False, user.id)
            user.failed_logins, user.locked_until = 0, None
            if user.password_hash and _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            return SignIn(True, user.id, needs_totp=user.totp_secret_enc is not None)

    def check_totp(self, user_id: str, code: str) -> bool:
        with self.db.session() as s:
            user = s.get(StaffUser, user_id)
            if user is None or user.totp_secret_enc is None:
                return False
            secret = self.crypto.decrypt(user.totp_secret_enc)
            step = totp.verify(secret or "", code, user.totp_last_step) if secret else None
            if step is None:
                user.failed_logins += 1
                if user.failed_logins >= self.settings.console_lockout_attempts:
                    user.locked_until = utcnow() + dt.timedelta(
                        minutes=self.settings.console_lockout_minutes
                    )
                    user.failed_logins = 0
                    s.execute(delete(StaffSession).where(StaffSession.staff_id == user_id))
                return False
            user.totp_last_step, user.failed_logins = step, 0
            return True

    def enable_totp(self, user_id: str, secret: str, code: str) -> bool:
        step = totp.verify(secret, code, None)
        if step is None:
            return False
        with self.db.session() as s:
            user = s.get(StaffUser, user_id)
            if user is None:
                return False
            user.totp_secret_enc = self.crypto.encrypt(secret)
            user.totp_last_step = step
        return True

    def disable_totp(self, user_id: str) -> None:
        with self.db.session() as s:
            user = s.get(StaffUser, user_id)
            if user is not None:
                user.totp_secret_enc, user.totp_last_step = None, None

    # --- sessions ---

    def start_session(self, user_id: str, second_factor_ok: bool) -> str:
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.db.session() as s:
            s.execute(delete(StaffSession).where(StaffSession.expires_at < now))
            s.add(
                StaffSession(
                    id=digest(token),
                    staff_id=user_id,
                    csrf_token=secrets.token_urlsafe(32),
                    second_factor_ok=second_factor_ok,
                    expires_at=now + dt.timedelta(hours=self.settings.console_session_hours),
                )
            )
        return token

    def second_factor_done(self, token: str) -> str:
        """After TOTP: a new session id (the pre-TOTP token is never a full session)."""
        with self.db.session() as s:
            old = s.get(StaffSession, digest(token))
            user_id = old.staff_id if old else None
            if old is not None:
                s.delete(old)
        if user_id is None:
            raise AccountError("session")
        return self.start_session(user_id, True)

    def load(self, token: str | None, partial: bool = False) -> Staff | None:
        """The person behind a cookie; ``partial`` accepts a session still waiting for TOTP."""
        if not token:
            return None
        with self.db.session() as s:
            session = s.get(StaffSession, digest(token))
            if session is None or session.expires_at < utcnow():
                return None
            user = s.get(StaffUser, session.staff_id)
            if user is None or not user.active:
                return None
            if not session.second_factor_ok and not partial:
                return None
            own = list(user.languages or [])
            teams = team_languages(s, [user.id]).get(user.id, set())
            return Staff(
                id=user.id,
                email=user.email,
                display_name=user.display_name,
                role=user.role,
                language=user.language,
                languages=own + sorted(teams - set(own)),
                own_languages=own,
                csrf=session.csrf_token,
                session_id=session.id,
                has_totp=user.totp_secret_enc is not None,
                extra={"second_factor_ok": session.second_factor_ok},
            )

    def end_session(self, token: str | None) -> None:
        if token:
            with self.db.session() as s:
                s.execute(delete(StaffSession).where(StaffSession.id == digest(token)))


def check_password(password: str) -> None:
    if len(password) < PASSWORD_MIN:
        raise AccountError(f"at least {PASSWORD_MIN} characters")


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
