from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundcircle.db import Base, UTCDateTime, utcnow


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-cased, so that addresses are unique whatever their case.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    password_hash: Mapped[str] = mapped_column(String(255))
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Whether to send this person e-mail notices (comments, replies, answers, phase changes).
    email_notices: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: An authenticator app's secret, sealed (fundcircle/crypto.py); it counts once confirmed with a code.
    totp_secret_sealed: Mapped[str | None] = mapped_column(Text)
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last 30-second time step whose code was accepted: a code is good once, and never an older one after it.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    #: The language this person chose (fundcircle/i18n.py LANGUAGES); None: their circle's default, else the browser's.
    language: Mapped[str | None] = mapped_column(String(8))
    #: The IANA time zone this person reads times in; None: each circle's own zone.
    time_zone: Mapped[str | None] = mapped_column(String(64))

    @property
    def has_totp(self) -> bool:
        return self.totp_secret_sealed is not None and self.totp_confirmed_at is not None

    def __repr__(self) -> str:
        return f"<User {self.id} {self.email}>"


class AuthSession(Base):
    """A signed-in browser. The cookie holds a random token whose hash is here; logging out revokes the row, so a
    cookie copied before logout no longer works after it."""

    __tablename__ = "auth_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


#: What an e-mailed one-time link is for.
ACCOUNT_LINK_PURPOSES = ("password_reset", "email_change")


class AccountLink(Base):
    """A one-time, short-lived link e-mailed to a person: to set a new password (to their address), or to confirm a
    new e-mail address (to that new address). Only the token's SHA-256 is stored; the link holds the token."""

    __tablename__ = "account_links"
    __table_args__ = (
        CheckConstraint("purpose IN ('password_reset', 'email_change')", name="purpose_known"),
        CheckConstraint("purpose <> 'email_change' OR new_email IS NOT NULL", name="email_change_has_address"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The address to change to (an e-mail change only).
    new_email: Mapped[str | None] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class ApiToken(Base):
    """A personal API token. Only its SHA-256 is stored; the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    #: The first characters of the token, so that its owner can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(12))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When the token last made a state-changing request (POST, PUT, PATCH, DELETE; to the minute); reads with it
    #: (GET, HEAD) leave this as it is, since a read writes nothing.
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class ThrottleEvent(Base):
    """A failed attempt (a password or an authenticator code) or a reset e-mail, counted against a key: an account
    and client together, an account across all clients, or a client across all accounts (auth/throttling.py)."""

    __tablename__ = "throttle_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(300), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    weight: Mapped[int] = mapped_column(Integer, default=1)
