"""Notices delivered by a real worker process (`flask worker`, a subprocess) to a real local SMTP server.

The app in the test process writes the changes (and their outbox rows) and commits; the worker, started beside it
on the same database, delivers. No SMTP session may open during a request.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess  # nosec B404 - the worker under test, started like an operator would
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from fundcircle.extensions import db
from fundcircle.notices import OutboxNotice, queue_notice
from fundcircle.rounds.services import advance_round
from fundcircle.worker import last_heartbeat
from tests.conftest import TEST_SECRET_KEY, Client
from tests.factories import add_member, make_circle, make_round, make_token, make_user
from tests.smtp import Inbox, running_smtp

REPO = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 3


class CountingInbox(Inbox):
    """An inbox that counts SMTP sessions (EHLO) and can hold one recipient's RCPT until released."""

    def __init__(self) -> None:
        super().__init__()
        self.sessions = 0
        self.hold: str | None = None
        self.holding = False
        self.released = False

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's name
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address == self.hold and not self.released:
            self.holding = True
            while not self.released:
                await asyncio.sleep(0.02)
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, CountingInbox]]:
    inbox = CountingInbox()
    with running_smtp(inbox) as server:
        try:
            yield server
        finally:
            inbox.released = True  # a held mail must not keep the server from stopping


@pytest.fixture
def queue_path(tmp_path: Path) -> str:
    return str(tmp_path / "worker-queue.sqlite")


@pytest.fixture
def mail_app(make_app: Any, smtp: tuple[int, CountingInbox], queue_path: str) -> Flask:
    """The web app: queues for a worker process (no immediate mode), mail to the local server."""
    app: Flask = make_app(
        MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp[0], WORKER_IMMEDIATE=False, WORKER_QUEUE_PATH=queue_path
    )
    return app


