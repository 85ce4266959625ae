"""The background worker: Huey, with its queue in a SQLite file by default and in Redis when REDIS_URL is set.

Why Huey: it is maintained, small, and keeps its queue in SQLite, so a small circle's server needs nothing beyond
what it already runs; the same tasks run on Redis when several worker hosts share the work. Huey holds only
wake-ups and the schedule: what must not be lost (the notices) is in our own database's outbox, written in the
transaction of the change (fundcircle/notices.py), so a lost or repeated wake-up costs nothing.

`flask worker` runs the consumer. Its periodic jobs are the registry PERIODIC_JOBS: one line each, a name, a Huey
crontab and a function of the time; each runs in an app context and commits its own work. The cron lines of the
README remain an alternative: every job is also a `flask` command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from huey import Huey, SqliteHuey, crontab
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy import String, func, select
from sqlalchemy.orm import Mapped, mapped_column

from fundcircle.db import Base, UTCDateTime, utcnow
from fundcircle.extensions import db

log = logging.getLogger(__name__)

#: The row the worker's heartbeat is kept in (one for all worker processes: the last one alive wrote it).
HEARTBEAT_NAME = "worker"


class WorkerHeartbeat(Base):
    """When a worker last showed it was alive (at start and every minute)."""

    __tablename__ = "worker_heartbeats"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime())


def _deliver_notices(now: datetime) -> str:
    from fundcircle.outbox import deliver_due_notices

    run = deliver_due_notices()
    return f"{run.sent} notice(s) sent, {run.failed} failed"


def _daily_digests(now: datetime) -> str:
    from fundcircle.outbox import send_digests

    return f"{send_digests('daily', now)} daily digest(s) sent"


def _weekly_digests(now: datetime) -> str:
    from fundcircle.outbox import send_digests

    return f"{send_digests('weekly', now)} weekly digest(s) sent"


def _beat(now: datetime) -> str:
    write_heartbeat(now)
    return "alive"


@dataclass(frozen=True)
class PeriodicJob:
    """A job the worker runs on a schedule (a Huey crontab, at most once a minute)."""

    name: str
    schedule: Callable[[datetime], bool]
    run: Callable[[datetime], str]


#: Every periodic job of the worker. The worker's own are here; the areas' (deadline ticks, reminders, payouts,
#: checkpoints) are added by the app factory with `register_periodic_job`, since a module at the root imports no
#: area. Every job is also a `flask` command, for cron instead of the worker.
PERIODIC_JOBS: list[PeriodicJob] = [
    PeriodicJob("heartbeat", crontab(minute="*"), _beat),
    # The wake-up after each commit delivers at once; this catches retries and anything a lost wake-up left.
    PeriodicJob("notices deliver", crontab(minute="*"), _deliver_notices),
    PeriodicJob("daily digests", crontab(minute="0", hour="7"), _daily_digests),
    PeriodicJob("weekly digests", crontab(minute="0", hour="7", day_of_week="1"), _weekly_digests),
]


def register_periodic_job(name: str, schedule: Callable[[datetime], bool], run: Callable[[datetime], str]) -> None:
    """Add a job to every worker made from now on (an app factory's); `run` does its work and commits it, and
    returns a line for the log. A later registration under the same name replaces the earlier one."""
    PERIODIC_JOBS[:] = [job for job in PERIODIC_JOBS if job.name != name]
    PERIODIC_JOBS.append(PeriodicJob(name, schedule, run))


def write_heartbeat(now: datetime) -> None:
    """Record that a worker is alive now (committed)."""
    row = db.session.get(WorkerHeartbeat, HEARTBEAT_NAME)
    if row is None:
        db.session.add(WorkerHeartbeat(name=HEARTBEAT_NAME, beat_at=now))
    else:
        row.beat_at = max(row.beat_at, now)
    db.session.commit()


#: A worker that has not shown it is alive for this long is taken for dead by /readyz (it beats every minute).
HEARTBEAT_MAX_AGE = timedelta(minutes=3)


def worker_alive(app: Flask) -> str | None:
    """The readiness check of the worker (fundcircle/health.py): None if a worker beat recently, or if jobs run
    in the process that queues them (WORKER_IMMEDIATE, no worker needed); otherwise what is wrong."""
    if app.config["WORKER_IMMEDIATE"]:
        return None
    beat = last_heartbeat()
    if beat is None:
        return "no background worker has run yet (start `flask --app fundcircle worker`)"
    if utcnow() - beat > HEARTBEAT_MAX_AGE:
        return "the background worker has not shown it is alive for more than 3 minutes"
    return None


def queue_gauges() -> Iterable[Metric]:
    """/metrics' gauges of the outbox (fundcircle/observability.py): notices waiting to be mailed, and those of them
    that failed at least once."""
    from fundcircle.notices import OutboxNotice

    waiting = OutboxNotice.sent_at.is_(None) & (OutboxNotice.delivery == "immediate")
    row = db.session.execute(
        select(
            func.count().filter(waiting),
            func.count().filter(waiting & (OutboxNotice.attempts > 0)),
        )
    ).one()
    depth = GaugeMetricFamily("fundcircle_notices_waiting", "Notices waiting in the outbox to be mailed at once.")
    depth.add_metric([], row[0])
    failing = GaugeMetricFamily(
        "fundcircle_notices_failing", "Notices waiting to be mailed again after at least one failed attempt."
    )
    failing.add_metric([], row[1])
    return [depth, failing]


def last_heartbeat() -> datetime | None:
    """When a worker last showed it was alive, or None if none ever ran (for /readyz)."""
    return db.session.scalar(select(WorkerHeartbeat.beat_at).where(WorkerHeartbeat.name == HEARTBEAT_NAME))


class Worker:
    """The app's Huey instance and its tasks."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        config = app.config
        self.huey: Huey
        if config.get("REDIS_URL"):
            from huey import RedisHuey  # needs the `redis` package (the `redis` extra)

            self.huey = RedisHuey("fundcircle", url=config["REDIS_URL"], immediate=config["WORKER_IMMEDIATE"])
        else:
            path = config["WORKER_QUEUE_PATH"]
            self.huey = SqliteHuey("fundcircle", filename=path, immediate=config["WORKER_IMMEDIATE"])
        self.deliver = self.huey.task(name="deliver_notices")(self._deliver)
        for job in PERIODIC_JOBS:
            self.huey.periodic_task(job.schedule, name=job.name)(self._periodic(job))
        self.huey.on_startup()(self._started)

    def _deliver(self) -> None:
        from fundcircle.outbox import deliver_due_notices

        with self.app.app_context():
            run = deliver_due_notices()
            db.session.remove()
        if run.next_due is not None and not self.huey.immediate:
            # Something waits for a lease or a backoff to end: come back then (at most a minute later, when the
            # periodic delivery runs anyway).
            delay = min(max((run.next_due - utcnow()).total_seconds(), 0.1), 60)
            self.deliver.schedule(delay=delay)

    def _periodic(self, job: PeriodicJob) -> Callable[[], None]:
        def run() -> None:
            with self.app.app_context():
                try:
                    log.info("%s: %s", job.name, job.run(utcnow()))
                finally:
                    db.session.remove()

        run.__name__ = job.name.replace(" ", "_")
        return run

    def _started(self) -> None:
        with self.app.app_context():
            write_heartbeat(utcnow())
            db.session.remove()
        self.deliver()  # whatever waited while no worker ran


def init_worker(app: Flask) -> None:
    app.extensions["fundcircle.worker"] = Worker(app)


def worker_of(app: Flask) -> Worker:
    worker: Worker = app.extensions["fundcircle.worker"]
    return worker


def wake_delivery() -> None:
    """Ask the worker to deliver now (after a commit that queued immediate notices). Never raises: if the queue is
    unavailable, the periodic delivery sends them within a minute."""
    try:
        worker_of(current_app._get_current_object()).deliver()  # type: ignore[attr-defined]
    except Exception:
        log.exception("could not wake the worker; the notices go out with its next periodic run")


@click.command("worker")
@click.option("--workers", default=2, show_default=True, help="Threads running jobs at once.")
def worker_command(workers: int) -> None:
    """Run the background worker: notices, digests, deadline ticks and payouts (Ctrl-C stops it)."""
    huey = worker_of(current_app._get_current_object()).huey  # type: ignore[attr-defined]
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True, check_worker_health=True)
    consumer.run()


