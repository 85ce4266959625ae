"""Notices: what a person is told, written to an outbox in the same transaction as the change they tell about.

`queue_notice` adds a row to `notice_outbox` beside the change: a rollback drops both, so nobody hears of a change
that did not happen, and a committed notice waits in the database until the worker (fundcircle/worker.py) has
delivered it, so a worker that dies loses nothing. Delivery (fundcircle/outbox.py) claims rows with a lease, sends
them over one SMTP connection per batch, marks each sent as soon as the server took it, and retries the others with
a growing delay. Without a mail server the rows are still recorded and wait.

How each person hears of each kind is their preference (`notice_preferences`): at once by e-mail, in a daily or a
weekly digest, or in the inbox only; `DEFAULT_DELIVERY` holds the defaults, and turning e-mail notices off (the
older switch on the profile page) means inbox only for every kind.

Every notice about a circle ends with the circle's ledger checkpoint (its chain's count and head hash, as committed
when the mail is sent): whoever keeps the mail holds a point the ledger must still pass through. Members read no
command line: the checkpoint is folded into a last short paragraph "for the technically minded" that links the
ledger's help page for that entry, which gives the command (`flask ledger verify --checkpoint COUNT:HASH`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, event, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from fundcircle.db import Base, UTCDateTime, utcnow
from fundcircle.extensions import db
from fundcircle.inbox.notifications import record_notifications
from fundcircle.ledger.models import LedgerChain
from fundcircle.ledger.signing import latest_checkpoint, site_key
from fundcircle.mail import external_url
from fundcircle.unit_of_work import after_commit

#: What a notice is about, one code per kind of event (a person's preferences and the inbox group by it).
NOTICE_KINDS = (
    "round.phase_changed",
    "round.opened_for_proposals",
    "comment.answered",
    "comment.replied",
    "comment.followed",
    "member.treasurer_granted",
    "payout.needs_treasurer",
    "payout.awaiting_approval",
    "consent.opened",
    "round.deadline_reminder",
    "round.facilitator_reminder",
    "payout.reversed",
    "join.requested",
    "join.answered",
    "coauthor.invited",
    "coauthor.answered",
    "report.due_soon",
    "report.overdue",
)

#: What each kind is called on the settings page and in a mail's footer ("you get this because ...").
KIND_LABELS = {
    "round.phase_changed": "a round you take part in moves to its next phase",
    "round.opened_for_proposals": "a round of your circle opens for proposals",
    "comment.answered": "your question on a proposal is answered",
    "comment.replied": "somebody replies to your comment",
    "comment.followed": "a discussion you follow has a new comment",
    "member.treasurer_granted": "somebody in your circle is made treasurer",
    "payout.needs_treasurer": "a payout needs a treasurer's attention",
    "payout.awaiting_approval": "payouts wait for your approval as treasurer",
    "consent.opened": "a consent round opens on a proposal you decide on",
    "round.deadline_reminder": "a deadline comes near and something still waits for you",
    "round.facilitator_reminder": "a facilitator reminds those who have not voted or answered yet",
    "payout.reversed": "a payout moves back on Open Collective (rejected, unpaid or marked as spam)",
    "join.requested": "somebody asks to join a circle you are an admin of",
    "join.answered": "your request to join a circle is accepted or declined",
    "coauthor.invited": "somebody invites you to co-author their proposal",
    "coauthor.answered": "an invitation to co-author a proposal is answered, left or taken back",
    "report.due_soon": "the learning report on your funded proposal is due soon",
    "report.overdue": "the learning report on your funded proposal is overdue",
}

#: How a person may hear of a kind of notice.
DELIVERY_MODES = ("immediate", "daily", "weekly", "inbox")
DELIVERY_LABELS = {
    "immediate": "E-mail at once",
    "daily": "Daily digest",
    "weekly": "Weekly digest",
    "inbox": "Inbox only",
}

#: The defaults: mail at once, as before preferences existed (a notice mostly asks its reader to act before a
#: deadline); whoever finds it too much chooses a digest, or the one-click link of a mail turns that kind off.
DEFAULT_DELIVERY = dict.fromkeys(NOTICE_KINDS, "immediate")

_QUEUED = "fundcircle_queued_notices"
#: Ids in one IN list (SQLite allows 32,766 variables; PostgreSQL many more): a very large audience takes a few.
_PREFERENCES_PER_QUERY = 1000


class Recipient(Protocol):
    """A person who may be told (an `auth.models.User`)."""

    id: int
    email: str
    email_notices: bool


class OutboxNotice(Base):
    """A notice committed with its change, waiting to be delivered (or delivered: `sent_at`)."""

    __tablename__ = "notice_outbox"
    __table_args__ = (
        CheckConstraint("delivery IN ('immediate', 'daily', 'weekly', 'inbox')", name="delivery_known"),
        Index("ix_notice_outbox_pending", "delivery", "sent_at", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: The address at the moment of the change (an address changed later gets later notices).
    recipient: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40))
    circle_id: Mapped[int | None] = mapped_column(Integer)
    round_id: Mapped[int | None] = mapped_column(Integer)
    url: Mapped[str | None] = mapped_column(String(500))
    #: How this notice goes out, from the person's preference when it was queued.
    delivery: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: Not before this time (a retry's backoff); None: at once.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The claim of the worker sending it, valid until `lease_until` (a worker that dies leaves it to expire).
    lease_token: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(String(500))


class NoticePreference(Base):
    """How one person wants to hear of one kind of notice, where it differs from DEFAULT_DELIVERY."""

    __tablename__ = "notice_preferences"
    __table_args__ = (CheckConstraint("delivery IN ('immediate', 'daily', 'weekly', 'inbox')", name="delivery_known"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    delivery: Mapped[str] = mapped_column(String(10))


def delivery_of(user: Recipient, kind: str) -> str:
    """How `user` hears of `kind` now: their preference, else the default; inbox only when e-mail is off."""
    return _deliveries_of([user], kind)[user.id]


def _deliveries_of(people: Sequence[Recipient], kind: str) -> dict[int, str]:
    """How each of `people` hears of `kind`: one query for them all (a phase change tells hundreds at once)."""
    asking = [person.id for person in people if person.email_notices]
    chosen: dict[int, str] = {}
    for start in range(0, len(asking), _PREFERENCES_PER_QUERY):
        rows = db.session.execute(
            select(NoticePreference.user_id, NoticePreference.delivery).where(
                NoticePreference.kind == kind,
                NoticePreference.user_id.in_(asking[start : start + _PREFERENCES_PER_QUERY]),
            )
        )
        chosen.update({user_id: delivery for user_id, delivery in rows})
    return {
        person.id: chosen.get(person.id, DEFAULT_DELIVERY[kind]) if person.email_notices else "inbox"
        for person in people
    }


def queue_notice(
    user: Recipient,
    subject: str,
    body: str,
    *,
    kind: str,
    circle_id: int | None,
    url: str | None,
    round_id: int | None = None,
) -> None:
    """Tell `user`, in the current transaction: an outbox row that the worker delivers once it is committed. One
    notice per person and subject in a transaction, since a change may reach a person by several roles. `kind` is
    one of NOTICE_KINDS; `circle_id` is the circle the notice is about, whose ledger checkpoint the mail carries
    (None: none); `round_id` the round a digest files it under; `url` the page where the person can act on it.

    :raises ValueError: for an unknown kind.
    """
    queue_notices([user], subject, body, kind=kind, circle_id=circle_id, url=url, round_id=round_id)


def queue_notices(
    people: Iterable[Recipient],
    subject: str,
    body: str,
    *,
    kind: str,
    circle_id: int | None,
    url: str | None,
    round_id: int | None = None,
) -> None:
    """The same notice to each of `people` (queue_notice's rules), reading their preferences in one query.

    :raises ValueError: for an unknown kind.
    """
    if kind not in NOTICE_KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    queued: set[tuple[int, str]] = db.session.info.setdefault(_QUEUED, set())
    fresh = [person for person in people if (person.id, subject) not in queued]
    if not fresh:
        return
    deliveries = _deliveries_of(fresh, kind)
    rows = []
    for person in fresh:
        if (person.id, subject) in queued:
            continue  # listed twice
        queued.add((person.id, subject))
        rows.append(
            {
                "user_id": person.id,
                "recipient": person.email,
                "subject": subject,
                "body": body,
                "kind": kind,
                "circle_id": circle_id,
                "round_id": round_id,
                "url": url,
                "delivery": deliveries[person.id],
            }
        )
    # The inbox keeps every notice, in this transaction, whatever the person chose for their mail. Both as batched
    # INSERTs: a phase change tells every member, and an object per row was the slowest part of deciding.
    if not rows:
        return
    record_notifications([row["user_id"] for row in rows], kind=kind, circle_id=circle_id, text=subject, url=url)
    db.session.execute(insert(OutboxNotice), rows)
    if "immediate" in deliveries.values():
        after_commit(_wake_worker, key="notices.wake")


def _wake_worker() -> None:
    from fundcircle.worker import wake_delivery  # the worker imports the services that import this module

    wake_delivery()


@dataclass(frozen=True)
class MailCheckpoint:
    """What a notice carries of its circle's ledger: the chain's head, and the latest signed checkpoint of its
    Merkle tree (ledger/checkpoints.py) with the key that signed it."""

    count: int
    head_hash: str
    note: str | None
    verifier_key: str
    #: The circle whose ledger it is (the help page the mail links to is the circle's).
    circle_id: int


def checkpoint_of(circle_id: int) -> MailCheckpoint | None:
    """The circle's ledger checkpoint as committed now: its chain's head, and its latest signed checkpoint."""
    row = db.session.execute(
        select(LedgerChain.head_seq, LedgerChain.head_hash).where(LedgerChain.circle_id == circle_id)
    ).one_or_none()
    if row is None:
        return None
    signed = latest_checkpoint(circle_id)
    note = signed.note if signed is not None else None
    return MailCheckpoint(row.head_seq, row.head_hash, note, site_key().verifier, circle_id)


def checkpoint_help_url(checkpoint: MailCheckpoint) -> str:
    """The ledger's help page for the checkpoint's entry, as an absolute link under BASE_URL (a mail has no host)."""
    return external_url("ledger.technical", circle_id=checkpoint.circle_id, seq=checkpoint.count)


def checkpoint_paragraph(checkpoint: MailCheckpoint) -> str:
    """The mail's last paragraph, for the technically minded: the checkpoint (count and hash, which a member keeps as
    proof) and the signed checkpoint, with a link to the help page that says how to check them. No command line."""
    count, digest = checkpoint.count, checkpoint.head_hash
    text = (
        "For the technically minded: keep this mail as proof of the circle's ledger as it stood when it was sent.\n"
        "The ledger must always pass through this point; the help page says how anyone can check it:\n"
        f"{checkpoint_help_url(checkpoint)}\n"
        f"Ledger checkpoint: {count}:{digest}\n"
    )
    if checkpoint.note is not None:
        text += (
            f"The site's signed checkpoint, with its key {checkpoint.verifier_key}:\n"
            f"-----BEGIN CHECKPOINT-----\n{checkpoint.note}-----END CHECKPOINT-----\n"
        )
    return text


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_queued(session: Session, *_args: Any) -> None:
    session.info.pop(_QUEUED, None)
