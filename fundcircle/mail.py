"""Sending e-mail through the mail server the circle's operator configured (Flask-Mailman, Django's mail API for
Flask): one SMTP connection per batch, plain-text and HTML parts. Called only after a commit."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from email.header import Header
from email.message import Message as EmailMessage
from typing import Any

from flask import Flask, current_app
from flask_mailman import EmailMultiAlternatives, Mail

from fundcircle.config import DEVELOPMENT_BASE_URL
from fundcircle.text import one_line

log = logging.getLogger(__name__)

mail = Mail()


def init_mail(app: Flask) -> None:
    """Bind Flask-Mailman to our settings (MAIL_FROM and MAIL_TIMEOUT_SECONDS are our names for its own)."""
    # Always the real SMTP backend: tests send to a real local server, never to Flask-Mailman's in-memory box.
    app.config.setdefault("MAIL_BACKEND", "smtp")
    app.config.setdefault("MAIL_DEFAULT_SENDER", app.config["MAIL_FROM"])
    app.config.setdefault("MAIL_TIMEOUT", app.config["MAIL_TIMEOUT_SECONDS"])
    mail.init_app(app)


def mail_configured() -> bool:
    return bool(current_app.config.get("MAIL_SERVER"))


def external_url(endpoint: str, **values: object) -> str:
    """An absolute link for e-mails and invitations, under BASE_URL alone: never the request's Host header, which
    whoever sends the request chooses (a reset or invitation link pointing at their own site). Production refuses
    to start without BASE_URL; development has a default (fundcircle/config.py)."""
    base = (current_app.config.get("BASE_URL") or DEVELOPMENT_BASE_URL).rstrip("/")
    # The path alone, built without a request: the same for a page and for a command run by cron.
    adapter = current_app.url_map.bind("localhost", script_name=current_app.config.get("APPLICATION_ROOT") or "/")
    return base + adapter.build(endpoint, values)


class _Message(EmailMultiAlternatives):
    """Flask-Mailman's message, with the subject folded after its header name: Flask-Mailman encodes a non-ASCII
    subject on a line of its own ("Subject: \n =?utf-8?..."), which mail programs read with a leading space."""

    def message(self, *args: Any, **kwargs: Any) -> Any:
        built = super().message(*args, **kwargs)
        del built["Subject"]
        # Header's default charset is ASCII, so a plain subject stays readable text; only a non-ASCII one is
        # encoded (RFC 2047), and either is folded after "Subject:".
        charset = "us-ascii" if self.subject.isascii() else "utf-8"
        EmailMessage.__setitem__(built, "Subject", Header(self.subject, charset, header_name="Subject"))
        return built


class Connection:
    """One open SMTP connection, for a batch of messages."""

    def __init__(self, backend: Any) -> None:
        self._backend = backend

    def send(
        self, to: str, subject: str, text: str, html: str | None = None, headers: Mapping[str, str] | None = None
    ) -> str | None:
        """Send one message; None when the server took it, else why not (logged). Never raises: a refused
        mailbox must not stop the rest of the batch."""
        try:
            # A header is one line: a title stored before titles were checked may hold a line break.
            message = _Message(
                subject=one_line(subject),
                body=text,
                from_email=current_app.config["MAIL_FROM"],
                to=[to],
                headers=dict(headers or {}),
                connection=self._backend,
            )
            if html is not None:
                message.attach_alternative(html, "text/html")
            message.send()
        except Exception as error:  # noqa: BLE001 - any failure is reported for this message, never raised
            reason = f"{type(error).__name__}: {error}"[:500]
            log.warning("could not send e-mail %r to %s: %s", one_line(subject), to, reason)
            return reason
        return None


@contextmanager
def smtp_connection() -> Iterator[Connection]:
    """An SMTP connection to the configured server, closed afterwards.

    :raises OSError, smtplib.SMTPException: if the server cannot be reached or refuses the log-in.
    """
    backend = mail.get_connection(fail_silently=False)
    backend.open()
    try:
        yield Connection(backend)
    finally:
        try:
            backend.close()
        except Exception:  # noqa: BLE001 - the messages are sent; a failing QUIT changes nothing
            log.warning("the SMTP connection did not close cleanly", exc_info=True)


def send_mail(to: str, subject: str, body: str) -> bool:
    """Send a plain-text e-mail; return whether the server took it. Failures are logged, never raised, because
    the change that the e-mail tells about is already committed."""
    return mail_configured() and deliver(to, subject, body) is None


def deliver(to: str, subject: str, body: str) -> str | None:
    """Send one plain-text e-mail through the configured server; None when it took it, else why not (logged).
    Never raises: whatever goes wrong, the change it tells about is already committed."""
    try:
        with smtp_connection() as connection:
            return connection.send(to, subject, body)
    except Exception as error:  # noqa: BLE001 - the server cannot be reached: reported, never raised
        reason = f"{type(error).__name__}: {error}"[:500]
        log.warning("could not send e-mail %r to %s: %s", one_line(subject), to, reason)
        return reason
