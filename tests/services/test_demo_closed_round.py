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

    # The circle rotates its deciding members: a call is open, with volunteers.
    rotation = client.get(f"/circles/{circle_id}/rotation")
    assert rotation.status_code == 200 and "Eli Member" in rotation.text and "Chidi Circle" in rotation.text

    # A second run changes nothing, and asks nothing of the sandbox.
    with app.app_context():
        assert not seed_demo(running.url)
    assert len(sandbox.expenses()) == 2
