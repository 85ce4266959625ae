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

Each person is told in their own language (`User.language`), else in the default language of the circle the notice
is about (`Circle.language`), else in English, with times in their own zone if they chose one (`User.time_zone`),
whoever caused the change: a notice's subject and body may be given as a lazy translation or as a function that
writes them, and are written once per language and zone among its recipients (`fundcircle.i18n.in_language`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from flask_babel import gettext
from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Table, Text, event, insert, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from fundcircle.db import Base, UTCDateTime, utcnow
from fundcircle.extensions import db
from fundcircle.i18n import DEFAULT_LANGUAGE, LANGUAGES, LazyText, in_language
from fundcircle.inbox.notifications import record_notifications
from fundcircle.ledger.models import LedgerChain
from fundcircle.ledger.signing import latest_checkpoint, site_key
from fundcircle.mail import external_url
from fundcircle.phrases import N_
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

#: What each kind is called on the settings page and in a mail's footer ("you get this because you asked to be
#: told when ..."): clauses that follow "when", marked for translation and said with `gettext(KIND_LABELS[kind])`
#: (plain text, not lazy: the settings page joins and compares them as text).
KIND_LABELS = {
    "round.phase_changed": N_("a round you take part in moves to its next phase"),
    "round.opened_for_proposals": N_("a round of your circle opens for proposals"),
    "comment.answered": N_("your question on a proposal is answered"),
    "comment.replied": N_("somebody replies to your comment"),
    "comment.followed": N_("a discussion you follow has a new comment"),
    "member.treasurer_granted": N_("somebody in your circle is made treasurer"),
    "payout.needs_treasurer": N_("a payout needs a treasurer's attention"),
    "payout.awaiting_approval": N_("payouts wait for your approval as treasurer"),
    "consent.opened": N_("a consent round opens on a proposal you decide on"),
    "round.deadline_reminder": N_("a deadline comes near and something still waits for you"),
    "round.facilitator_reminder": N_("a facilitator reminds those who have not voted or answered yet"),
    "payout.reversed": N_("a payout moves back on Open Collective (rejected, unpaid or marked as spam)"),
    "join.requested": N_("somebody asks to join a circle you are an admin of"),
    "join.answered": N_("your request to join a circle is accepted or declined"),
    "coauthor.invited": N_("somebody invites you to co-author their proposal"),
    "coauthor.answered": N_("an invitation to co-author a proposal is answered, left or taken back"),
    "report.due_soon": N_("the learning report on your funded proposal is due soon"),
    "report.overdue": N_("the learning report on your funded proposal is overdue"),
}

#: How a person may hear of a kind of notice.
DELIVERY_MODES = ("immediate", "daily", "weekly", "inbox")
#: Marked for translation, said with `gettext(DELIVERY_LABELS[mode])` (plain text, as KIND_LABELS).
DELIVERY_LABELS = {
    "immediate": N_("E-mail at once"),
    "daily": N_("Daily digest"),
    "weekly": N_("Weekly digest"),
    "inbox": N_("Inbox only"),
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
    #: Their own language (fundcircle/i18n.py LANGUAGES), or None: the circle's default, else English.
    language: str | None
    #: Their own display zone (IANA), or None: each circle's own.
    time_zone: str | None


#: How a person reads: their language and their own display zone (None: each circle's own).
Reading = tuple[str, str | None]

#: A notice's subject or body: text said as it is (English), a lazy translation (`lazy_gettext("...", title=...)`),
#: or a function that writes it (a template rendered with `render_template`); the last two are said in each
#: recipient's language.
Wording = str | LazyText | Callable[[], str]


def say(wording: Wording) -> str:
    """The text of `wording` in the current language (see `in_language`)."""
    return wording() if callable(wording) else str(wording)


def notice_language(own: str | None, circle_language: str | None) -> str:
    """The language a person is told in: their own, else their circle's default, else English."""
    for choice in (own, circle_language):
        if choice in LANGUAGES:
            return str(choice)
    return DEFAULT_LANGUAGE


def _table(name: str) -> Table:
    """A table of an area, by name: this root module reads a person's and a circle's language without importing
    the areas that define them (which import this module)."""
    return Base.metadata.tables[name]


def circle_languages(circle_ids: Iterable[int]) -> dict[int, str | None]:
    """The default language of each circle (None where it has none), in one query."""
    wanted = sorted(set(circle_ids))
    if not wanted:
        return {}
    circles = _table("circles")
    rows = db.session.execute(select(circles.c.id, circles.c.language).where(circles.c.id.in_(wanted)))
    return {circle_id: language for circle_id, language in rows}


def user_readings(user_ids: Iterable[int]) -> dict[int, tuple[str | None, str | None]]:
    """The own language and display zone of each person (None where they chose none), in one query per thousand
    people."""
    wanted = sorted(set(user_ids))
    users = _table("users")
    found: dict[int, tuple[str | None, str | None]] = {}
    for start in range(0, len(wanted), _PREFERENCES_PER_QUERY):
        rows = db.session.execute(
            select(users.c.id, users.c.language, users.c.time_zone).where(
                users.c.id.in_(wanted[start : start + _PREFERENCES_PER_QUERY])
            )
        )
        found.update({user_id: (language, zone) for user_id, language, zone in rows})
    return found


def by_reading(people: Iterable[Recipient], circle_id: int | None) -> dict[Reading, list[Recipient]]:
    """`people` grouped by how each reads (their language, `notice_language`, and their own zone), in their order;
    the circle's default language is read once for all of them."""
    listed = list(people)
    circle_language = circle_languages([circle_id]).get(circle_id) if circle_id is not None and listed else None
    groups: dict[Reading, list[Recipient]] = {}
    for person in listed:
        language = notice_language(getattr(person, "language", None), circle_language)
        groups.setdefault((language, getattr(person, "time_zone", None)), []).append(person)
    return groups


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
    subject: Wording,
    body: Wording,
    *,
    kind: str,
    circle_id: int | None,
    url: str | None,
    round_id: int | None = None,
) -> None:
    """Tell `user`, in the current transaction: an outbox row that the worker delivers once it is committed. One
    notice per person and subject in a transaction, since a change may reach a person by several roles. `kind` is
    one of NOTICE_KINDS; `circle_id` is the circle the notice is about, whose ledger checkpoint the mail carries
    and whose default language counts for those who chose none (None: none); `round_id` the round a digest files
    it under; `url` the page where the person can act on it. `subject` and `body` are said in the person's
    language (`Wording`).

    :raises ValueError: for an unknown kind.
    """
    queue_notices([user], subject, body, kind=kind, circle_id=circle_id, url=url, round_id=round_id)


def queue_notices(
    people: Iterable[Recipient],
    subject: Wording,
    body: Wording,
    *,
    kind: str,
    circle_id: int | None,
    url: str | None,
    round_id: int | None = None,
) -> None:
    """The same notice to each of `people` (queue_notice's rules), reading their preferences in one query and
    writing the subject and body once per language and zone among them.

    :raises ValueError: for an unknown kind.
    """
    if kind not in NOTICE_KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    queued: set[tuple[int, str]] = db.session.info.setdefault(_QUEUED, set())
    written: list[tuple[str, str, list[Recipient]]] = []
    # Text given as it is reads the same to everybody: no language to look up.
    fixed = isinstance(subject, str) and isinstance(body, str)
    groups: dict[Reading, list[Recipient]] = (
        {(DEFAULT_LANGUAGE, None): list(people)} if fixed else by_reading(people, circle_id)
    )
    for (language, zone), group in groups.items():
        with in_language(language, zone):
            subject_text, body_text = say(subject), say(body)
        fresh = [person for person in group if (person.id, subject_text) not in queued]
        if fresh:
            written.append((subject_text, body_text, fresh))
    if not written:
        return
    deliveries = _deliveries_of([person for _, _, fresh in written for person in fresh], kind)
    rows = []
    for subject_text, body_text, fresh in written:
        told = []
        for person in fresh:
            if (person.id, subject_text) in queued:
                continue  # listed twice
            queued.add((person.id, subject_text))
            told.append(person.id)
            rows.append(
                {
                    "user_id": person.id,
                    "recipient": person.email,
                    "subject": subject_text,
                    "body": body_text,
                    "kind": kind,
                    "circle_id": circle_id,
                    "round_id": round_id,
                    "url": url,
                    "delivery": deliveries[person.id],
                }
            )
        # The inbox keeps every notice, in this transaction, whatever the person chose for their mail; one batched
        # INSERT per language, since the inbox's text is the subject in the reader's language.
        if told:
            record_notifications(told, kind=kind, circle_id=circle_id, text=subject_text, url=url)
    # Batched INSERTs: a phase change tells every member, and an object per row was the slowest part of deciding.
    if not rows:
        return
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
    # Said in the current language (a mail is written under its recipient's); the lines stay lines.
    text = (
        gettext(
            "For the technically minded: keep this mail as proof of the circle's ledger as it stood when it was sent."
        )
        + "\n"
        + gettext("The ledger must always pass through this point; the help page says how anyone can check it:")
        + f"\n{checkpoint_help_url(checkpoint)}\n"
        + gettext("Ledger checkpoint: %(count)s:%(hash)s", count=count, hash=digest)
        + "\n"
    )
    if checkpoint.note is not None:
        text += (
            gettext("The site's signed checkpoint, with its key %(key)s:", key=checkpoint.verifier_key)
            + f"\n-----BEGIN CHECKPOINT-----\n{checkpoint.note}-----END CHECKPOINT-----\n"
        )
    return text


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_queued(session: Session, *_args: Any) -> None:
    session.info.pop(_QUEUED, None)
