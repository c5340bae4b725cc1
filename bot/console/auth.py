"""Staff accounts and sign-in: argon2 hashes, server-side sessions, growing delays, invitations,
TOTP with recovery codes.

The cookie holds a random token; the database keeps only its SHA-256, so a copy of the database
cannot be replayed as a session. Errors never say whether an address has an account.

Failed attempts never lock an account (anyone who knows an address could then lock staff out):
each failure past ``BOT_CONSOLE_FREE_ATTEMPTS`` makes the next try wait twice as long, up to
``BOT_CONSOLE_MAX_DELAY_SECONDS``. Passwords are counted per account *and client address*, so
someone guessing from one place does not delay the person signing in from another; second-step
codes are counted per account, and only a right code resets them (a right password does not:
whoever is guessing codes already has it). Both counts are in the database, so every bot process
on it applies the same delays and a restart forgets none.

Argon2 is slow on purpose; the views call ``sign_in``, ``check_totp`` and the other methods that
hash through the console's bounded CPU pool (``bot/http_limits.py``), never on the event loop.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from bot.console import totp
from bot.settings import Settings
from bot.store.console_models import SignInFailure, StaffSession, StaffUser
from bot.store.crypto import Crypto
from bot.store.db import Database
from bot.store.models import utcnow
from bot.store.ops_models import team_languages

ROLES = ("staff", "supervisor", "admin")
RANK = {role: n for n, role in enumerate(ROLES)}
PASSWORD_MIN = 12
RECOVERY_CODES = 8
_hasher = PasswordHasher()
_DUMMY = _hasher.hash("never a real password, only for timing")
# How long a pair's failed sign-ins are remembered after its last try (then purged): far longer
# than the longest delay, so the delays keep growing for whoever keeps trying.
SIGNIN_FAILURES_KEPT = dt.timedelta(days=1)
CONTENDED_TRIES = 20  # a try whose count others keep changing meanwhile is refused after these


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
    needs_totp: bool = False  # a code is asked next
    enrol_totp: bool = False  # the role needs a second step this person has not set up yet
    wait: float = 0.0  # seconds before this address may try this account again


@dataclass(frozen=True)
class CodeCheck:
    ok: bool
    wait: float = 0.0  # seconds before the next code may be tried


def delay_after(failures: int, free: int, most: int) -> float:
    """Seconds the next try waits after ``failures`` in a row: 0, then 2, 4, 8... up to ``most``."""
    if failures < free:
        return 0.0
    return float(min(2 ** min(failures - free + 1, 30), most))


class Throttle:
    """Failed passwords per (account address, client address), with their delays, in the
    database (``signin_failures``): every bot process on it counts the same tries, and a restart
    forgets none. Both addresses are stored only as keyed hashes.

    ``attempt`` counts a try *before* the password is checked: tries sent all at once, to one
    process or to several, are each counted, so none of them slips in between another's check
    and its failure. A right password then ``clear``s the pair. Rows idle for a day go with the
    purge job (``purge_signin_failures``).
    """

    def __init__(self, db: Database, crypto: Crypto, clock: Callable[[], float]) -> None:
        self.db = db
        self.crypto = crypto
        self.clock = clock

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).replace(tzinfo=None)

    def _account(self, email: str) -> str:
        return self.crypto.keyed_digest("signin-account", email)

    def _pair(self, key: tuple[str, str]) -> str:
        return self.crypto.keyed_digest("signin-pair", f"{key[0]}\n{key[1]}")

    def _left(self, row: SignInFailure | None, free: int, most: int) -> float:
        if row is None:
            return 0.0
        since = (self._now() - row.last_failed_at).total_seconds()
        return max(0.0, delay_after(row.failures, free, most) - since)

    def wait(self, key: tuple[str, str], free: int, most: int) -> float:
        """Seconds before this pair may try again (0: now)."""
        with self.db.session() as s:
            return self._left(s.get(SignInFailure, self._pair(key)), free, most)

    def attempt(self, key: tuple[str, str], free: int, most: int) -> float:
        """A try of this pair: refused with the seconds left while it must wait, else counted
        now (as a failure until ``clear`` says otherwise) and 0 returned.

        Counted by compare-and-set on the count read: of tries sent at once, to one process or
        several, each is counted once, and none is let through on a count another has raised."""
        pair, now = self._pair(key), self._now()
        for _ in range(CONTENDED_TRIES):
            with self.db.session() as s:
                row = s.get(SignInFailure, pair)
                if row is None:
                    if self._insert(s, pair, key[0], now):
                        return 0.0
                    continue  # another try inserted it first: count after it
                left = self._left(row, free, most)
                if left > 0:
                    return left
                done = s.execute(
                    update(SignInFailure)
                    .where(SignInFailure.key == pair, SignInFailure.failures == row.failures)
                    .values(failures=row.failures + 1, last_failed_at=now)
                    .execution_options(synchronize_session=False)
                )
                if getattr(done, "rowcount", 0) == 1:
                    return 0.0
        return max(1.0, self.wait(key, free, most))  # a flood on one pair: it waits

    def failed(self, key: tuple[str, str], most: int) -> None:
        """One more failure of this pair (``attempt`` counts its own tries)."""
        pair, now = self._pair(key), self._now()
        with self.db.session() as s:
            if not self._insert(s, pair, key[0], now):
                s.execute(
                    update(SignInFailure)
                    .where(SignInFailure.key == pair)
                    .values(failures=SignInFailure.failures + 1, last_failed_at=now)
                )

    def clear(self, email: str, address: str | None = None) -> None:
        """A right password (this pair), or an admin's unlock and a new password (every pair of
        the account)."""
        with self.db.session() as s:
            if address is None:
                where = SignInFailure.account == self._account(email)
            else:
                where = SignInFailure.key == self._pair((email, address))
            s.execute(delete(SignInFailure).where(where))

    def _insert(self, s: Session, pair: str, email: str, now: dt.datetime) -> bool:
        """The pair's first try, unless a row exists already (in another process's transaction
        too: the key is unique). Whether it was inserted."""
        values = {"key": pair, "account": self._account(email), "failures": 1}
        dialect = s.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        # RETURNING, not the row count: psycopg reports -1 for an INSERT that did nothing on a
        # conflict, which counted as inserted and let a fourth try through (seen in CI).
        inserted = s.scalar(
            insert(SignInFailure)
            .values(**values, last_failed_at=now)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(SignInFailure.key)
        )
        return inserted is not None


def purge_signin_failures(s: Session, now: dt.datetime) -> None:
    """Tries older than ``SIGNIN_FAILURES_KEPT``: a pair that stopped trying starts afresh."""
    cutoff = now - SIGNIN_FAILURES_KEPT
    s.execute(delete(SignInFailure).where(SignInFailure.last_failed_at < cutoff))


class Accounts:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        crypto: Crypto,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.settings = settings
        self.crypto = crypto
        self.clock = clock
        self.throttle = Throttle(db, crypto, clock)

    def now(self) -> dt.datetime:
        """The clock as the database stores times (naive UTC)."""
        return dt.datetime.fromtimestamp(self.clock(), dt.UTC).replace(tzinfo=None)

    def totp_required(self, role: str) -> bool:
        return role in self.settings.console_totp_roles

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
        display_name = check_display_name(display_name)
        if password is not None:
            check_password(password)
        invite = None if password is not None else secrets.token_urlsafe(32)
        with self.db.session() as s:
            if s.scalar(select(func.count()).where(StaffUser.email == email)):
                raise AccountError("an account with this email exists")
            user = StaffUser(
                email=email,
                display_name=display_name,
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
        """A password reset: the old password stops working and every session of the account ends
        (someone who phished it is signed out now, not when the person next signs in)."""
        invite = secrets.token_urlsafe(32)
        with self.db.session() as s:
            user = s.get(StaffUser, user_id)
            if user is None:
                raise AccountError("no such account")
            # Compare-and-set on the link the account had: of two re-invitations at once (a
            # double click, two admins, two processes) one makes the link, the other is told,
            # so never two people each holding a link they believe works.
            before = StaffUser.invite_token_hash
            was = user.invite_token_hash
            done = s.execute(
                update(StaffUser)
                .where(StaffUser.id == user_id, before.is_(None) if was is None else before == was)
                .values(
                    invite_token_hash=digest(invite),
                    invite_expires_at=utcnow()
                    + dt.timedelta(hours=self.settings.console_invite_hours),
                    password_hash=None,
                )
                .execution_options(synchronize_session=False)
            )
            if getattr(done, "rowcount", 0) != 1:
                raise AccountError("reinvited at the same time")
            s.execute(delete(StaffSession).where(StaffSession.staff_id == user_id))
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
                if role != user.role:
                    # What a session may do was decided at sign-in: a new role signs in again.
                    s.execute(delete(StaffSession).where(StaffSession.staff_id == user_id))
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
        self.throttle.clear(user.email)
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

    def sign_in(self, email: str, password: str, address: str = "") -> SignIn:
        """Check a password (slow: call it off the event loop). ``address`` is the client's.

        Delays are keyed by the address typed, known or not, so a delay says nothing about whether
        an account exists; a delayed try is refused before any hashing.
        """
        email = email.strip().lower()[:254]
        free, most = self.settings.console_free_attempts, self.settings.console_max_delay_seconds
        key = (email, address)
        wait = self.throttle.attempt(key, free, most)  # counted as failed until it succeeds
        if wait > 0:
            return SignIn(False, wait=wait)
        with self.db.session() as s:
            user = s.scalar(select(StaffUser).where(StaffUser.email == email))
            if user is None or not user.active or user.password_hash is None:
                password_ok(None, password)  # the same work as for a real account
                return SignIn(False)
            if not password_ok(user.password_hash, password):
                user.failed_logins += 1  # shown to admins; it locks nothing
                return SignIn(False, user.id, wait=self.throttle.wait(key, free, most))
            self.throttle.clear(email, address)
            user.failed_logins, user.locked_until = 0, None
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = hash_password(password)
            has_totp = user.totp_secret_enc is not None
            return SignIn(
                True,
                user.id,
                needs_totp=has_totp,
                enrol_totp=not has_totp and self.totp_required(user.role),
            )

    def code_wait(self, user: StaffUser) -> float:
        failures = user.totp_failures or 0
        delay = delay_after(
            failures, self.settings.console_free_attempts, self.settings.console_max_delay_seconds
        )
        if not delay or user.totp_failed_at is None:
            return 0.0
        return max(0.0, delay - (self.now() - user.totp_failed_at).total_seconds())

    def check_totp(self, user_id: str, code: str) -> CodeCheck:
        """A code from the app, or an unused recovery code. Failures count per account."""
        with self.db.session() as s:
            user = s.get(StaffUser, user_id)
            if user is None or user.totp_secret_enc is None:
                return CodeCheck(False)
            wait = self.code_wait(user)
            if wait > 0:
                return CodeCheck(False, wait)
            secret = self.crypto.decrypt(user.totp_secret_enc)
            step = totp.verify(secret, code, user.totp_last_step, self.clock()) if secret else None
            if step is not None:
                user.totp_last_step = step
            elif not self._use_recovery(user, code):
                user.totp_failures = (user.totp_failures or 0) + 1
                user.totp_failed_at = self.now()
                return CodeCheck(False, self.code_wait(user))
            user.totp_failures, user.totp_failed_at = 0, None
            return CodeCheck(True)

    @staticmethod
    def _use_recovery(user: StaffUser, code: str) -> bool:
        given = _recovery_normal(code)
        if len(given) != 12:
            return False
        hashes = list(user.recovery_hashes or [])
        wanted = digest(given)
        for stored in hashes:
            if hmac.compare_digest(stored, wanted):
                hashes.remove(stored)
                user.recovery_hashes = hashes
                return True
        return False

    def reauthenticate(self, user_id: str, password: str, code: str | None) -> CodeCheck:
        """The password, and a current code when the account has a second step: what changing the
        second step asks for (a session cookie alone is not enough). Slow: off the loop."""
        with self.db.session() as s:
            user = s.get(StaffUser, user_id)
            if user is None or not password_ok(user.password_hash, password):
                return CodeCheck(False)
            has_totp = user.totp_secret_enc is not None
        if not has_totp:
            return CodeCheck(True)
        return self.check_totp(user_id, code or "")

    def start_totp(self, user_id: str) -> str:
        """A new secret made here (never one a client chose), kept until a code confirms it."""
        secret = totp.new_secret()
        with self.db.session() as s:
            user = s.get(StaffUser, user_id)
            if user is None:
                raise AccountError("no such account")
            user.totp_pending_enc = self.crypto.encrypt(secret)
        return secret

    def pending_totp(self, user_id: str) -> str:
        with self.db.session() as s:
            user = s.get(StaffUser, user_id)
            if user is None or user.totp_pending_enc is None:
                return ""
            return self.crypto.decrypt(user.totp_pending_enc) or ""

    def confirm_totp(self, user_id: str, code: str) -> list[str] | None:
        """Switch the pending secret on when ``code`` matches it; returns new recovery codes
        (shown once), or None. The caller has checked who is asking (``reauthenticate``, or the
        password of the sign-in under way)."""
        with self.db.session() as s:
            user = s.get(StaffUser, user_id)
            if user is None or user.totp_pending_enc is None:
                return None
            secret = self.crypto.decrypt(user.totp_pending_enc)
            step = totp.verify(secret, code, None, self.clock()) if secret else None
            if step is None:
                return None
            codes = [_new_recovery() for _ in range(RECOVERY_CODES)]
            user.totp_secret_enc, user.totp_pending_enc = user.totp_pending_enc, None
            user.totp_last_step, user.totp_failures, user.totp_failed_at = step, 0, None
            user.recovery_hashes = [digest(_recovery_normal(c)) for c in codes]
        return codes

    def disable_totp(self, user_id: str) -> None:
        """Off (the caller has checked the password and a current code)."""
        with self.db.session() as s:
            user = s.get(StaffUser, user_id)
            if user is not None:
                user.totp_secret_enc, user.totp_last_step = None, None
                user.totp_pending_enc, user.recovery_hashes = None, None
                user.totp_failures, user.totp_failed_at = 0, None

    def unlock(self, user_id: str) -> None:
        """An admin clears the delays of someone's account (passwords and codes)."""
        with self.db.session() as s:
            user = s.get(StaffUser, user_id)
            if user is None:
                return
            user.failed_logins, user.locked_until = 0, None
            user.totp_failures, user.totp_failed_at = 0, None
            email = user.email
        self.throttle.clear(email)

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
                    last_seen_at=now,
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
        now = utcnow()
        idle = dt.timedelta(minutes=self.settings.console_idle_minutes)
        with self.db.session() as s:
            session = s.get(StaffSession, digest(token))
            if session is None or session.expires_at < now:
                return None
            seen = session.last_seen_at or session.created_at
            if self.settings.console_idle_minutes > 0 and now - seen > idle:
                s.delete(session)  # left signed in on a shared computer: it ends
                return None
            if now - seen > dt.timedelta(seconds=30):  # at most one write a half-minute
                session.last_seen_at = now
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


def check_display_name(name: str) -> str:
    """The name survivors read when this person joins their chat ("Ana, from the team, joined").
    Never made from the email address: part of an address can be a full name, a work place or a
    handle that finds the person elsewhere, and it was never chosen to be shown."""
    name = " ".join(name.split())[:64]
    if not name:
        raise AccountError("a display name is needed (survivors see it): give --name")
    return name


def check_password(password: str) -> None:
    """At least ``PASSWORD_MIN`` characters that are not all spaces, and text that can be stored
    (a lone surrogate cannot be encoded, and would fail only after the account was half-made)."""
    if len(password) < PASSWORD_MIN or len(password.strip()) < PASSWORD_MIN:
        raise AccountError(f"at least {PASSWORD_MIN} characters")
    try:
        password.encode()
    except UnicodeEncodeError:
        raise AccountError("not text") from None


def _new_recovery() -> str:
    """Twelve base32 letters and digits (60 bits), written as three groups of four."""
    raw = base64.b32encode(secrets.token_bytes(8)).decode()[:12].lower()
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def _recovery_normal(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isascii() and ch.isalnum())


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
