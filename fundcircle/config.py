"""Configuration: defaults for development, everything for production from the environment."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fundcircle.ledger.chain import json_text

#: Where links in e-mails point in development and tests when BASE_URL is unset: the address `make run` serves on.
#: Never a request's Host header, which whoever sends the request chooses.
DEVELOPMENT_BASE_URL = "http://127.0.0.1:5000"

#: Values that must never be used as a production secret key.
WEAK_SECRET_KEYS = {"", "dev", "change-me", "changeme", "secret"}


class ConfigError(RuntimeError):
    """The app cannot start with this configuration; the message says what to set."""


def normalise_database_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL URLs given in the usual `postgres://` or `postgresql://` form."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _development_secret_key(instance_path: Path) -> str:
    """Generate a secret key once and keep it in the instance folder, so sessions survive restarts."""
    key_file = instance_path / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_urlsafe(48)
    key_file.write_text(key)
    key_file.chmod(0o600)
    return key


def _base_url(value: str, *, production: bool) -> str:
    """The public address links are built from, without a trailing slash.

    :raises ConfigError: in production if it is unset or not an https address with a host.
    """
    base = value.strip().rstrip("/")
    if not production:
        return base or DEVELOPMENT_BASE_URL
    parts = urlsplit(base)
    if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(
            "FUNDCIRCLE_ENV is production but BASE_URL is missing or not an https address: set BASE_URL to the "
            "address people open Fund Circle at, for example https://fund.example.org. Links in e-mails and "
            "invitations are built from it (never from a request's Host header, which the sender chooses)."
        )
    return base


LOG_FORMATS = ("json", "text", "none")


def _log_format(value: str) -> str:
    """:raises ConfigError: for a format other than json, text or none."""
    chosen = value.strip().lower()
    if chosen not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT is {value!r}: set it to one of {', '.join(LOG_FORMATS)}, or leave it unset.")
    return chosen


#: Seconds a pooled PostgreSQL connection is used before it is replaced: instead of a ping before every checkout (a
#: round trip on every request), a connection never lives long enough for a firewall or server to drop it idle.
POSTGRESQL_POOL_RECYCLE_SECONDS = 300
#: psycopg prepares a statement on a connection once it has run this many times there: the hot statements (a ballot
#: save's, the session look-up) are parsed and planned once per connection instead of on every request.
POSTGRESQL_PREPARE_THRESHOLD = 1


def engine_options(url: str, given: dict[str, Any]) -> dict[str, Any]:
    """The engine's options for the database at `url`, over those `given` (which win).

    PostgreSQL: no ping per checkout (`pool_pre_ping` costs a round trip on every request; connections are recycled
    instead, and a connection found dead is discarded with the whole pool by SQLAlchemy), and statements prepared
    early. Prepared statements survive only while transactions end in COMMIT: psycopg throws them all away on a
    ROLLBACK, which is why requests that only read commit (fundcircle/unit_of_work.py)."""
    options: dict[str, Any] = {}
    if url.startswith("postgresql"):
        options = {
            "pool_pre_ping": False,
            "pool_recycle": POSTGRESQL_POOL_RECYCLE_SECONDS,
            "connect_args": {"prepare_threshold": POSTGRESQL_PREPARE_THRESHOLD},
        }
    else:
        options = {"pool_pre_ping": True}
    return {**options, **given}


def load_config(instance_path: Path, *, secret_key_given: bool = False) -> dict[str, Any]:
    """Build the configuration from the environment.

    `FUNDCIRCLE_ENV=production` (the default under `wsgi.py`) requires a real `SECRET_KEY` and turns on secure
    cookies; otherwise the app runs in development mode with a generated key and a SQLite file in `instance/`.
    `secret_key_given` means the caller (a test) sets SECRET_KEY itself.

    :raises ConfigError: in production without a usable `SECRET_KEY` or `BASE_URL`, or with loopback allowed.
    """
    production = os.environ.get("FUNDCIRCLE_ENV", "development") == "production"
    instance_path.mkdir(parents=True, exist_ok=True)

    secret_key = os.environ.get("SECRET_KEY", "")
    if secret_key_given:
        pass
    elif production:
        if secret_key.strip().lower() in WEAK_SECRET_KEYS or len(secret_key) < 32:
            raise ConfigError(
                "FUNDCIRCLE_ENV is production but SECRET_KEY is missing or weak: set SECRET_KEY to a random "
                "string of at least 32 characters, for example the output of "
                "`python3 -c 'import secrets; print(secrets.token_urlsafe(48))'`."
            )
    elif not secret_key:
        secret_key = _development_secret_key(instance_path)

    # The local Open Collective sandbox (`make run`, the tests) listens on 127.0.0.1: development may reach loopback,
    # production never (the server's own network is no place for a treasurer's address to lead).
    allow_loopback = _env_bool("OPENCOLLECTIVE_ALLOW_LOOPBACK", not production)
    if production and allow_loopback:
        raise ConfigError(
            "OPENCOLLECTIVE_ALLOW_LOOPBACK is on but FUNDCIRCLE_ENV is production: the server may only call public "
            "Open Collective addresses in production; unset OPENCOLLECTIVE_ALLOW_LOOPBACK."
        )

    base_url = _base_url(os.environ.get("BASE_URL", ""), production=production)

    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path / 'fundcircle.sqlite'}"

    config: dict[str, Any] = {
        "PRODUCTION": production,
        "SECRET_KEY": secret_key,
        "SQLALCHEMY_DATABASE_URI": normalise_database_url(database_url),
        # JSON columns stored with sorted keys and no spaces: a ledger entry's data is then stored as the very text
        # its hash covers (fundcircle/ledger/chain.py), and `ledger verify` hashes it as read.
        # The rest of the engine's options depend on the database: see engine_options, applied by create_app.
        "SQLALCHEMY_ENGINE_OPTIONS": {"json_serializer": json_text},
        # Where links in e-mails and invitations point; required in production (see _base_url).
        "BASE_URL": base_url,
        "MAX_CONTENT_LENGTH": 1024 * 1024,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "PERMANENT_SESSION_LIFETIME": 60 * 60 * 24 * 14,
        # Flask-WTF: we call csrf.protect() ourselves so that API calls with a bearer token are exempt
        # while cookie-authenticated JSON calls are not.
        "WTF_CSRF_CHECK_DEFAULT": False,
        "WTF_CSRF_TIME_LIMIT": None,
        # Sessions end on the server after this long without a request (a computer left signed in at a library),
        # and this long after log-in whatever happens (a stolen cookie stops working within a week; a member who
        # comes by every evening logs in once a week).
        "SESSION_IDLE_MINUTES": int(os.environ.get("SESSION_IDLE_MINUTES", "120")),
        "SESSION_MAX_HOURS": int(os.environ.get("SESSION_MAX_HOURS", str(24 * 7))),
        # Guess throttling (fundcircle/auth/throttling.py), within the window: wrong passwords per account and
        # client before that pair is locked; per client across accounts; and per account across all clients before
        # each further guess waits a delay doubling from 1 second up to GUESS_DELAY_MAX_SECONDS (never a hard lock,
        # which anybody could impose on a treasurer before a deadline).
        "LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT": 5,
        "LOGIN_FAILURES_PER_ADDRESS": 20,
        "LOGIN_FAILURES_PER_ACCOUNT_BEFORE_DELAY": 50,
        "LOGIN_FAILURE_WINDOW_SECONDS": 15 * 60,
        "GUESS_DELAY_MAX_SECONDS": 60,
        "INVITATION_VALID_DAYS": 14,
        # Treasurers' second factor, throttled the same way: wrong codes per person and client, per person.
        "TOTP_FAILURES_PER_USER_AND_CLIENT": 5,
        "TOTP_FAILURES_PER_USER_BEFORE_DELAY": 50,
        "TOTP_FAILURE_WINDOW_SECONDS": 15 * 60,
        # E-mailed one-time links: a password reset is short-lived (it signs the person in); an address change may
        # wait for the person to open their new mailbox. At most this many reset e-mails an hour per account.
        "PASSWORD_RESET_VALID_MINUTES": 30,  # nosec B105  # a number of minutes, not a password
        "PASSWORD_RESET_MAILS_PER_HOUR": 3,  # nosec B105  # a count of e-mails, not a password
        "EMAIL_CHANGE_VALID_HOURS": 24,
        # Seals stored secrets (Open Collective tokens, TOTP seeds); defaults to a key derived from SECRET_KEY.
        "SEALING_KEY": os.environ.get("SEALING_KEY", ""),
        # Open Collective: the API a circle connects to by default, and how long to wait for it.
        "OPENCOLLECTIVE_API_URL": os.environ.get("OPENCOLLECTIVE_API_URL", "https://api.opencollective.com/graphql/v2"),
        "OPENCOLLECTIVE_ALLOW_LOOPBACK": allow_loopback,
        "OPENCOLLECTIVE_CONNECT_TIMEOUT": float(os.environ.get("OPENCOLLECTIVE_CONNECT_TIMEOUT", "5")),
        "OPENCOLLECTIVE_READ_TIMEOUT": float(os.environ.get("OPENCOLLECTIVE_READ_TIMEOUT", "30")),
        # Reads (never mutations) are tried 3 times, waiting this long, then twice as long, in between.
        "OPENCOLLECTIVE_READ_BACKOFF_SECONDS": 0.5,
        # How long a worker's claim on a payout protects it; None derives it from the timeouts (payouts/requesting.py).
        "PAYOUT_CLAIM_LEASE_SECONDS": None,
        # Request a payout in the approving request itself, right after the final approval commits.
        "PAYOUTS_SUBMIT_AFTER_APPROVAL": True,
        # After this many requests whose outcome stayed unknown (timeouts, 5xx), a payout waits for a treasurer;
        # between them the worker waits this long, doubling each time.
        "PAYOUT_MAX_UNKNOWN_OUTCOMES": 5,
        "PAYOUT_UNKNOWN_BACKOFF_SECONDS": 60.0,
        # Open Collective lets a user draft one invited expense per 10 seconds; a run spaces its invite drafts so.
        "OPENCOLLECTIVE_INVITE_INTERVAL_SECONDS": 10.5,
        # Paid and rejected expenses can move back on Open Collective (marked unpaid, approved again): they are
        # still followed by `payouts sync` for this many days after they settled (and always through the webhook).
        "PAYOUT_FOLLOW_SETTLED_DAYS": 30,
        # Number of reverse proxies in front of the app whose X-Forwarded-* headers are trusted.
        "PROXY_COUNT": int(os.environ.get("PROXY_COUNT", "0")),
        "MAIL_SERVER": os.environ.get("MAIL_SERVER", ""),
        "MAIL_PORT": int(os.environ.get("MAIL_PORT", "25")),
        "MAIL_USERNAME": os.environ.get("MAIL_USERNAME", ""),
        "MAIL_PASSWORD": os.environ.get("MAIL_PASSWORD", ""),
        "MAIL_USE_TLS": _env_bool("MAIL_USE_TLS", False),
        "MAIL_USE_SSL": _env_bool("MAIL_USE_SSL", False),
        "MAIL_FROM": os.environ.get("MAIL_FROM", "Fund Circle <fundcircle@localhost>"),
        "MAIL_TIMEOUT_SECONDS": 10,
        # Logs (fundcircle/observability.py): "json" lines on standard error, "text", or "none" (Python's defaults,
        # untouched); JSON in production, so that a log shipper reads fields rather than sentences.
        "LOG_FORMAT": _log_format(os.environ.get("LOG_FORMAT", "json" if production else "none")),
        "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
        # /metrics exists only when this is set, and answers only requests with `Authorization: Bearer <it>`.
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        # The background worker (fundcircle/worker.py): its queue in this SQLite file, or in Redis if REDIS_URL is
        # set; WORKER_IMMEDIATE runs each job in the process that queues it, at once (no worker process).
        "WORKER_QUEUE_PATH": os.environ.get("WORKER_QUEUE_PATH", str(instance_path / "worker-queue.sqlite")),
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "WORKER_IMMEDIATE": _env_bool("WORKER_IMMEDIATE", False),
        # Notices sent over one SMTP connection, and how long a worker's claim on them lasts (longer than a batch
        # can take: a worker that dies leaves its claim to expire, and another sends what it had not).
        "NOTICE_BATCH_SIZE": int(os.environ.get("NOTICE_BATCH_SIZE", "50")),
        "NOTICE_LEASE_SECONDS": float(os.environ.get("NOTICE_LEASE_SECONDS", "600")),
        # Attachments (fundcircle/attachments/): the largest file a request may carry, an image's most pixels (a
        # decompression bomb is refused from its header), and the longest side an image is scaled down to.
        "ATTACHMENTS_MAX_BYTES": int(os.environ.get("ATTACHMENTS_MAX_BYTES", str(10 * 1024 * 1024))),
        "ATTACHMENTS_MAX_PIXELS": int(os.environ.get("ATTACHMENTS_MAX_PIXELS", str(25_000_000))),
        "ATTACHMENTS_MAX_DIMENSION": int(os.environ.get("ATTACHMENTS_MAX_DIMENSION", "2048")),
        "ATTACHMENTS_PER_OWNER": int(os.environ.get("ATTACHMENTS_PER_OWNER", "20")),
        # Where their bytes are kept: this folder (default: attachments/ in the instance folder), or, when the bucket
        # is set, an S3-compatible store (AWS, MinIO, Garage...) at the endpoint, with these keys (or boto3's usual
        # environment and files when they are unset).
        "ATTACHMENTS_FOLDER": os.environ.get("ATTACHMENTS_FOLDER", ""),
        "ATTACHMENTS_S3_BUCKET": os.environ.get("ATTACHMENTS_S3_BUCKET", ""),
        "ATTACHMENTS_S3_ENDPOINT_URL": os.environ.get("ATTACHMENTS_S3_ENDPOINT_URL", ""),
        "ATTACHMENTS_S3_REGION": os.environ.get("ATTACHMENTS_S3_REGION", ""),
        "ATTACHMENTS_S3_ACCESS_KEY_ID": os.environ.get("ATTACHMENTS_S3_ACCESS_KEY_ID", ""),
        "ATTACHMENTS_S3_SECRET_ACCESS_KEY": os.environ.get("ATTACHMENTS_S3_SECRET_ACCESS_KEY", ""),
        "ATTACHMENTS_S3_PREFIX": os.environ.get("ATTACHMENTS_S3_PREFIX", "attachments/"),
        # The floor endpoints of `make bench` (fundcircle/auth/benchmark.py), never turned on by the environment.
        "BENCHMARK_ENDPOINTS": False,
        # flask-smorest: the OpenAPI document lives beside the API.
        "API_TITLE": "Fund Circle API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
    }
    # argon2id parameters; None uses argon2-cffi's defaults (above OWASP's minimum).
    config["PASSWORD_HASH_PARAMETERS"] = None
    return config
