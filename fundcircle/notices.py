"""E-mail notices, sent only once the change they tell about is committed.

Services queue notices in the unit of work (fundcircle/unit_of_work.py): they are sent after the commit, and a
rollback drops them, so nobody hears of a change that did not happen. A notice that cannot be sent (the mail
server is down, refuses one mailbox, or anything else goes wrong) never fails the request, whose change is already
stored: it is logged and kept in `failed_notices`, and `flask notices retry` (run from cron, like `rounds tick`)
sends it again, counting attempts, until it goes out or has been tried MAX_ATTEMPTS times.

Why a table of failures rather than an outbox of every notice: a notice is sent in the request that caused it, at
once, as before; only the rare failure costs a write, in a transaction of its own after the request's commit.

Every notice about a circle ends with the circle's ledger checkpoint (its chain's count and head hash, as committed
when the mail is sent): whoever keeps the mail holds a point the ledger must still pass through, which
`flask ledger verify --checkpoint COUNT:HASH` checks. A history recomputed after an edit, or entries cut off the end,
can only be told from the real one by such a copy kept outside the server.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import click
from flask.cli import AppGroup
from sqlalchemy import Integer, String, Text, delete, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from fundcircle.db import Base, UTCDateTime, utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerChain
from fundcircle.ledger.signing import latest_checkpoint, site_key
from fundcircle.mail import deliver, mail_configured
from fundcircle.unit_of_work import after_commit

log = logging.getLogger(__name__)

#: After this many failed attempts a notice is no longer retried (it stays in the table, for the operator to see).
MAX_ATTEMPTS = 10
#: How long a retry run's claim on a notice lasts: longer than one attempt can take (the mail timeout is 10 s).
SEND_LEASE = timedelta(minutes=5)


class Recipient(Protocol):
    """A person who may be told (an `auth.models.User`)."""

    email: str
    email_notices: bool


class FailedNotice(Base):
    """A notice that could not be sent after its change was committed, kept to be sent again."""

    __tablename__ = "failed_notices"

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    last_error: Mapped[str] = mapped_column(String(500))
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Set while a retry run sends it (a lease; see retry_failed_notices).
    sending_since: Mapped[datetime | None] = mapped_column(UTCDateTime())


#: What a notice is about, one code per kind of event (a person's preferences and the inbox group by it).
NOTICE_KINDS = (
    "round.phase_changed",
    "comment.answered",
    "comment.replied",
    "comment.followed",
    "member.treasurer_granted",
    "payout.needs_treasurer",
)


def queue_notice(
    user: Recipient, subject: str, body: str, *, kind: str, circle_id: int | None, url: str | None
) -> None:
    """Tell `user` by e-mail after the commit, unless they turned notices off; one notice per person and subject,
    since a phase change tells thousands of people in a large circle. `kind` is one of NOTICE_KINDS; `circle_id` is
    the circle the notice is about, whose ledger checkpoint the mail carries (None: none); `url` is the page where
    the person can act on it."""
    if kind not in NOTICE_KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    if not user.email_notices:
        return
    to = user.email
    after_commit(lambda: _send(to, subject, body, circle_id), key=("notice", to, subject))


@dataclass(frozen=True)
class MailCheckpoint:
    """What a notice carries of its circle's ledger: the chain's head, and the latest signed checkpoint of its
    Merkle tree (ledger/checkpoints.py) with the key that signed it."""

    count: int
    head_hash: str
    note: str | None
    verifier_key: str


def checkpoint_of(circle_id: int) -> MailCheckpoint | None:
    """The circle's ledger checkpoint as committed now: its chain's head, and its latest signed checkpoint."""
    row = db.session.execute(
        select(LedgerChain.head_seq, LedgerChain.head_hash).where(LedgerChain.circle_id == circle_id)
    ).one_or_none()
    if row is None:
        return None
    signed = latest_checkpoint(circle_id)
    return MailCheckpoint(row.head_seq, row.head_hash, signed.note if signed is not None else None, site_key().verifier)


def checkpoint_paragraph(checkpoint: MailCheckpoint) -> str:
    count, digest = checkpoint.count, checkpoint.head_hash
    text = (
        f"Ledger checkpoint: {count}:{digest}\n"
        "Keep this mail: the circle's ledger must always pass through this point, which anyone can check with\n"
        f"flask ledger verify --checkpoint {count}:{digest}\n"
    )
    if checkpoint.note is not None:
        text += (
            "\nThe circle's latest signed checkpoint (save it between the lines as a file; scripts/verify_ledger.py\n"
            f"checks an export against it, with the site's key {checkpoint.verifier_key}):\n"
            f"-----BEGIN CHECKPOINT-----\n{checkpoint.note}-----END CHECKPOINT-----\n"
        )
    return text


def _send(to: str, subject: str, body: str, circle_id: int | None) -> None:
    if not mail_configured():
        return  # no mail server: notices are off for this installation, nothing to retry
    # Read after the commit, so the checkpoint includes the change this notice tells about. The body kept for a
    # retry carries it too: the checkpoint of the moment the change was told about is still a valid one later.
    try:
        checkpoint = checkpoint_of(circle_id) if circle_id is not None else None
    except Exception:
        log.exception("could not read the ledger checkpoint for the notice %r to %s", subject, to)
        db.session.rollback()
        checkpoint = None
    if checkpoint is not None:
        body = f"{body.rstrip()}\n\n--\n{checkpoint_paragraph(checkpoint)}"
    reason = deliver(to, subject, body)
    if reason is None:
        return
    try:
        db.session.add(FailedNotice(recipient=to, subject=subject, body=body, attempts=1, last_error=reason))
        db.session.commit()
    except Exception:
        # Not even the failure could be stored (the database is gone too): the log is all there is.
        log.exception("could not keep the failed notice %r to %s for a retry", subject, to)
        db.session.rollback()


def retry_failed_notices(now: datetime) -> tuple[int, int]:
    """Send every kept notice again (oldest first, at most MAX_ATTEMPTS tries each); each outcome is committed on
    its own, so one bad notice never holds up the others. Returns (sent, still failing).

    Each attempt is claimed first, committed, with a lease (`sending_since`): of two runs at the same moment, one
    sends; a run that dies half-way leaves the lease to expire, and the notice is tried again after SEND_LEASE.
    """
    sent = failing = 0
    ids = db.session.scalars(
        select(FailedNotice.id).where(FailedNotice.attempts < MAX_ATTEMPTS).order_by(FailedNotice.id)
    ).all()
    db.session.rollback()  # no transaction is held while the mail server answers
    for notice_id in ids:
        claimed = db.session.execute(
            update(FailedNotice)
            .where(
                FailedNotice.id == notice_id,
                FailedNotice.attempts < MAX_ATTEMPTS,
                or_(FailedNotice.sending_since.is_(None), FailedNotice.sending_since < now - SEND_LEASE),
            )
            .values(attempts=FailedNotice.attempts + 1, sending_since=now, last_attempt_at=now)
            .returning(FailedNotice.recipient, FailedNotice.subject, FailedNotice.body)
        ).one_or_none()
        db.session.commit()
        if claimed is None:
            continue  # sent, given up on, or being sent by another run
        reason = deliver(claimed.recipient, claimed.subject, claimed.body)
        if reason is None:
            db.session.execute(delete(FailedNotice).where(FailedNotice.id == notice_id))
            sent += 1
        else:
            db.session.execute(
                update(FailedNotice).where(FailedNotice.id == notice_id).values(sending_since=None, last_error=reason)
            )
            failing += 1
        db.session.commit()
    return sent, failing


notices_cli = AppGroup("notices", help="E-mail notices that could not be sent.")


@notices_cli.command("retry")
def retry_command() -> None:
    """Send again the notices that failed; exit 1 if some still fail."""
    if not mail_configured():
        raise click.ClickException("No mail server is configured (MAIL_SERVER): notices cannot be sent.")
    sent, failing = retry_failed_notices(utcnow())
    click.echo(f"{sent} notice(s) sent, {failing} still failing.")
    if failing:
        raise SystemExit(1)