notices_cli = AppGroup("notices", help="E-mail notices waiting in the outbox.")


@notices_cli.command("deliver")
def deliver_command() -> None:
    """Send the notices that are due now (what the worker does; exit 1 if some failed)."""
    from fundcircle.mail import mail_configured
    from fundcircle.outbox import deliver_due_notices

    if not mail_configured():
        raise click.ClickException("No mail server is configured (MAIL_SERVER): notices cannot be sent.")
    run = deliver_due_notices()
    click.echo(f"{run.sent} notice(s) sent, {run.failed} still failing.")
    if run.failed:
        raise SystemExit(1)


@notices_cli.command("retry")
def retry_command() -> None:
    """Send again, without waiting for their backoff, the notices that failed; exit 1 if some still fail."""
    from fundcircle.mail import mail_configured
    from fundcircle.notices import OutboxNotice
    from fundcircle.outbox import MAX_ATTEMPTS, deliver_due_notices

    if not mail_configured():
        raise click.ClickException("No mail server is configured (MAIL_SERVER): notices cannot be sent.")
    db.session.execute(
        OutboxNotice.__table__.update()
        .where(OutboxNotice.sent_at.is_(None), OutboxNotice.attempts < MAX_ATTEMPTS)
        .values(next_attempt_at=None)
    )
    db.session.commit()
    run = deliver_due_notices()
    click.echo(f"{run.sent} notice(s) sent, {run.failed} still failing.")
    if run.failed:
        raise SystemExit(1)


@notices_cli.command("digest")
@click.argument("delivery", type=click.Choice(["daily", "weekly"]))
def digest_command(delivery: str) -> None:
    """Send the daily or weekly digests now (what the worker does at 07:00 UTC)."""
    from fundcircle.outbox import send_digests

    click.echo(f"{send_digests(delivery, utcnow())} digest(s) sent.")
