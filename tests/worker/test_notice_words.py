"""Every kind of notice, made by the real changes that send it and rendered as its mail (text and HTML), speaks to
members in words: no codes such as payout.request_outcome_unknown or amount_minor, no raw ids ("Payout 12"), no
Open Collective statuses such as DRAFT, no command line; the checkpoint's hash only in the mail's last paragraph,
for the technically minded."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from email.message import Message
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select, update

from fundcircle import unit_of_work
from fundcircle.auth.models import User
from fundcircle.circles.joining import accept_request, ask_to_join, set_accepts_join_requests
from fundcircle.circles.models import Circle
from fundcircle.consent.services import open_consent_round
from fundcircle.db import utcnow
from fundcircle.deliberation.services import add_comment
from fundcircle.extensions import db
from fundcircle.inbox.services import remind_undecided, send_deadline_reminders
from fundcircle.learning.reminders import send_report_reminders
from fundcircle.ledger.models import LedgerChain
from fundcircle.notices import NOTICE_KINDS, NoticePreference, OutboxNotice
from fundcircle.outbox import render_notice, send_digests
from fundcircle.payouts.models import Payout
from fundcircle.payouts.requesting import submit_due_payouts
from fundcircle.payouts.services import apply_expense_status, approve_payout, get_payout
from fundcircle.proposals.coauthors import accept_coauthorship, invite_coauthor
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from tests.factories import add_member, make_circle, make_funded_round, make_proposal, make_round, make_user, totp_code
from tests.smtp import Inbox, body_of, running_smtp
from tests.worlds.treasury import Treasury

#: What members must not read in a notice, each with what it catches.
DEVELOPER_WORDS = {
    "a dotted code": re.compile(r"\b[a-z]+\.[a-z]+(?:_[a-z]+)*\b"),
    "a snake_case name": re.compile(r"\b[a-z]+(?:_[a-z]+)+\b"),
    "a raw id": re.compile(r"\b(?:payout|proposal|expense|comment|user)s? (?:#|id |number )?\d+\b", re.I),
    "a code in capitals": re.compile(r"\b[A-Z]{2,}(?:_[A-Z]+)*\b"),
    "a command line": re.compile(r"\bflask\b|--[a-z]|scripts/|\.py\b"),
    "a hash": re.compile(r"\b[0-9a-f]{16,}\b"),
}
#: Capitals that are words: currencies, the time zone, and HTTP in Open Collective's own error a treasurer may
#: pass on to its support ("Open Collective had an error (HTTP 500)").
CAPITAL_WORDS = {"EUR", "USD", "GBP", "CHF", "UTC", "HTTP"}
TECHNICAL = "For the technically minded"


def _user(treasury: Treasury, name: str) -> User:
    return db.session.scalars(select(User).where(User.email == treasury.emails[name])).one()


def _move(admin: User, round_: Round, *phases: str) -> None:
    for phase in phases:
        advance_round(admin, round_, phase, utcnow())
        db.session.commit()


def _readable(part: str) -> str:
    """What a member reads of a mail's part, before its technical paragraph: tags, links and addresses taken out
    (a link holds ids by nature; it is not read)."""
    text = re.sub(r"<[^>]+>", " ", part.split(TECHNICAL)[0])
    text = re.sub(r"https?://\S+", " ", text)
    return re.sub(r"\S+@\S+", " ", text)


def _developer_words(text: str) -> list[str]:
    found = []
    for what, pattern in DEVELOPER_WORDS.items():
        for match in pattern.finditer(text):
            if what == "a code in capitals" and match.group(0) in CAPITAL_WORDS:
                continue
            found.append(f"{what}: {match.group(0)!r}")
    return found


def _every_kind_of_notice(treasury: Treasury) -> None:
    """Make each kind of notice by the change that sends it, in the treasury's circle. The world itself already
    told of treasurers granted, of phase changes, of a round open for proposals and of payouts waiting."""
    app: Flask = treasury.app
    admin, tomas, bea, eli = (_user(treasury, name) for name in ("admin", "tomas", "bea", "eli"))
    circle = db.session.get_one(Circle, treasury.circle_id)

    # A request whose answers were lost too often fails and waits for a treasurer.
    app.config["PAYOUT_MAX_UNKNOWN_OUTCOMES"] = 1
    approve_payout(tomas, get_payout(treasury.payout_ids["Seed library"]), totp_code(treasury.totp_secrets["tomas"]),
                   utcnow())  # fmt: skip
    db.session.commit()
    treasury.sandbox.sandbox.fail_next("error_500", operation="createExpense")
    submit_due_payouts()
    assert treasury.payout("Seed library").status == "failed"

    # A paid payout that Open Collective marks as unpaid moves back.
    later = totp_code(treasury.totp_secrets["tomas"], offset_steps=1)  # each code is good for one use
    approve_payout(tomas, get_payout(treasury.payout_ids["Bike repair"]), later, utcnow())
    db.session.commit()
    submit_due_payouts()
    bike = treasury.payout("Bike repair")
    assert bike.status == "invited" and bike.expense_id is not None
    apply_expense_status(bike, bike.expense_id, "PAID", utcnow(), via="test")
    db.session.commit()
    apply_expense_status(treasury.payout("Bike repair"), bike.expense_id, "APPROVED", utcnow(), via="test")
    db.session.commit()

    # A payout changed in the database behind the app's back is held.
    _, (shed,) = make_funded_round(circle, admin, bea, [{"author": eli, "title": "Tool shed", "amount_minor": 8_000,
                                   "payee_slug": None, "payee_name": "Rosa Builder",
                                   "payee_email": "rosa@example.org"}], title="Autumn repairs")  # fmt: skip
    shed_payout = db.session.scalars(select(Payout).where(Payout.proposal_id == shed.id)).one()
    approve_payout(_user(treasury, "tess"), shed_payout, totp_code(treasury.totp_secrets["tess"]), utcnow())
    db.session.commit()
    db.session.execute(update(Payout).where(Payout.id == shed_payout.id).values(amount_minor=9_000))
    db.session.commit()
    submit_due_payouts()
    assert db.session.get_one(Payout, shed_payout.id).status == "held"

    # Comments: a question followed by the author, answered by the author, replied to by someone else.
    round_ = make_round(circle, admin, title="Winter kitchen")
    _move(admin, round_, "proposals")
    soup = make_proposal(round_, eli, title="Soup pots")
    question = add_comment(bea, soup, "Who keeps the pots?", parent_id=None, question=True, now=utcnow())
    db.session.commit()
    add_comment(eli, soup, "The community centre does.", parent_id=question.id, question=False, now=utcnow())
    add_comment(admin, soup, "They have room for them.", parent_id=question.id, question=False, now=utcnow())
    db.session.commit()

    # A co-author is invited (told), and accepts (the author is told).
    invite_coauthor(eli, soup, bea, utcnow())
    db.session.commit()
    accept_coauthorship(bea, soup, utcnow())
    db.session.commit()

    # Reminders: the deadline comes near, and the facilitator reminds who has not voted.
    _move(admin, round_, "deliberation", "deciding")
    round_ = db.session.get_one(Round, round_.id)
    round_.deciding_close_at = utcnow() + timedelta(hours=3)
    db.session.commit()
    assert send_deadline_reminders(utcnow()) >= 1
    assert remind_undecided(admin, round_, utcnow()) >= 1
    db.session.commit()

    # A consent round opens on a proposal.
    consent = make_round(circle, admin, title="Garden decisions", method="consent", quorum_percent=0)
    _move(admin, consent, "proposals")
    hedge = make_proposal(consent, eli, title="A new hedge")
    _move(admin, consent, "deliberation", "deciding")
    open_consent_round(admin, hedge, utcnow())
    unit_of_work.commit()

    # A person asks to join a public circle that takes requests (its admins are told), and is accepted (told too).
    open_circle = make_circle(admin, name="Open garden", public=True)
    set_accepts_join_requests(admin, open_circle, True)
    asker = make_user(name="Nadia Newcomer", email="nadia@example.org")
    request = ask_to_join(asker, open_circle, "I grow beans.", utcnow())
    unit_of_work.commit()
    accept_request(admin, open_circle, request.id, utcnow())
    unit_of_work.commit()

    # The bike repair is paid after all: its learning report comes due (its authors are reminded), then is overdue.
    bike = treasury.payout("Bike repair")
    assert bike.expense_id is not None
    apply_expense_status(bike, bike.expense_id, "PAID", utcnow(), via="test")
    db.session.commit()
    assert send_report_reminders(utcnow() + timedelta(days=88)) >= 1
    assert send_report_reminders(utcnow() + timedelta(days=91)) >= 1


def test_every_kind_of_notice_speaks_in_words_and_keeps_its_checkpoint_last(treasury: Treasury) -> None:
    with treasury.app.app_context():
        _every_kind_of_notice(treasury)
        notices = list(db.session.scalars(select(OutboxNotice).order_by(OutboxNotice.id)))
        assert {notice.kind for notice in notices} == set(NOTICE_KINDS), "a kind of notice was not made"
        problems = []
        for notice in notices:
            text, html, _ = render_notice(notice)
            for part, name in ((text, "text"), (html, "HTML")):
                words = _developer_words(notice.subject) + _developer_words(_readable(part))
                problems += [f"{notice.kind} ({name}) “{notice.subject}”: {word}" for word in words]
                # The hash is kept, in the last paragraph only, which names no command either.
                assert TECHNICAL in part and "Ledger checkpoint: " in part, notice.kind
                assert "flask" not in part and "verify_ledger" not in part, notice.kind
        assert problems == [], "\n".join(sorted(set(problems)))


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with running_smtp() as server:
        yield server


def _html_of(message: Message) -> str:
    html = message.get_body(preferencelist=("html",))  # type: ignore[attr-defined]
    assert html is not None, "the message has no HTML part"
    payload = html.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def test_a_digest_speaks_in_words_and_ends_with_each_circles_checkpoint_for_the_technically_minded(
    make_app: Any, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, BASE_URL="https://fund.example.org")
    with app.app_context():
        admin, dana = make_user(name="Ada Admin"), make_user(name="Dana")
        circle = make_circle(admin, name="Garden")
        add_member(circle, dana, ["circle"], by=admin)
        db.session.add(NoticePreference(user_id=dana.id, kind="round.phase_changed", delivery="daily"))
        db.session.commit()
        round_ = make_round(circle, admin, title="Spring")
        _move(admin, round_, "proposals", "deliberation")
        unit_of_work.commit()
        chain = db.session.scalars(select(LedgerChain).where(LedgerChain.circle_id == circle.id)).one()
        head, circle_id, dana_email = (chain.head_seq, chain.head_hash), circle.id, dana.email

        assert send_digests("daily", utcnow()) == 1
    (digest,) = [m for m in inbox.to(dana_email) if "digest" in str(m["Subject"])]
    help_url = f"https://fund.example.org/circles/{circle_id}/ledger/technical?seq={head[0]}"
    for part in (body_of(digest), _html_of(digest)):
        assert "Spring: now deliberation" in part
        assert _developer_words(_readable(part)) == []
        last = part[part.index(TECHNICAL) :]
        assert f"Ledger checkpoint: {head[0]}:{head[1]}" in last and help_url in last
        assert part.index("Your notice settings") < part.index(TECHNICAL)  # the last paragraph
        assert "flask" not in part and "--checkpoint" not in part