@pytest.fixture
def start_worker(
    database_url: str, smtp: tuple[int, CountingInbox], queue_path: str, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Start `flask worker` processes (their output in the test's folder, worker-N.log); all stopped afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    logs: list[Any] = []

    def start(batch_size: int = 50) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "FUNDCIRCLE_ENV": "development",
            "DATABASE_URL": database_url,
            "SECRET_KEY": TEST_SECRET_KEY,
            "BASE_URL": "http://localhost",
            "MAIL_SERVER": "127.0.0.1",
            "MAIL_PORT": str(smtp[0]),
            "WORKER_QUEUE_PATH": queue_path,
            "NOTICE_LEASE_SECONDS": str(LEASE_SECONDS),
            "NOTICE_BATCH_SIZE": str(batch_size),
        }
        log = open(tmp_path / f"worker-{len(started)}.log", "wb")  # noqa: SIM115 - closed at teardown
        logs.append(log)
        process = subprocess.Popen(  # nosec B603 - our own command, no shell
            [sys.executable, "-m", "flask", "--app", "fundcircle", "worker", "--workers", "1"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    for log in logs:
        log.close()


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def waiting_count(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(OutboxNotice).where(OutboxNotice.sent_at.is_(None)))
        db.session.remove()
        return count or 0


def queue_for(app: Flask, people: int, subject: str, *, commit: bool = True, hold_at: int | None = None) -> list[str]:
    """Queue one notice each for `people` new people; their addresses (the `hold_at`-th gets a recognisable one)."""
    with app.app_context():
        addresses = []
        users = [make_user(email=f"hold-{n}@example.org" if n == hold_at else None) for n in range(people)]
        for user in users:
            queue_notice(user, subject, f"{subject}.\n", kind="round.phase_changed", circle_id=None, url=None)
            addresses.append(user.email)
        if commit:
            db.session.commit()  # wakes no worker: the worker's start finds them
        else:
            db.session.rollback()
        db.session.remove()
        return addresses


def test_a_phase_change_with_300_members_opens_no_smtp_session_and_the_worker_delivers_each_mail_once(
    mail_app: Flask, smtp: tuple[int, CountingInbox], start_worker: Callable[..., Any]
) -> None:
    _, inbox = smtp
    with mail_app.app_context():
        admin = make_user(name="Ana Admin")
        circle = make_circle(admin)
        deciders = [make_user() for _ in range(300)]
        for person in deciders:
            add_member(circle, person, ["member", "circle"], by=admin)
        round_ = make_round(circle, admin, categories=[])
        advance_round(admin, round_, "proposals", utcnow_())
        db.session.commit()
        round_id, token = round_.id, make_token(admin)
        emails = sorted(person.email for person in deciders)
        db.session.remove()
    # What setting up queued (the move to proposals) is delivered first, by a worker that is then stopped.
    worker = start_worker()
    wait_for(lambda: waiting_count(mail_app) == 0, "the set-up's notices")
    worker.send_signal(signal.SIGINT)
    worker.wait(20)
    inbox.clear()
    sessions_before = inbox.sessions

    client: Client = mail_app.test_client()  # type: ignore[assignment]
    started = time.monotonic()
    response = client.json_call("POST", f"/api/v1/rounds/{round_id}/advance", {"to": "deliberation"}, token=token)
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.get_data(as_text=True)
    assert inbox.sessions == sessions_before and inbox.messages == []  # nothing was sent inside the request
    assert elapsed < 5, f"the phase change took {elapsed:.2f} s"
    assert waiting_count(mail_app) == 300  # all recorded, waiting for the worker
    print(f"phase change with 300 deciders: {elapsed:.3f} s, no SMTP session")

    start_worker()
    wait_for(lambda: len(inbox.messages) >= 300 and waiting_count(mail_app) == 0, "300 mails")
    time.sleep(0.5)  # a duplicate would arrive now
    assert inbox.recipients() == emails
    assert all("now deliberation" in str(message["Subject"]).lower() for message in inbox.messages)
    assert inbox.sessions - sessions_before <= 300 // 50 + 2  # one connection per batch of 50, not per mail
    with mail_app.app_context():
        assert last_heartbeat() is not None


def test_a_worker_killed_mid_batch_and_started_again_sends_each_notice_exactly_once(
    mail_app: Flask, smtp: tuple[int, CountingInbox], start_worker: Callable[..., Any]
) -> None:
    _, inbox = smtp
    addresses = queue_for(mail_app, 40, "Round moved", hold_at=19)
    inbox.hold = "hold-19@example.org"
    worker = start_worker(batch_size=50)
    # The worker has sent 19 and is inside the 20th (the server holds its recipient): kill it there.
    wait_for(lambda: inbox.holding, "the worker to reach the 20th notice")
    assert len(inbox.messages) == 19
    worker.kill()
    worker.wait()
    inbox.released = True
    assert waiting_count(mail_app) == 21

    start_worker(batch_size=50)  # it waits for the dead worker's claim to expire, then sends the rest
    wait_for(lambda: waiting_count(mail_app) == 0 and len(inbox.messages) >= 40, "the other 21 notices")
    time.sleep(0.5)
    assert Counter(inbox.recipients()) == Counter(addresses)
    assert sorted(inbox.recipients()) == sorted(addresses)


def test_two_workers_at_once_send_each_notice_once_and_a_rolled_back_change_sends_nothing(
    mail_app: Flask, smtp: tuple[int, CountingInbox], start_worker: Callable[..., Any]
) -> None:
    _, inbox = smtp
    queue_for(mail_app, 5, "Never happened", commit=False)
    assert waiting_count(mail_app) == 0
    addresses = queue_for(mail_app, 200, "Round moved")
    first, second = start_worker(batch_size=10), start_worker(batch_size=10)
    wait_for(lambda: waiting_count(mail_app) == 0 and len(inbox.messages) >= 200, "200 notices")
    time.sleep(0.5)
    assert sorted(inbox.recipients()) == sorted(addresses)  # each once
    assert not [m for m in inbox.messages if m["Subject"] == "Never happened"]
    assert first.poll() is None and second.poll() is None


def utcnow_() -> Any:
    from fundcircle.db import utcnow

    return utcnow()
