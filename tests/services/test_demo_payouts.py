"""The demo's payout to an Open Collective account that the sandbox's token does not administer: as on Open
Collective, it becomes an invite draft (`draftExpenseAndInviteUser` with the payee's slug), which the sandbox's host
page completes as that account's admins would, then approves and pays; the payout follows it to paid."""

from __future__ import annotations

import re
from typing import Any

import pyotp
import requests
from flask import Flask

from fundcircle.auth.services import find_user_by_email
from fundcircle.circles.models import Circle
from fundcircle.db import utcnow
from fundcircle.demo import DEMO_PASSWORD, DEMO_SANDBOX, DEMO_TOTP_SECRET, seed_demo
from fundcircle.extensions import db
from fundcircle.payouts.models import Payout
from fundcircle.payouts.services import ConnectionInput, connect_open_collective
from tests.conftest import Client


def test_the_demo_payee_the_token_does_not_administer_ends_as_an_invite_draft_the_host_page_pays(
    app: Flask, make_sandbox: Any
) -> None:
    # The sandbox as `make run` starts it (Makefile: --payee-account riverside-repair --other-account riverside-garden).
    running = make_sandbox(
        collective=DEMO_SANDBOX["collective"],
        token=DEMO_SANDBOX["token"],
        name="Riverside Fund (sandbox)",
        balance_minor=DEMO_SANDBOX["balance_minor"],
        payee_accounts=[DEMO_SANDBOX["payee_account"]],
        other_accounts=[DEMO_SANDBOX["other_payee_account"]],
    )
    with app.app_context():
        assert seed_demo()
        db.session.commit()
        tomas = find_user_by_email("tomas@example.org")
        circle = db.session.scalars(db.select(Circle)).one()
        assert tomas is not None
        # The demo connects to 127.0.0.1:5050; this test's sandbox listens elsewhere: connect to it as a treasurer.
        connect_open_collective(
            tomas,
            circle,
            ConnectionInput(api_url=running.url, slug=DEMO_SANDBOX["collective"], token=DEMO_SANDBOX["token"]),
            utcnow(),
        )
        db.session.commit()
        garden = db.session.scalars(
            db.select(Payout).where(Payout.payee_slug == DEMO_SANDBOX["other_payee_account"])
        ).one()
        garden_id, circle_id = garden.id, circle.id
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login("tomas@example.org", DEMO_PASSWORD)
    code = pyotp.TOTP(DEMO_TOTP_SECRET).now()
    response = client.post_form(f"/payouts/{garden_id}/approve", {"totp": code})
    assert response.status_code == 302

    sandbox = running.sandbox
    (draft,) = [e for e in sandbox.expenses() if e.payee_slug == DEMO_SANDBOX["other_payee_account"]]
    assert draft.status == "DRAFT" and sandbox.calls["createExpense"] == 0
    with app.app_context():
        payout = db.session.get(Payout, garden_id)
        assert payout is not None and (payout.status, payout.expense_id) == ("invited", draft.public_id)

    # The host page: the payee's admins complete the invitation, the host approves and pays.
    with requests.Session() as browser:
        for action in ("complete-invitation", "approve", "pay"):
            page = browser.get(running.base_url + "/", timeout=5).text
            token = re.search(r'name="token" value="([^"]+)"', page)
            assert token and f"/sandbox/expenses/{draft.public_id}/{action}" in page
            done = browser.post(
                f"{running.base_url}/sandbox/expenses/{draft.public_id}/{action}",
                data={"token": token.group(1)},
                timeout=5,
            )
            assert done.status_code == 200
    assert sandbox.expense(draft.public_id).status == "PAID"
    assert sandbox.balance_minor(DEMO_SANDBOX["collective"]) == DEMO_SANDBOX["balance_minor"] - 15_000

    sync = client.post_form(f"/circles/{circle_id}/treasury/sync", {})
    assert sync.status_code == 302
    with app.app_context():
        payout = db.session.get(Payout, garden_id)
        assert payout is not None and payout.status == "paid" and payout.expense_status == "PAID"
    page = client.get(f"/payouts/{garden_id}").get_data(as_text=True)
    assert "Paid" in page
