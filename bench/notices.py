"""Notices delivered per second by the worker's delivery job, against raw SMTP sends to the same local server.

The job is `fundcircle.outbox.deliver_due_notices`, what `flask worker` runs after each commit: it claims batches,
renders the text and HTML parts, renews each claim, sends over one connection per batch and commits each as sent.
The floor is smtplib sending the same number of plain messages over one connection, with no database at all.

    .venv/bin/python -m bench.notices [--notices 500] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import smtplib
import socket
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fundcircle.auth.models import User  # noqa: E402
from fundcircle.extensions import db  # noqa: E402
from fundcircle.notices import queue_notice  # noqa: E402
from fundcircle.outbox import deliver_due_notices  # noqa: E402


class _Counting:
    def __init__(self) -> None:
        self.received = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.received += 1
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def notice_throughput(app: Flask, notices: int) -> tuple[float, float]:
    """(notices per second by the delivery job, raw SMTP sends per second), on the app's seeded database: one
    notice each for the first `notices` people (fewer if there are fewer)."""
    handler = _Counting()
    port = _free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, WORKER_IMMEDIATE=True)
        app.extensions["mailman"].server, app.extensions["mailman"].port = "127.0.0.1", port
        with app.app_context():
            # What the seeded world queued (the deciding bench's phase change tells every member) goes out first,
            # untimed, so that the timed run delivers exactly the bench's own notices.
            while deliver_due_notices().sent:
                pass
            handler.received = 0
            people = db.session.scalars(select(User).order_by(User.id).limit(notices)).all()
            for person in people:
                queue_notice(person, "Bench: now deciding", "Vote now.\n", kind="round.phase_changed",
                             circle_id=None, url=None)  # fmt: skip
            db.session.commit()  # a plain commit: nothing is sent until the job runs
            count = len(people)
            started = time.perf_counter()
            run = deliver_due_notices()
            job_s = time.perf_counter() - started
            db.session.remove()
        assert run.sent == count and handler.received == count, (run, handler.received)

        started = time.perf_counter()
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            for number in range(count):
                message = EmailMessage()
                message["From"], message["To"] = "bench@localhost", f"person{number}@example.org"
                message["Subject"] = "Bench: now deciding"
                message.set_content("Vote now.\n")
                smtp.send_message(message)
        raw_s = time.perf_counter() - started
        return count / job_s, count / raw_s
    finally:
        controller.stop()


def main() -> None:
    import flask_migrate

    from bench.run import bench_config, fresh_database
    from bench.seed import seed
    from fundcircle import create_app

    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="sqlite", choices=["sqlite", "postgresql"])
    parser.add_argument("--notices", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(), fresh_database(args.database, 1) as url:
        app = create_app(bench_config(url))
        with app.app_context():
            flask_migrate.upgrade()
            seed(1)
            db.session.remove()
        job, raw = notice_throughput(app, args.notices)
        with app.app_context():
            db.engine.dispose()
    print(f"{args.database}: {job:.0f} notices/s by the delivery job, {raw:.0f} raw SMTP sends/s ({job / raw:.2f})")


if __name__ == "__main__":
    main()
