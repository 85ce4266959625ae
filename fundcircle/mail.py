"""Sending e-mail through the mail server the circle's operator configured. Called only after a commit."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app

from fundcircle.config import DEVELOPMENT_BASE_URL
from fundcircle.text import one_line

log = logging.getLogger(__name__)


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


def send_mail(to: str, subject: str, body: str) -> bool:
    """Send a plain-text e-mail; return whether the server took it. Failures are logged, never raised, because
    the change that the e-mail tells about is already committed."""
    return mail_configured() and deliver(to, subject, body) is None


def deliver(to: str, subject: str, body: str) -> str | None:
    """Send a plain-text e-mail through the configured server; None when it took it, else why not (logged). Never
    raises: whatever goes wrong, building the message included, the change it tells about is already committed."""
    config = current_app.config
    try:
        message = EmailMessage()
        message["From"] = config["MAIL_FROM"]
        message["To"] = to
        # A header is one line: a title stored before titles were checked may hold a line break.
        message["Subject"] = one_line(subject)
        message.set_content(body)
        smtp_class = smtplib.SMTP_SSL if config["MAIL_USE_SSL"] else smtplib.SMTP
        timeout = config["MAIL_TIMEOUT_SECONDS"]
        with smtp_class(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=timeout) as smtp:
            if config["MAIL_USE_TLS"] and not config["MAIL_USE_SSL"]:
                smtp.starttls()
            if config["MAIL_USERNAME"]:
                smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"])
            smtp.send_message(message)
    except Exception as error:  # noqa: BLE001 - any failure is logged and reported, never raised after a commit
        reason = f"{type(error).__name__}: {error}"[:500]
        log.warning("could not send e-mail %r to %s: %s", one_line(subject), to, reason)
        return reason
    return None
