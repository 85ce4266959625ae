"""A real SMTP server on loopback (aiosmtpd) that keeps what it receives, for tests that read delivered e-mail.

Use `running_smtp()` from a fixture in the test module:

    @pytest.fixture
    def smtp() -> Iterator[tuple[int, Inbox]]:
        with running_smtp() as server:
            yield server
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


class Inbox:
    """Every message the server accepted, in order."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        # The default policy decodes headers: a subject reads as written, not as =?utf-8?b?...?=.
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [message for message in self.messages if message["To"] == address]

    def subjects_to(self, address: str) -> list[str]:
        return [str(message["Subject"]) for message in self.to(address)]

    def recipients(self) -> list[str]:
        return sorted(str(message["To"]) for message in self.messages)

    def clear(self) -> None:
        self.messages.clear()


def body_of(message: Message) -> str:
    """The plain-text part (a notice also has an HTML one)."""
    if message.is_multipart():
        plain = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
        assert plain is not None, "the message has no plain-text part"
        message = plain
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def free_port() -> int:
    """A loopback port nothing listens on (right now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def running_smtp(inbox: Inbox | None = None) -> Iterator[tuple[int, Any]]:
    """A real SMTP server on a free local port, delivering to `inbox` (an Inbox, or a subclass that refuses or holds
    some mail); its port and the inbox."""
    inbox = Inbox() if inbox is None else inbox
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


def deliver_waiting(app: Any) -> None:
    """Deliver what the outbox holds now, as the worker would: notices that setting up a test committed (through
    `db.session.commit()`, which wakes no worker) are sent before the test starts listening."""
    from fundcircle.extensions import db
    from fundcircle.outbox import deliver_due_notices

    with app.app_context():
        deliver_due_notices()
        db.session.remove()
