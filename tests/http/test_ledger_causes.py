"""The ledger says who or what moved a round, and which round: a person, the deadline, every payout settled, a
payout moved back on Open Collective (issue 17, point 5). Each cause is made by the code that really makes it, and
read on the ledger page as a member reads it."""

from __future__ import annotations

import re
from datetime import timedelta

from flask import Flask
from sqlalchemy import select, update

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.ledger.words import Names, describe
from fundcircle.payouts.models import Payout
from fundcircle.payouts.services import apply_expense_status, cancel_payout
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_due_rounds, advance_round
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_funded_round, make_round, make_user

ROUND = "Spring micro-grants"


def _ledger_text(client: Client, circle_id: int) -> str:
    page = client.get(f"/circles/{circle_id}/ledger?group=Round+steps").get_data(as_text=True)
    return re.sub(r"\s+", " ", page)


def _phase_changes(circle_id: int) -> list[LedgerEntry]:
    return list(
        db.session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.circle_id == circle_id, LedgerEntry.action == "round.phase_changed")
            .order_by(LedgerEntry.seq)
        )
    )


def test_a_person_moving_a_round_is_named_with_the_round(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user(name="Ana", email="ana@example.org")
        circle = make_circle(admin)
        round_ = make_round(circle, admin, title=ROUND)
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        circle_id = circle.id
    client.login("ana@example.org")
    assert f"Ana moved the round “{ROUND}” from draft to open for proposals" in _ledger_text(client, circle_id)


def test_the_deadline_moving_a_round_is_named_as_the_deadline_with_the_round(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user(name="Ana", email="ana@example.org")
        circle = make_circle(admin)
        now = utcnow()
        round_ = make_round(circle, admin, title=ROUND)
        advance_round(admin, round_, "proposals", now)
        db.session.execute(
            update(Round).where(Round.id == round_.id).values(proposals_close_at=now - timedelta(minutes=1))
        )
        db.session.commit()
        assert [moved.id for moved in advance_due_rounds(utcnow())] == [round_.id]
        db.session.commit()
        (_, by_deadline) = _phase_changes(circle.id)
        assert by_deadline.actor_id is None and by_deadline.data["by"] == "deadline"
        circle_id = circle.id
    client.login("ana@example.org")
    text = _ledger_text(client, circle_id)
    assert f"The deadline passed, so the round “{ROUND}” moved from open for proposals to deliberation" in text


def _funded(app: Flask) -> tuple[int, int, list[int]]:
    with app.app_context():
        admin = make_user(name="Ana", email="ana@example.org")
        circle = make_circle(admin)
        tess = make_user(name="Tess", email="tess@example.org")
        add_member(circle, tess, ["member", "circle", "treasurer"], by=admin)
        author = make_user(name="Bo")
        add_member(circle, author, ["member"], by=admin)
        round_, proposals = make_funded_round(
            circle, admin, tess, [{"author": author, "title": "Seed library", "amount_minor": 25_000}], title=ROUND
        )
        payouts = list(db.session.scalars(select(Payout.id).where(Payout.round_id == round_.id)))
        assert len(payouts) == len(proposals) == 1
        return circle.id, round_.id, payouts


def test_a_round_closed_because_every_payout_settled_says_so_and_not_the_deadline(app: Flask, client: Client) -> None:
    circle_id, round_id, (payout_id,) = _funded(app)
    with app.app_context():
        tess = db.session.scalar(select(User).where(User.email == "tess@example.org"))
        payout = db.session.get(Payout, payout_id)
        assert tess is not None and payout is not None
        cancel_payout(tess, payout, "The library found a sponsor.", utcnow())
        db.session.commit()
        assert db.session.get(Round, round_id).phase == "closed"  # type: ignore[union-attr]
        closing = _phase_changes(circle_id)[-1]
        assert closing.data["cause"] == "payouts_settled" and closing.actor_id is None
    client.login("ana@example.org")
    text = _ledger_text(client, circle_id)
    assert f"The round “{ROUND}” closed by itself: every payout was paid, rejected or cancelled" in text
    assert "deadline passed" not in text.split("closed by itself")[0].rsplit("Entry", 1)[-1]
    assert "The deadline moved" not in text


def test_a_payout_moved_back_reopens_the_round_and_the_ledger_names_the_payout(app: Flask, client: Client) -> None:
    circle_id, round_id, (payout_id,) = _funded(app)
    with app.app_context():
        # As if requested on Open Collective (the request itself is tested with the sandbox elsewhere).
        db.session.execute(update(Payout).where(Payout.id == payout_id).values(status="requested", expense_id="e-1"))
        db.session.commit()
        payout = db.session.get(Payout, payout_id)
        assert payout is not None
        assert apply_expense_status(payout, "e-1", "PAID", utcnow(), via="sync")
        db.session.commit()
        assert db.session.get(Round, round_id).phase == "closed"  # type: ignore[union-attr]
        assert apply_expense_status(payout, "e-1", "APPROVED", utcnow(), via="sync")
        db.session.commit()
        assert db.session.get(Round, round_id).phase == "decided"  # type: ignore[union-attr]
        reopened = _phase_changes(circle_id)[-1]
        assert reopened.data["cause"] == "payout_reversed" and reopened.data["payout"] == payout_id
    client.login("ana@example.org")
    text = _ledger_text(client, circle_id)
    assert (
        f"The round “{ROUND}” is decided again, no longer closed: the payout for “Seed library” moved back on "
        "Open Collective"
    ) in text
    assert f"The round “{ROUND}” closed by itself: every payout was paid, rejected or cancelled" in text


def test_a_cause_given_to_advance_round_is_kept_in_the_entry(app: Flask) -> None:
    with app.app_context():
        admin = make_user(name="Ana")
        circle = make_circle(admin)
        round_ = make_round(circle, admin, title=ROUND)
        advance_round(admin, round_, "proposals", utcnow(), cause="confirmed on the confirmation page")
        db.session.commit()
        (entry,) = _phase_changes(circle.id)
        assert entry.data == {
            "from": "draft",
            "to": "proposals",
            "by": "admin",
            "cause": "confirmed on the confirmation page",
        }


def test_entries_written_before_the_cause_was_recorded_still_read_right() -> None:
    """Older entries said only "by": "payouts" for both a closing and a reopening."""
    names = Names(users={1: "Ana"}, proposals={7: "Seed library"}, rounds={3: ROUND})

    def words(data: dict[str, object], actor_id: int | None = None) -> str:
        return describe("round.phase_changed", data, actor_id=actor_id, subject_type="round", subject_id=3,
                        names=names)  # fmt: skip

    assert words({"from": "decided", "to": "closed", "by": "payouts"}) == (
        f"The round “{ROUND}” closed by itself: every payout was paid, rejected or cancelled"
    )
    assert words({"from": "closed", "to": "decided", "by": "payouts", "payout": 4, "proposal": 7}) == (
        f"The round “{ROUND}” is decided again, no longer closed: the payout for “Seed library” moved back on "
        "Open Collective"
    )
    assert words({"from": "closed", "to": "decided", "by": "payouts", "payout": 4}).endswith(
        "a settled payout moved back on Open Collective"
    )
    assert words({"from": "deliberation", "to": "deciding", "by": "admin"}, actor_id=1) == (
        f"Ana moved the round “{ROUND}” from deliberation to deciding"
    )
    assert words({"from": "deciding", "to": "decided", "by": "deadline"}) == (
        f"The deadline passed, so the round “{ROUND}” moved from deciding to decided"
    )
    # A round the reader cannot name (deleted from view) is still "the round", never an id.
    unnamed = describe("round.phase_changed", {"from": "draft", "to": "proposals", "by": "deadline"},
                       actor_id=None, subject_type="round", subject_id=99, names=names)  # fmt: skip
    assert unnamed == "The deadline passed, so the round moved from draft to open for proposals"
