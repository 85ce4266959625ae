"""The demo's closed round, paid on the sandbox the way `make run` seeds it: decided, approved with the demo
treasurer's code, requested, completed and paid on the sandbox's host page, followed to paid, and closed."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from fundcircle.demo import DEMO_SANDBOX, seed_demo
from fundcircle.demo.paid_round import CLOSED_ROUND_TITLE
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.payouts.models import Payout
from fundcircle.rounds.models import Round
from tests.conftest import Client


def test_the_demo_has_a_closed_round_whose_payouts_were_paid_on_the_sandbox(
    app: Flask, make_sandbox: Any, client: Client
) -> None:
    running = make_sandbox(
        collective=DEMO_SANDBOX["collective"],
        token=DEMO_SANDBOX["token"],
        name="Riverside Fund (sandbox)",
        balance_minor=DEMO_SANDBOX["balance_minor"],
        payee_accounts=[DEMO_SANDBOX["payee_account"]],
        other_accounts=[DEMO_SANDBOX["other_payee_account"]],
    )
    with app.app_context():
        assert seed_demo(running.url)
        db.session.commit()
        autumn = db.session.scalars(select(Round).where(Round.title == CLOSED_ROUND_TITLE)).one()
        payouts = db.session.scalars(select(Payout).where(Payout.round_id == autumn.id)).all()
        assert autumn.phase == "closed"
        assert sorted((p.amount_minor, p.status) for p in payouts) == [(12_000, "paid"), (20_000, "paid")]
        # Each step is in the ledger: the approvals, the requests and what Open Collective answered.
        kinds = set(db.session.scalars(select(LedgerEntry.action)))
        closing = db.session.scalars(
            select(LedgerEntry).where(
                LedgerEntry.action == "round.phase_changed",
                LedgerEntry.subject_type == "round",
                LedgerEntry.subject_id == autumn.id,
            )
        ).all()
        assert closing[-1].data["to"] == "closed" and closing[-1].data["cause"] == "payouts_settled"
        autumn_id, circle_id = autumn.id, autumn.circle_id
    assert {"payout.approved", "payout.request_started", "payout.requested", "payout.expense_updated"} <= kinds, kinds
    sandbox = running.sandbox
    assert sorted(e.status for e in sandbox.expenses()) == ["PAID", "PAID"]
    assert sandbox.balance_minor(DEMO_SANDBOX["collective"]) == DEMO_SANDBOX["balance_minor"] - 32_000

    client.login("eli@example.org", "fundcircle-demo")
    page = client.get(f"/rounds/{autumn_id}")
    assert page.status_code == 200 and "Closed" in page.text

    # The funded groups reported back; "What we learned" has both reports, one received by the circle.
    learned = client.get(f"/circles/{circle_id}/learned")
    assert learned.status_code == 200
    assert "Repair skills evenings" in learned.text and "Seed-saving workshop" in learned.text
    assert learned.text.count("received by the circle") == 1
    # The round's retrospective: three answers, one anonymous.
    round_page = client.get(f"/rounds/{autumn_id}").text
    assert "Give us a week more to deliberate." in round_page and "Fewer reminders by e-mail." in round_page
    with app.app_context():
        from fundcircle.rounds.models import RetrospectiveAnswer

        answers = db.session.scalars(select(RetrospectiveAnswer).where(RetrospectiveAnswer.round_id == autumn_id))
        assert sorted(answer.user_id is None for answer in answers) == [False, False, True]

    # The circle rotates its deciding members: a call for terms of three rounds is open, with volunteers.
    rotation = client.get(f"/circles/{circle_id}/rotation")
    assert rotation.status_code == 200 and "Eli Member" in rotation.text and "Chidi Circle" in rotation.text
    assert "until 3 of the circle's rounds have closed" in rotation.text

    # A second run changes nothing, and asks nothing of the sandbox.
    with app.app_context():
        assert not seed_demo(running.url)
    assert len(sandbox.expenses()) == 2
