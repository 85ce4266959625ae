"""The rules of guess throttling, pure: which keys a failed guess counts against, and when a guess must wait.

A wrong password or authenticator code counts against three keys:

- the account together with the client (its address, as ProxyFix gives it behind a proxy): a small limit, then that
  pair is locked for the window. An attacker's client locks only itself, never the owner on another client;
- the client across all accounts (log-in only): a client that tries many accounts is locked too;
- the account across all clients: a much higher limit, past which every guess, from anywhere, must wait a delay that
  doubles with each further failure, up to a cap. A distributed attack (many clients, each under its pair limit) is
  slowed to a crawl, but nobody can hard-lock the account; and the owner's e-mailed reset link always lets them in.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class GuessKeys:
    pair: str
    account: str
    client: str | None


def guess_keys(kind: str, account: str, client: str, *, per_client: bool) -> GuessKeys:
    """The keys a failed guess of `kind` ("login", "totp") counts against. `account` is the address or user id."""
    return GuessKeys(
        pair=f"{kind}:pair:{account}|{client}",
        account=f"{kind}:account:{account}",
        client=f"{kind}:client:{client}" if per_client else None,
    )


@dataclass(frozen=True)
class GuessLimits:
    per_pair: int
    per_client: int
    account_free: int
    account_delay_cap_seconds: int
    window_seconds: int


@dataclass(frozen=True)
class Refusal:
    """Why a guess may not be tried now, and how long to wait."""

    reason: str  # "pair", "client" or "account"
    retry_after_seconds: int


def account_delay_seconds(failures: int, *, free: int, cap_seconds: int) -> int:
    """The wait after the latest failure on an account before its next guess: none up to `free` failures in the
    window, then 1 second, doubling with each further failure, at most `cap_seconds`."""
    if failures < free:
        return 0
    return min(cap_seconds, 1 << min(failures - free, 30))


def decide(
    *,
    pair_failures: int,
    client_failures: int,
    account_failures: int,
    latest_account_failure: datetime | None,
    limits: GuessLimits,
    now: datetime,
) -> Refusal | None:
    """Whether a guess may be tried now, from the failures counted within the window (None: it may)."""
    if pair_failures >= limits.per_pair:
        return Refusal("pair", limits.window_seconds)
    if client_failures >= limits.per_client:
        return Refusal("client", limits.window_seconds)
    delay = account_delay_seconds(
        account_failures, free=limits.account_free, cap_seconds=limits.account_delay_cap_seconds
    )
    if delay and latest_account_failure is not None:
        wait_until = latest_account_failure + timedelta(seconds=delay)
        if now < wait_until:
            return Refusal("account", max(1, int((wait_until - now).total_seconds() + 0.999)))
    return None
