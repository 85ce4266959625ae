"""The ledger covers the state, not only itself: a row edited directly in the database (a payout's amount, payee or
currency; a member's role; a score; a consent outcome; a ballot's receipt) stops the payout it would move, is told
to the treasurers, and is named by `flask ledger verify`, although the chain itself still verifies."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle, Membership
from fundcircle.consent.models import ConsentRound
from fundcircle.consent.services import answer_consent, close_consent_round, open_consent_round
from fundcircle.db import utcnow
from fundcircle.errors import Conflict
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerChain, LedgerEntry
from fundcircle.ledger.reading import verify_ledger
from fundcircle.payouts.requesting import submit_due_payouts
from fundcircle.payouts.services import approve_payout, get_payout, retry_payout
from fundcircle.proposals.models import Proposal
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting.models import Ballot
from tests.concurrency import all_at_once
from tests.conftest import Client
from tests.factories import (
    add_member,
    make_circle,
    make_funded_round,
    make_proposal,
    make_round,
    make_user,
    totp_code,
)
from tests.smtp import Inbox, body_of, running_smtp
from tests.worlds.sandbox import SANDBOX_COLLECTIVE
from tests.worlds.treasury import Treasury, ledger_actions

TREASURERS = ("tomas", "tess", "author")


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with running_smtp() as server:
        yield server


@pytest.fixture
def worker(make_app: Any, smtp: tuple[int, Inbox]) -> Flask:
    """The app as `flask payouts submit` runs it, sending mail to the local SMTP server."""
    app: Flask = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp[0], BASE_URL="https://fund.example.org")
    return app


def _user(email: str) -> User:
    return db.session.scalars(sa.select(User).where(User.email == email)).one()


def _approve(treasury: Treasury, title: str) -> int:
    with treasury.app.app_context():
        payout = get_payout(treasury.payout_ids[title])
        offset = 1 if title == "Bike repair" else 0
        approve_payout(_user(treasury.emails["tomas"]), payout, totp_code(treasury.totp_secrets["tomas"],
                       offset_steps=offset), utcnow())  # fmt: skip
        db.session.commit()
        assert payout.status == "approved"
        return payout.id


def _sql(app: Flask, statement: str, **params: Any) -> int:
    """Change the database behind the application's back, as somebody with access to it could."""
    with app.app_context(), db.engine.begin() as connection:
        return connection.execute(sa.text(statement), params).rowcount


def _submit(app: Flask) -> None:
    with app.app_context():
        submit_due_payouts()
        db.session.remove()


def _verify(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["ledger", "verify", *args])


def _slug(app: Flask, circle_id: int) -> str:
    with app.app_context():
        circle = db.session.get(Circle, circle_id)
        assert circle is not None
        return circle.slug


