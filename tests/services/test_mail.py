"""Invitations go out through a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import Client
from tests.factories import make_circle, make_user


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    inbox = Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def test_an_invitation_is_e_mailed_with_its_link(make_app: Any, smtp: tuple[int, Inbox]) -> None:
    port, inbox = smtp
    mail_app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, BASE_URL="https://fund.example.org")
    with mail_app.app_context():
        admin = make_user(name="Ana")
        circle = make_circle(admin, name="Seed Library")
        email, circle_id = admin.email, circle.id
    client: Client = mail_app.test_client()  # type: ignore[assignment]
    client.login(email)
    response = client.post_form(f"/circles/{circle_id}/members", {"email": "new@example.org", "roles": ["member"]})
    page = response.get_data(as_text=True)
    assert "being sent to new@example.org" in page and "/invitations/" in page
    # Sent after the commit; the next page says it went.
    assert "The invitation was e-mailed to new@example.org" in client.get(f"/circles/{circle_id}/members").text
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "new@example.org"
    assert "Seed Library" in message["Subject"]
    body = message.get_payload(decode=True).decode()
    assert "https://fund.example.org/invitations/" in body and "Ana invites you" in body


def test_when_the_mail_server_is_down_the_admin_still_gets_the_link(make_app: Any) -> None:
    mail_app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=_free_port())
    with mail_app.app_context():
        admin = make_user()
        circle = make_circle(admin)
        email, circle_id = admin.email, circle.id
    client: Client = mail_app.test_client()  # type: ignore[assignment]
    client.login(email)
    page = client.post_form(f"/circles/{circle_id}/members", {"email": "new@example.org", "roles": ["member"]})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "/invitations/" in text
    assert "could not be sent; send them the link yourself" in client.get(f"/circles/{circle_id}/members").text
