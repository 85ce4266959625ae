"""Delivering the outbox (fundcircle/notices.py): immediate notices one by one, digests once a day or a week.

Exactly once, as far as SMTP allows: a batch is claimed with a lease (a compare-and-set on rows nobody else holds,
`FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite's BEGIN IMMEDIATE serialises the claims), so two workers never hold
the same notice; the claim on each notice is renewed just before it is sent (a slow batch whose claim expired is
taken over by another run for the notices not yet reached, never the one being sent); each notice is marked sent
in its own commit as soon as the server took it, so a worker killed
mid-batch leaves only the rest, whose lease then expires and which the next run sends. The one window left is the
moment between the server's "250 OK" and that commit: a worker killed exactly there sends that one notice again on
the next run, with the same Message-ID, by which mail programs recognise a duplicate.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import gettext, ngettext
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import or_, select, update

from fundcircle.db import utcnow
from fundcircle.errors import ValidationFailed
from fundcircle.extensions import db
from fundcircle.hooks import Registry
from fundcircle.i18n import in_language
from fundcircle.ledger.record import record
from fundcircle.mail import external_url, mail_configured, smtp_connection
from fundcircle.notices import (
    DEFAULT_DELIVERY,
    DELIVERY_MODES,
    KIND_LABELS,
    NOTICE_KINDS,
    NoticePreference,
    OutboxNotice,
    Reading,
    Recipient,
    checkpoint_of,
    checkpoint_paragraph,
    circle_languages,
    notice_language,
    user_readings,
)

log = logging.getLogger(__name__)

#: The headings a digest files notices under, by id: "circle" gives circles' names, "round" rounds' titles. The
#: circles and rounds areas provide them (a module at the root imports no area).
digest_headings: Registry[Callable[[set[int]], dict[int, str]]] = Registry("digest headings")

#: After this many failed attempts a notice is no longer tried (it stays in the outbox, for the operator to see).
MAX_ATTEMPTS = 10
_UNSUBSCRIBE_SALT = "fundcircle.notices.unsubscribe"


@dataclass(frozen=True)
class DeliveryRun:
    """What one delivery run did, and when something it left becomes due (None: nothing left)."""

    sent: int
    failed: int
    next_due: datetime | None


def retry_delay(attempts: int) -> timedelta:
    """The backoff after the `attempts`-th failure: 1, 2, 4 ... minutes, at most 6 hours."""
    return timedelta(minutes=min(2 ** (attempts - 1), 360))


def _lease() -> timedelta:
    return timedelta(seconds=current_app.config["NOTICE_LEASE_SECONDS"])


def _due(now: datetime, deliveries: Iterable[str]) -> object:
    return (
        OutboxNotice.delivery.in_(list(deliveries)),
        OutboxNotice.sent_at.is_(None),
        OutboxNotice.attempts < MAX_ATTEMPTS,
        or_(OutboxNotice.next_attempt_at.is_(None), OutboxNotice.next_attempt_at <= now),
        or_(OutboxNotice.lease_until.is_(None), OutboxNotice.lease_until < now),
    )


def _claim(now: datetime, deliveries: Iterable[str], limit: int, user_id: int | None = None) -> list[OutboxNotice]:
    """Claim up to `limit` due notices for this run (committed), oldest first."""
    conditions = _due(now, deliveries)
    ids = select(OutboxNotice.id).where(*conditions).order_by(OutboxNotice.id).limit(limit)  # type: ignore[arg-type]
    if user_id is not None:
        ids = ids.where(OutboxNotice.user_id == user_id)
    if db.engine.dialect.name == "postgresql":
        ids = ids.with_for_update(skip_locked=True)
    token = secrets.token_hex(16)
    db.session.execute(
        update(OutboxNotice)
        .where(OutboxNotice.id.in_(ids.scalar_subquery()), *conditions)  # type: ignore[arg-type]
        .values(lease_token=token, lease_until=now + _lease(), attempts=OutboxNotice.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    claimed = db.session.scalars(
        select(OutboxNotice).where(OutboxNotice.lease_token == token).order_by(OutboxNotice.id)
    ).all()
    for notice in claimed:
        # Kept as claimed: an expired attribute would be read again later, and could then carry the token of
        # another run that took the notice over (after this run's claim expired), as if it were this run's.
        db.session.expunge(notice)
    db.session.rollback()  # no transaction is held while the mail server answers
    return list(claimed)


def _renew(notice: OutboxNotice, now: datetime) -> bool:
    """Make sure this run's claim on one notice outlasts sending it; False if the claim was lost.

    A batch's claim may run short while earlier notices wait on a slow server; a claim with less than half its
    lease left is extended first (committed), so another run can take over what this run has not reached, and
    never what it is about to send. One send takes at most the mail timeout, far less than half a lease."""
    assert notice.lease_until is not None  # nosec B101  # type narrowing: a claimed notice has a lease
    if notice.lease_until - now > _lease() / 2:
        return True
    renewed = db.session.execute(
        update(OutboxNotice)
        .where(
            OutboxNotice.id == notice.id,
            OutboxNotice.lease_token == notice.lease_token,
            OutboxNotice.sent_at.is_(None),
            OutboxNotice.lease_until >= now,
        )
        .values(lease_until=now + _lease())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    notice.lease_until = now + _lease()
    return bool(renewed.rowcount)  # type: ignore[attr-defined]


def _settle(notice: OutboxNotice, now: datetime, reason: str | None) -> None:
    """Record the outcome of one attempt, if this run still holds the notice."""
    values: dict[str, object] = {"lease_token": None, "lease_until": None}  # nosec B105  # clears a claim, no password
    if reason is None:
        values["sent_at"] = now
    else:
        values |= {"last_error": reason, "next_attempt_at": now + retry_delay(notice.attempts)}
    db.session.execute(
        update(OutboxNotice)
        .where(OutboxNotice.id == notice.id, OutboxNotice.lease_token == notice.lease_token)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def _next_due(now: datetime) -> datetime | None:
    """When the earliest immediate notice still waiting may be tried (its lease or its backoff ends)."""
    rows = db.session.execute(
        select(OutboxNotice.next_attempt_at, OutboxNotice.lease_until).where(
            OutboxNotice.delivery == "immediate",
            OutboxNotice.sent_at.is_(None),
            OutboxNotice.attempts < MAX_ATTEMPTS,
        )
    ).all()
    db.session.rollback()
    times = [max(t for t in (row.next_attempt_at, row.lease_until, now) if t is not None) for row in rows]
    return min(times) if times else None


def notice_readings(notices: Iterable[OutboxNotice]) -> dict[int, Reading]:
    """How each notice's recipient reads, by the notice's id: their own language as it is now, else the circle's
    default, else English, and their own zone (two queries for a whole batch). The subject and body were written so
    when the notice was queued; the mail around them is written so when it is sent."""
    listed = list(notices)
    own = user_readings(n.user_id for n in listed)
    circles = circle_languages(n.circle_id for n in listed if n.circle_id is not None)
    readings: dict[int, Reading] = {}
    for n in listed:
        language, zone = own.get(n.user_id, (None, None))
        circle_language = circles.get(n.circle_id) if n.circle_id is not None else None
        readings[n.id] = (notice_language(language, circle_language), zone)
    return readings


def deliver_due_notices() -> DeliveryRun:
    """Send every immediate notice that is due, in batches of NOTICE_BATCH_SIZE over one connection each. Without
    a mail server nothing is sent and the notices wait."""
    if not mail_configured():
        return DeliveryRun(0, 0, None)
    sent = failed = 0
    while batch := _claim(utcnow(), ["immediate"], current_app.config["NOTICE_BATCH_SIZE"]):
        readings = notice_readings(batch)
        db.session.rollback()  # no transaction is held while the mail server answers
        try:
            with smtp_connection() as connection:
                for notice in batch:
                    if not _renew(notice, utcnow()):
                        batch = batch[1:]
                        continue  # our claim expired (a slow batch) and another run took it: it sends it
                    text, html, headers = render_notice(notice, readings[notice.id])
                    reason = connection.send(notice.recipient, notice.subject, text, html, headers)
                    _settle(notice, utcnow(), reason)
                    sent, failed = (sent + 1, failed) if reason is None else (sent, failed + 1)
                    batch = batch[1:]
        except Exception as error:  # noqa: BLE001 - the server is unreachable: the rest waits for a retry
            reason = f"{type(error).__name__}: {error}"[:500]
            log.warning("could not deliver %d notice(s): %s", len(batch), reason)
            for notice in batch:
                _settle(notice, utcnow(), reason)
            failed += len(batch)
            break
    return DeliveryRun(sent, failed, _next_due(utcnow()))


def _footer(kind: str, circle_id: int | None) -> tuple[str, str]:
    """Why the person got it, and the circle's checkpoint as committed now (it includes the change told about), in
    the current language."""
    why = gettext("You get this because you asked to be told when %(kind)s.", kind=gettext(KIND_LABELS[kind]))
    checkpoint = checkpoint_of(circle_id) if circle_id is not None else None
    return why, checkpoint_paragraph(checkpoint) if checkpoint is not None else ""


def _unsubscribe_headers(user_id: int, kind: str, notice_id: int) -> dict[str, str]:
    link = unsubscribe_url(user_id, kind)
    domain = current_app.config["MAIL_FROM"].rpartition("@")[2].rstrip(">") or "localhost"
    return {
        "List-Unsubscribe": f"<{link}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",  # RFC 8058: a POST to the link, no log-in
        # The same id on every attempt: a copy sent twice is recognisable as one message.
        "Message-ID": f"<notice-{notice_id}@{domain}>",
    }


def render_notice(notice: OutboxNotice, reading: Reading | None = None) -> tuple[str, str, dict[str, str]]:
    """The plain-text and HTML parts of one notice, and its headers, written for `reading` (a language and a zone;
    None: its recipient's, `notice_readings`)."""
    if reading is None:
        reading = notice_readings([notice])[notice.id]
    with in_language(*reading):
        return _render_notice(notice, reading[0])


def _render_notice(notice: OutboxNotice, language: str) -> tuple[str, str, dict[str, str]]:
    why, checkpoint = _footer(notice.kind, notice.circle_id)
    db.session.rollback()
    context = {
        "page_language": language,
        "body": notice.body,
        "url": notice.url,
        "why": why,
        "checkpoint": checkpoint,
        "unsubscribe_url": unsubscribe_url(notice.user_id, notice.kind),
        "preferences_url": external_url("auth.notice_preferences"),
    }
    env = current_app.jinja_env
    text = env.get_template("mail/notice.txt").render(context)
    html = env.get_template("mail/notice.html").render(context)
    return text, html, _unsubscribe_headers(notice.user_id, notice.kind, notice.id)


# -- digests ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DigestSection:
    """A digest's notices about one round (or about the circle, round None), in the order they were queued."""

    circle_id: int | None
    circle_name: str
    round_id: int | None
    round_title: str
    notices: tuple[OutboxNotice, ...]


def group_for_digest(
    notices: Iterable[OutboxNotice], circle_names: dict[int, str], round_titles: dict[int, str]
) -> list[DigestSection]:
    """Group notices by circle, then by round, circles and rounds in order of their first notice (pure)."""
    sections: dict[tuple[int | None, int | None], list[OutboxNotice]] = {}
    for notice in sorted(notices, key=lambda n: n.id):
        sections.setdefault((notice.circle_id, notice.round_id), []).append(notice)
    circle_order: dict[int | None, int] = {}
    for circle_id, _ in sections:
        circle_order.setdefault(circle_id, len(circle_order))
    ordered = sorted(sections.items(), key=lambda item: circle_order[item[0][0]])
    account = gettext("Your account")  # the heading of notices about no circle, in the digest's language
    return [
        DigestSection(
            circle_id,
            circle_names.get(circle_id, account) if circle_id is not None else account,
            round_id,
            round_titles.get(round_id, "") if round_id is not None else "",
            tuple(items),
        )
        for (circle_id, round_id), items in ordered
    ]


def send_digests(delivery: str, now: datetime) -> int:
    """Send each person one digest of their notices waiting for `delivery` ("daily" or "weekly"), grouped by
    circle and round; returns how many digests went out. Without a mail server they wait.

    :raises ValueError: for a delivery that is no digest.
    """
    if delivery not in ("daily", "weekly"):
        raise ValueError(f"{delivery!r} is not a digest")
    if not mail_configured():
        return 0
    people = db.session.scalars(
        select(OutboxNotice.user_id).where(*_due(now, [delivery])).distinct()  # type: ignore[arg-type]
    ).all()
    db.session.rollback()
    digests = 0
    for user_id in people:
        notices = _claim(now, [delivery], 1000, user_id=user_id)
        if not notices:
            continue  # another run took them
        # The digest is written in the language of its first notice (the person's own, else that circle's).
        language, zone = notice_readings(notices[:1])[notices[0].id]
        with in_language(language, zone):
            reason = _send_digest(delivery, notices, language)
        for notice in notices:
            _settle(notice, now, reason)
        digests += reason is None
    return digests


def _send_digest(delivery: str, notices: list[OutboxNotice], language: str) -> str | None:
    """Write one person's digest of `notices` in the current language and send it; None when the server took it,
    else why not."""
    circle_ids = {n.circle_id for n in notices if n.circle_id is not None}
    round_ids = {n.round_id for n in notices if n.round_id is not None}
    circle_names = digest_headings["circle"](circle_ids)
    round_titles = digest_headings["round"](round_ids)
    sections = group_for_digest(notices, circle_names, round_titles)
    checkpoints = {cid: checkpoint_of(cid) for cid in circle_ids}
    db.session.rollback()
    daily = delivery == "daily"
    context = {
        "page_language": language,
        "period": "day" if daily else "week",
        "sections": sections,
        "checkpoints": {cid: checkpoint_paragraph(c) for cid, c in checkpoints.items() if c is not None},
        "why": gettext("You get this because you chose a daily digest for some notices.")
        if daily
        else gettext("You get this because you chose a weekly digest for some notices."),
        "preferences_url": external_url("auth.notice_preferences"),
    }
    env = current_app.jinja_env
    text = env.get_template("mail/digest.txt").render(context)
    html = env.get_template("mail/digest.html").render(context)
    # English has said "notice(s)" since digests came; other languages have their plural forms.
    subject = (
        ngettext("Your daily digest: %(num)d notice(s)", "Your daily digest: %(num)d notice(s)", len(notices))
        if daily
        else ngettext("Your weekly digest: %(num)d notice(s)", "Your weekly digest: %(num)d notice(s)", len(notices))
    )
    try:
        with smtp_connection() as connection:
            return connection.send(notices[0].recipient, subject, text, html)
    except Exception as error:  # noqa: BLE001 - unreachable server: the digest waits for the next run
        return f"{type(error).__name__}: {error}"[:500]


# -- preferences and the one-click unsubscribe ------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_UNSUBSCRIBE_SALT)


def unsubscribe_url(user_id: int, kind: str) -> str:
    """The one-click link that turns mail of this kind off for this person (signed: it works without log-in)."""
    return external_url("auth.unsubscribe", token=_serializer().dumps([user_id, kind]))


def read_unsubscribe_token(token: str) -> tuple[int, str] | None:
    """The person and kind a link names, or None if it was not made by this server."""
    try:
        user_id, kind = _serializer().loads(token)
    except (BadSignature, ValueError, TypeError):
        return None
    if not isinstance(user_id, int) or kind not in NOTICE_KINDS:
        return None
    return user_id, kind


def preferences_of(user_id: int) -> dict[str, str]:
    """Every kind and how this person hears of it (their choice or the default)."""
    chosen = dict(
        db.session.execute(
            select(NoticePreference.kind, NoticePreference.delivery).where(NoticePreference.user_id == user_id)
        ).all()
    )
    return {kind: chosen.get(kind, DEFAULT_DELIVERY[kind]) for kind in NOTICE_KINDS}


class UnknownPreference(ValidationFailed):
    """A kind or delivery mode that does not exist."""


def set_notice_delivery(actor: object, user: Recipient, kind: str, delivery: str) -> bool:
    """Choose how `user` hears of `kind`; in the ledger; returns whether anything changed. `actor` is the person
    (or None for the one-click link, which speaks for the person it was sent to).

    :raises UnknownPreference: for a kind or mode that does not exist (nothing changed).
    """
    if kind not in NOTICE_KINDS:
        raise UnknownPreference(
            gettext(
                "unknown notice kind %(kind)s: it must be one of %(kinds)s",
                kind=repr(kind),
                kinds=", ".join(NOTICE_KINDS),
            ),
            field="kind",
        )
    if delivery not in DELIVERY_MODES:
        raise UnknownPreference(
            gettext(
                "unknown delivery %(delivery)s: it must be one of %(modes)s",
                delivery=repr(delivery),
                modes=", ".join(DELIVERY_MODES),
            )
        )
    row = db.session.get(NoticePreference, (user.id, kind))
    current = row.delivery if row is not None else DEFAULT_DELIVERY[kind]
    if current == delivery:
        return False
    if row is None:
        db.session.add(NoticePreference(user_id=user.id, kind=kind, delivery=delivery))
    else:
        row.delivery = delivery
    record(
        "user.notice_delivery_changed",
        actor=actor if actor is not None else user,  # type: ignore[arg-type]
        circle_id=None,
        subject=user,
        data={"kind": kind, "delivery": delivery},
    )
    db.session.flush()
    return True


def set_notice_deliveries(actor: Recipient, choices: dict[str, str]) -> int:
    """Set several of the actor's preferences at once (the settings page and the API); returns how many changed.

    :raises UnknownPreference: for a kind or mode that does not exist (nothing changed).
    """
    for kind, delivery in choices.items():
        if kind not in NOTICE_KINDS or delivery not in DELIVERY_MODES:
            raise UnknownPreference(
                gettext(
                    "%(kind)s: %(delivery)s is not a choice; kinds are %(kinds)s and each may be %(modes)s",
                    kind=kind,
                    delivery=repr(delivery),
                    kinds=", ".join(NOTICE_KINDS),
                    modes=", ".join(DELIVERY_MODES),
                )
            )
    return sum(set_notice_delivery(actor, actor, kind, delivery) for kind, delivery in choices.items())