#: What is edited: the payout, the statement, the field named to the treasurers and what it holds then, and what
#: `ledger verify` names (its fields in name order: an edited address is named by its digest, before the name).
EDITS = {
    "amount": ("Seed library", "UPDATE payouts SET amount_minor = 99999 WHERE id = :id", "amount_minor", "99999"),
    "payee account": (
        "Seed library",
        "UPDATE payouts SET payee_slug = 'mallory-account' WHERE id = :id",
        "payee_slug",
        "'mallory-account'",
    ),
    "currency": ("Seed library", "UPDATE payouts SET currency = 'USD' WHERE id = :id", "currency", "'USD'"),
    "invited payee": (
        "Bike repair",
        "UPDATE payouts SET payee_name = 'Mallory', payee_email = 'mallory@example.net' WHERE id = :id",
        "payee_name",
        "'Mallory'",
    ),
}
#: How the treasurers' mail states each edit: in words, an amount as money, the entries by number.
MAIL_WORDS = {
    "amount": "- amount: the payout says 999.99 EUR, but the ledger says 250.00 EUR (entries ",
    "payee account": "- payee's Open Collective account: the payout says 'mallory-account', but the ledger says "
    "'riverside-grantee' (entr",
    "currency": "- currency: the payout says 'USD', but the ledger says 'EUR' (entr",
    "invited payee": "- payee's name: the payout says 'Mallory', but the ledger says 'Tess Treasurer' (entr",
}
VERIFY_NAMES = {
    "amount": "field amount_minor: stored 99999, the ledger says 25000",
    "payee account": "field payee_slug: stored 'mallory-account', the ledger says 'riverside-grantee'",
    "currency": "field currency: stored 'USD', the ledger says 'EUR'",
    "invited payee": f"field payee_email_sha256: stored '{hashlib.sha256(b'mallory@example.net').hexdigest()}', "
    f"the ledger says '{hashlib.sha256(b'tess@example.org').hexdigest()}'",
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_payout_edited_in_the_database_is_held_not_requested_and_the_treasurers_are_told(
    treasury: Treasury, worker: Flask, smtp: tuple[int, Inbox], edit: str
) -> None:
    title, statement, field, stored = EDITS[edit]
    payout_id = _approve(treasury, title)
    assert _sql(treasury.app, statement, id=payout_id) == 1

    _submit(worker)

    # Nothing was asked of Open Collective: no look-up, no expense.
    assert treasury.sandbox.sandbox.expenses(SANDBOX_COLLECTIVE) == []
    assert treasury.sandbox.sandbox.calls["createExpense"] == 0
    assert treasury.sandbox.sandbox.calls["draftExpenseAndInviteUser"] == 0
    with treasury.app.app_context():
        payout = treasury.payout(title)
        assert payout.status == "held" and payout.expense_id is None
        assert field in (payout.failure_message or "") and stored in (payout.failure_message or "")
        assert ledger_actions(treasury.circle_id)[-2:] == ["payout.request_started", "payout.held"]
        held = db.session.scalars(
            sa.select(LedgerEntry).where(LedgerEntry.action == "payout.held").order_by(LedgerEntry.seq.desc())
        ).first()
        assert held is not None and held.subject_id == payout_id
        assert field in [d["field"] for d in held.data["disagreements"]]
        chain = db.session.scalars(sa.select(LedgerChain).where(LedgerChain.circle_id == treasury.circle_id)).one()

    # Every treasurer got a notice naming what disagreed in words (not the field's or the entries' codes), and
    # carrying the circle's ledger checkpoint.
    inbox = smtp[1]
    for name in TREASURERS:
        (mail,) = [m for m in inbox.to(treasury.emails[name]) if "held" in str(m["Subject"])]
        body = body_of(mail)
        assert MAIL_WORDS[edit] in body
        assert f"({field})" not in body and "(payout.created)" not in body and f"Payout {payout_id}" not in body
        assert f"“{title}”" in str(mail["Subject"])
        assert f"https://fund.example.org/payouts/{payout_id}" in body
        assert f"{chain.head_seq}:{chain.head_hash}" in body

    # The payout page and the API say so too.
    client: Client = treasury.app.test_client()  # type: ignore[assignment]
    client.login(treasury.emails["tomas"])
    page = client.get(f"/payouts/{payout_id}").get_data(as_text=True)
    assert "Held: this payout disagrees with the ledger" in page and field in page
    assert "Check and request it again" in page and "Cancel this payout" in page
    listed = client.json_call("GET", f"/api/v1/circles/{treasury.circle_id}/payouts").get_json()
    (shown,) = [item for item in listed["items"] if item["id"] == payout_id]
    assert shown["status"] == "held" and field in shown["failure_message"]

    ledger_page = client.get(f"/circles/{treasury.circle_id}/ledger").get_data(as_text=True)
    assert "was held, not requested: it disagrees with the ledger on" in ledger_page

    # Another run of the worker leaves it alone: a held payout waits for a treasurer.
    _submit(worker)
    assert treasury.sandbox.sandbox.calls["createExpense"] == 0

    # `ledger verify`: the chain verifies, but the edited row is named with what the ledger says.
    result = _verify(treasury.app, "--circle", _slug(treasury.app, treasury.circle_id))
    assert result.exit_code == 1
    assert f"table payouts, row {payout_id}, {VERIFY_NAMES[edit]}" in result.output


def test_a_held_payout_restored_to_what_the_ledger_says_is_requested_on_retry(
    treasury: Treasury, worker: Flask
) -> None:
    payout_id = _approve(treasury, "Seed library")
    _sql(treasury.app, "UPDATE payouts SET amount_minor = 99999 WHERE id = :id", id=payout_id)
    _submit(worker)
    _sql(treasury.app, "UPDATE payouts SET amount_minor = 25000 WHERE id = :id", id=payout_id)
    with treasury.app.app_context():
        retry_payout(_user(treasury.emails["tomas"]), get_payout(payout_id), utcnow())
        db.session.commit()
    _submit(worker)
    (expense,) = treasury.sandbox.sandbox.expenses(SANDBOX_COLLECTIVE)
    with treasury.app.app_context():
        assert treasury.payout("Seed library").status == "requested"
        assert treasury.payout("Seed library").expense_id == expense.public_id
    assert _verify(treasury.app, "--circle", _slug(treasury.app, treasury.circle_id)).exit_code == 0


def test_an_untouched_circle_reconciles_through_approval_request_and_failure(treasury: Treasury, worker: Flask) -> None:
    _approve(treasury, "Seed library")
    _approve(treasury, "Bike repair")
    _submit(worker)
    with treasury.app.app_context():
        assert treasury.payout("Seed library").status == "requested"
        assert treasury.payout("Bike repair").status == "invited"
    result = _verify(treasury.app)
    assert result.exit_code == 0, result.output
    assert "The ledger verifies" in result.output


# --- `ledger verify` names the first row that disagrees -------------------------------------------------------------


def test_an_edited_membership_role_is_named(treasury: Treasury) -> None:
    with treasury.app.app_context():
        bea = _user(treasury.emails["bea"])
        membership = db.session.scalars(sa.select(Membership).where(Membership.user_id == bea.id)).one()
        membership_id = membership.id
    assert _sql(treasury.app, "UPDATE membership_roles SET role = 'treasurer' WHERE membership_id = :m",
                m=membership_id) == 1  # fmt: skip

    result = _verify(treasury.app, "--circle", _slug(treasury.app, treasury.circle_id))

    assert result.exit_code == 1
    assert (
        f"table memberships, row {membership_id}, field roles: stored ['treasurer'], the ledger says ['circle']"
        in result.output
    )


def test_an_edited_tally_score_is_named(treasury: Treasury) -> None:
    with treasury.app.app_context():
        proposal_id = treasury.payout("Seed library").proposal_id
    assert _sql(treasury.app, "UPDATE proposal_results SET score = 40 WHERE proposal_id = :p", p=proposal_id) == 1

    result = _verify(treasury.app, "--circle", _slug(treasury.app, treasury.circle_id))

    assert result.exit_code == 1
    assert (
        f"table proposal_results, row round {treasury.round_id}, proposal {proposal_id}, field score: stored 40, "
        "the ledger says 1" in result.output
    )


def test_an_edited_round_tally_is_named(treasury: Treasury) -> None:
    assert _sql(treasury.app, "UPDATE round_tallies SET funded_minor = 1 WHERE round_id = :r", r=treasury.round_id)

    result = _verify(treasury.app, "--circle", _slug(treasury.app, treasury.circle_id))

    assert result.exit_code == 1
    assert f"table round_tallies, row {treasury.round_id}, field funded_minor: stored 1" in result.output


def test_an_edited_ballot_receipt_is_named(treasury: Treasury) -> None:
    with treasury.app.app_context():
        ballot_id = db.session.scalars(sa.select(Ballot.id).where(Ballot.round_id == treasury.round_id)).one()
    assert _sql(treasury.app, "UPDATE ballots SET receipt = :r WHERE id = :b", r="f" * 64, b=ballot_id) == 1

    result = _verify(treasury.app, "--circle", _slug(treasury.app, treasury.circle_id))

    assert result.exit_code == 1
    assert f"table ballots, row {ballot_id}, field receipt: stored '{'f' * 64}'" in result.output


def test_an_edited_open_ballots_votes_are_named(treasury: Treasury) -> None:
    with treasury.app.app_context():
        ballot_id = db.session.scalars(sa.select(Ballot.id).where(Ballot.round_id == treasury.round_id)).one()
        proposal_id = treasury.payout("Seed library").proposal_id
    assert _sql(treasury.app, "UPDATE ballot_votes SET votes = 9 WHERE ballot_id = :b AND proposal_id = :p",
                b=ballot_id, p=proposal_id) == 1  # fmt: skip

    result = _verify(treasury.app, "--circle", _slug(treasury.app, treasury.circle_id))

    assert result.exit_code == 1
    assert f"table ballots, row {ballot_id}, field votes: stored {{'{proposal_id}': 9," in result.output


def test_a_secret_ballot_edited_in_the_database_no_longer_matches_its_commitment(app: Flask) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        circle = make_circle(admin)
        voter = make_user(name="Bea Voter")
        author = make_user(name="Author")
        add_member(circle, author, ["member"], by=admin)
        add_member(circle, voter, ["member", "circle"], by=admin)
        round_, (proposal,) = make_funded_round(circle, admin, voter, [{"author": author, "payee_slug": "a-b"}],
                                               secret_ballot=True)  # fmt: skip
        ballot = db.session.scalars(sa.select(Ballot).where(Ballot.round_id == round_.id)).one()
        assert ballot.salt is not None
        ballot_id, slug, proposal_id = ballot.id, circle.slug, proposal.id
    assert _verify(app, "--circle", slug).exit_code == 0

    _sql(app, "UPDATE ballot_votes SET votes = 5 WHERE ballot_id = :b AND proposal_id = :p", b=ballot_id, p=proposal_id)

    result = _verify(app, "--circle", slug)
    assert result.exit_code == 1
    assert f"table ballots, row {ballot_id}, field commitment: stored '" in result.output
    assert "field votes" not in result.output  # a secret ballot's votes are named by nobody, not even here


def test_an_edited_payout_status_is_named(treasury: Treasury) -> None:
    payout_id = treasury.payout_ids["Bike repair"]
    assert _sql(treasury.app, "UPDATE payouts SET status = 'approved' WHERE id = :id", id=payout_id) == 1

    result = _verify(treasury.app, "--circle", _slug(treasury.app, treasury.circle_id))

    assert result.exit_code == 1
    assert (
        f"table payouts, row {payout_id}, field status: stored 'approved', the ledger says 'awaiting_approval'"
        in result.output
    )


def test_an_edited_consent_outcome_is_named(app: Flask) -> None:
    with app.app_context():
        admin = make_user(name="Facilitator")
        circle = make_circle(admin)
        round_ = make_round(circle, admin, method="consent", categories=[], quorum_percent=0)
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        deciders = []
        for number in range(3):
            decider = make_user(name=f"Decider {number}")
            add_member(circle, decider, ["member", "circle"], by=admin)
            deciders.append(decider)
        round_ = db.session.get(Round, round_.id)
        proposal = make_proposal(round_, deciders[0], category=None, amount_minor=30_000)
        round_ = db.session.get(Round, round_.id)
        for phase in ("deliberation", "deciding"):
            advance_round(admin, round_, phase, utcnow())
        db.session.commit()
        consent_round = open_consent_round(admin, db.session.get(Proposal, proposal.id), utcnow())
        db.session.commit()
        for decider in deciders:
            answer_consent(db.session.get(User, decider.id), consent_round, "objection" if decider is deciders[2]
                           else "consent", "Nobody looks after it.", utcnow() + timedelta(seconds=1))  # fmt: skip
        db.session.commit()
        close_consent_round(admin, consent_round, utcnow() + timedelta(seconds=2))
        db.session.commit()
        consent_round_id, slug = consent_round.id, circle.slug
        assert db.session.get(ConsentRound, consent_round_id).outcome == "not_consented"  # type: ignore[union-attr]
    assert _verify(app, "--circle", slug).exit_code == 0

    _sql(app, "UPDATE consent_rounds SET outcome = 'consented' WHERE id = :c", c=consent_round_id)

    result = _verify(app, "--circle", slug)
    assert result.exit_code == 1
    assert (
        f"table consent_rounds, row {consent_round_id}, field outcome: stored 'consented', "
        "the ledger says 'not_consented'" in result.output
    )


def test_verify_while_members_join_never_names_a_row_that_is_only_half_committed(app: Flask) -> None:
    """Each new member is a row and an entry committed together; verify reads both sides as of one moment, so a
    join committed while it reads is on both sides or on neither (PostgreSQL: one REPEATABLE READ snapshot)."""
    with app.app_context():
        admin = make_user(name="Ana Admin")
        circle = make_circle(admin)
        joiners = [make_user(name=f"Joiner {number}") for number in range(40)]
        circle_id, admin_id, joiner_ids = circle.id, admin.id, [user.id for user in joiners]

    def join_all() -> int:
        for user_id in joiner_ids:
            add_member(db.session.get(Circle, circle_id), db.session.get(User, user_id), ["member"],
                       by=db.session.get(User, admin_id))  # fmt: skip
        return len(joiner_ids)

    def verify_repeatedly() -> list[str]:
        problems = []
        for _ in range(40):
            for report in verify_ledger([circle_id], include_site=False):
                if report.mismatch is not None:
                    problems.append(report.mismatch.sentence())
            db.session.rollback()
        return problems

    joined, problems = all_at_once([join_all, verify_repeatedly], app=app, reraise=True)
    assert joined == 40
    assert problems == []


@pytest.mark.parametrize("edit", ["amount", "payee account"])
def test_a_payout_edited_before_it_is_approved_cannot_be_approved(treasury: Treasury, edit: str) -> None:
    """The check that holds a payout before it is requested is made before each approval too: a treasurer never
    puts their name to an amount or a payee that the circle did not decide, and nothing is stored."""
    title, statement, field, stored = EDITS[edit]
    payout_id = treasury.payout_ids[title]
    assert _sql(treasury.app, statement, id=payout_id) == 1
    with treasury.app.app_context():
        before = ledger_actions(treasury.circle_id)
        payout = get_payout(payout_id)
        with pytest.raises(Conflict) as refused:
            approve_payout(_user(treasury.emails["tomas"]), payout, totp_code(treasury.totp_secrets["tomas"]), utcnow())
        db.session.rollback()
        assert "disagrees with the circle's ledger" in str(refused.value)
        assert field in str(refused.value) and stored in str(refused.value)
        payout = get_payout(payout_id)
        assert payout.status == "awaiting_approval" and payout.approvals_count == 0
        assert ledger_actions(treasury.circle_id) == before
