"""Two app servers on one PostgreSQL database behave like one: a round's requests (log-in guesses, ballots and their
revisions, the decision, consent, treasurers' payout approvals with their authenticator codes, the ledger appends
they make and the payouts' requests to Open Collective, here the local sandbox) are spread across two gunicorn
processes, and the outcome is compared with the same requests sent to a single server."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from itertools import cycle
from pathlib import Path
from typing import Any

import flask_migrate
import pyotp
import pytest
import requests
import sqlalchemy as sa

from fundcircle import create_app
from fundcircle.auth.models import User
from fundcircle.circles.services import update_circle_settings
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.reading import verify_ledger
from fundcircle.proposals.services import create_proposal
from fundcircle.rounds.services import advance_round
from oc_sandbox.sandbox import RunningSandbox, start_sandbox
from tests.concurrency import all_at_once
from tests.conftest import TEST_PASSWORD, TEST_SECRET_KEY, test_config
from tests.factories import (
    add_member,
    connect_circle,
    enrol_totp,
    make_circle,
    make_round,
    make_token,
    make_user,
    sample_proposal,
)
from tests.ops.servers import command_environment, fresh_database, gunicorn

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="PostgreSQL variant: TEST_DATABASE_URL is not set"
)

MEMBERS = 4
TREASURERS = ("tomas", "tess")
COLLECTIVE, COLLECTIVE_TOKEN, PAYEE = "riverside-fund", "riverside-admin-token", "seed-library"


class Authenticator:
    """A treasurer's authenticator app, used as a person uses it: each approval takes the code of a time step later
    than the last one accepted (a code is accepted once), within the server's allowed drift of one step."""

    def __init__(self, secret: str, last_step: int) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last_step = last_step

    def code(self) -> str:
        current = int(time.time()) // 30
        # The current step rather than the one before it, which the server would refuse if its clock crossed into
        # the next step before it checked the code.
        step = max(self.last_step + 1, current)
        assert step <= current + 1, "more approvals than the authenticator's codes allow in this minute"
        self.last_step = step
        return self.totp.at(step * 30)


def _seed(url: str, sandbox_url: str) -> dict[str, Any]:
    app = create_app(test_config(url))
    with app.app_context():
        flask_migrate.upgrade()
        admin = make_user(email="admin@example.org", name="Ada Admin", superuser=True)
        circle = make_circle(admin, slug="riverside", name="Riverside")
        members = []
        for number in range(MEMBERS):
            member = make_user(email=f"member{number}@example.org", name=f"Member {number}")
            add_member(circle, member, ["member", "circle"], by=admin)
            members.append(member)
        treasurers = {}
        for name in TREASURERS:
            treasurers[name] = make_user(email=f"{name}@example.org", name=name.title())
            add_member(circle, treasurers[name], ["treasurer"], by=admin)
        # Every payout needs both treasurers, so approvals meet on the same payout.
        update_circle_settings(admin, circle, name=circle.name, description=circle.description, public=circle.public,
                               approvals_required=2)  # fmt: skip
        db.session.commit()
        connect_circle(circle, treasurers["tomas"], api_url=sandbox_url, slug=COLLECTIVE, token=COLLECTIVE_TOKEN)
        secrets = {name: enrol_totp(treasurer) for name, treasurer in treasurers.items()}
        round_ = make_round(circle, admin)
        advance_round(admin, round_, "proposals", utcnow())
        proposals = [
            create_proposal(members[n], round_, sample_proposal(title=f"Project {n}"), submit=True, now=utcnow())
            for n in range(3)
        ]
        for phase in ("deliberation", "deciding"):
            advance_round(admin, round_, phase, utcnow())
        db.session.commit()
        consent_round = make_round(circle, admin, method="consent", title="Autumn by consent")
        advance_round(admin, consent_round, "proposals", utcnow())
        consented = create_proposal(
            admin, consent_round, sample_proposal(title="Tool library"), submit=True, now=utcnow()
        )
        for phase in ("deliberation", "deciding"):
            advance_round(admin, consent_round, phase, utcnow())
        db.session.commit()
        seeded = {
            "consent_proposal_id": consented.id,
            "round_id": round_.id,
            "proposal_ids": [proposal.id for proposal in proposals],
            "admin_token": make_token(admin),
            "member_tokens": [make_token(member) for member in members],
            "circle_id": circle.id,
            "treasurer_ids": {name: treasurer.id for name, treasurer in treasurers.items()},
            "treasurer_tokens": {name: make_token(treasurer) for name, treasurer in treasurers.items()},
            "authenticators": {
                name: Authenticator(secrets[name], db.session.get(User, treasurers[name].id).totp_last_step)
                for name in TREASURERS
            },
        }
        db.session.remove()
        db.engine.dispose()
    return seeded


def _csrf(session: requests.Session, address: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', session.get(f"{address}/login", timeout=30).text)
    assert match, "the log-in page has no CSRF token"
    return match.group(1)


def _without_times(value: Any) -> Any:
    if isinstance(value, dict):
        # Entries' times differ between two runs, and so do the hashes that cover them; their number does not.
        return {key: _without_times(item) for key, item in value.items() if not key.endswith("_at") and key != "hash"}
    if isinstance(value, list):
        return [_without_times(item) for item in value]
    return value


def _signed_in(address: str, email: str, forwarded_for: str) -> requests.Session:
    """A browser signed in with the password on the log-in page, from its own address (as a proxy forwards it)."""
    browser = requests.Session()
    browser.headers["X-Forwarded-For"] = forwarded_for
    response = browser.post(
        f"{address}/login",
        data={"email": email, "password": TEST_PASSWORD, "csrf_token": _csrf(browser, address)},
        allow_redirects=False,
        timeout=30,
    )
    assert response.status_code == 302, f"log-in as {email} failed: {response.status_code}"
    return browser


def _approval_by_page(browser: requests.Session, address: str, payout_id: int) -> Callable[[str], int]:
    """The payout's page opened in the browser; the treasurer then types a code into its approval form."""
    page = browser.get(f"{address}/payouts/{payout_id}", timeout=30).text
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match and 'name="totp"' in page, "the payout's page has no approval form"
    csrf = match.group(1)

    def approve(code: str) -> int:
        response = browser.post(
            f"{address}/payouts/{payout_id}/approve",
            data={"totp": code, "csrf_token": csrf},
            allow_redirects=False,
            timeout=60,
        )
        return response.status_code

    return approve


def _approval_by_api(address: str, token: str, payout_id: int) -> Callable[[str], int]:
    def approve(code: str) -> int:
        response = requests.post(
            f"{address}/api/v1/payouts/{payout_id}/approve",
            json={"totp": code},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        return response.status_code

    return approve


def _play(url: str, addresses: list[str]) -> dict[str, Any]:
    """The round's requests, each sent to the next server in turn; what a person could see afterwards."""
    sandbox = start_sandbox(collective=COLLECTIVE, token=COLLECTIVE_TOKEN, payee_accounts=[PAYEE])
    try:
        return _play_on(url, addresses, sandbox)
    finally:
        sandbox.stop()


def _play_on(url: str, addresses: list[str], sandbox: RunningSandbox) -> dict[str, Any]:
    seeded = _seed(url, sandbox.url)
    servers = cycle(addresses)
    outcome: dict[str, Any] = {}

    # Log-in guesses at one account from one browser: five are tried, then that browser must wait, whichever
    # server it reaches; the owner's own browser still gets in.
    attacker = requests.Session()
    guesses = []
    for number in range(8):
        address = next(servers)
        token = _csrf(attacker, address)
        password = TEST_PASSWORD if number == 7 else f"guess {number}"
        response = attacker.post(
            f"{address}/login",
            data={"email": "member0@example.org", "password": password, "csrf_token": token},
            allow_redirects=False,
            timeout=30,
        )
        guesses.append(response.status_code)
    outcome["guesses"] = guesses
    owner = requests.Session()
    address = next(servers)
    owner_login = owner.post(
        f"{address}/login",
        data={"email": "member0@example.org", "password": TEST_PASSWORD, "csrf_token": _csrf(owner, address)},
        allow_redirects=False,
        timeout=30,
        headers={"X-Forwarded-For": "198.51.100.7"},
    )
    outcome["owner_login"] = owner_login.status_code
    attacker.close()
    owner.close()

    # Ballots: each member votes, then revises; one revision is over the credit budget and refused.
    first, second, third = seeded["proposal_ids"]
    ballots = [
        {str(first): 3, str(second): 1},
        {str(second): 2},
        {str(first): 1, str(third): 2},
        {str(third): 4},
    ]
    revisions = [{str(first): 2}, {str(second): 2, str(third): 1}, {str(first): 100}, {str(third): 3, str(first): 1}]
    statuses = []
    for votes in [*ballots, *revisions]:
        index = len(statuses) % MEMBERS
        response = requests.put(
            f"{next(servers)}/api/v1/rounds/{seeded['round_id']}/ballot",
            json={"votes": votes},
            headers={"Authorization": f"Bearer {seeded['member_tokens'][index]}"},
            timeout=30,
        )
        statuses.append(response.status_code)
    outcome["ballots"] = statuses

    admin = {"Authorization": f"Bearer {seeded['admin_token']}"}
    decided = requests.post(
        f"{next(servers)}/api/v1/rounds/{seeded['round_id']}/advance", json={"to": "decided"}, headers=admin, timeout=30
    )
    outcome["decided"] = decided.status_code
    results = requests.get(f"{next(servers)}/api/v1/rounds/{seeded['round_id']}/results", headers=admin, timeout=30)
    outcome["results"] = _without_times(results.json())

    # Consent on the other round: opened, answered (an objection raised and withdrawn), closed.
    opened = requests.post(
        f"{next(servers)}/api/v1/proposals/{seeded['consent_proposal_id']}/consent-rounds", headers=admin, timeout=30
    )
    consent_id = opened.json()["id"]
    steps = [
        ("PUT", "answer", 0, {"position": "consent"}),
        ("PUT", "answer", 1, {"position": "objection", "argument": "The shed has no lock yet."}),
        ("PUT", "answer", 2, {"position": "concern", "argument": "Who keeps the keys?"}),
        ("POST", "answer/withdraw-objection", 1, None),
        ("PUT", "answer", 3, {"position": "consent"}),
        ("POST", "close", None, None),
    ]
    answers = [opened.status_code]
    for method, path, member, body in steps:
        token = seeded["admin_token"] if member is None else seeded["member_tokens"][member]
        response = requests.request(
            method,
            f"{next(servers)}/api/v1/consent-rounds/{consent_id}/{path}",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        answers.append(response.status_code)
    outcome["consent"] = answers
    final = requests.get(f"{next(servers)}/api/v1/consent-rounds/{consent_id}", headers=admin, timeout=30)
    outcome["consent_round"] = _without_times(final.json())

    # Payout approvals. Each treasurer signs in on one server and approves on another, one through the pages, the
    # other through the API; both approve the first payout at the same moment on different servers.
    tomas_token, tess_token = (seeded["treasurer_tokens"][name] for name in TREASURERS)
    tomas_code, tess_code = (seeded["authenticators"][name] for name in TREASURERS)
    listing = requests.get(
        f"{next(servers)}/api/v1/circles/{seeded['circle_id']}/payouts",
        headers={"Authorization": f"Bearer {tomas_token}"},
        timeout=30,
    )
    payout_ids = [payout["id"] for payout in listing.json()["items"]]
    assert len(payout_ids) >= 3, listing.json()
    raced, second, third = payout_ids[:3]
    tess_browser = _signed_in(next(servers), "tess@example.org", "198.51.100.21")
    tomas_browser = _signed_in(next(servers), "tomas@example.org", "198.51.100.22")
    by_api = _approval_by_api(next(servers), tomas_token, raced)
    by_page = _approval_by_page(tess_browser, next(servers), raced)
    codes = [tomas_code.code(), tess_code.code()]
    approvals = [tuple(all_at_once([lambda: by_api(codes[0]), lambda: by_page(codes[1])], reraise=True))]
    approvals.append(_approval_by_api(next(servers), tess_token, second)(tess_code.code()))
    approvals.append(_approval_by_page(tomas_browser, next(servers), second)(tomas_code.code()))
    # A code is accepted once on whichever server: Tess's last code again, for the third payout, elsewhere.
    tess_last = tess_code.totp.at(tess_code.last_step * 30)
    approvals.append(_approval_by_api(next(servers), tess_token, third)(tess_last))
    valid = {tomas_code.totp.at(time.time() + 30 * drift) for drift in range(-2, 3)}
    wrong = next(code for code in ("000000", "111111", "222222") if code not in valid)
    approvals.append(_approval_by_page(tomas_browser, next(servers), third)(wrong))
    tess_browser.close()
    tomas_browser.close()
    outcome["approvals"] = approvals
    payouts = requests.get(
        f"{next(servers)}/api/v1/circles/{seeded['circle_id']}/payouts",
        headers={"Authorization": f"Bearer {tess_token}"},
        timeout=30,
    ).json()["items"]
    for payout in payouts:
        # Open Collective's expense ids are random; the order of approvals given at the same moment is not fixed.
        assert bool(payout.pop("expense_id")) == (payout["status"] == "requested"), payout
        payout["approvals"] = sorted(_without_times(payout["approvals"]), key=lambda approval: approval["name"])
    outcome["payouts"] = _without_times(payouts)
    outcome["expenses"] = sorted(
        (expense.reference, expense.amount_minor, expense.status) for expense in sandbox.sandbox.expenses()
    )

    app = create_app(test_config(url))
    with app.app_context():
        outcome["request_keys"] = sorted(
            db.session.scalars(sa.text("SELECT request_key FROM payouts WHERE status = 'requested'"))
        )
        outcome["ledger"] = db.session.execute(
            sa.text(
                "SELECT e.seq, e.action, e.subject_type, e.subject_id, e.actor_id FROM ledger_entries e "
                "JOIN ledger_chains c ON c.id = e.chain_id WHERE c.circle_id IS NOT NULL ORDER BY e.seq"
            )
        ).all()
        # Which of the two treasurers approving the raced payout at once came first is not fixed, on one server or
        # two: both approvals are there, and the rest of that payout's entries name one of the two.
        treasurer_ids = set(seeded["treasurer_ids"].values())
        raced_rows = [row for row in outcome["ledger"] if (row.subject_type, row.subject_id) == ("payout", raced)]
        outcome["raced_approvers"] = sorted(row.actor_id for row in raced_rows if row.action == "payout.approval_given")
        outcome["ledger"] = [
            (*row[:4], "a treasurer" if row in raced_rows and row.actor_id in treasurer_ids else row.actor_id)
            for row in outcome["ledger"]
        ]
        outcome["ledger_verifies"] = [report.result.ok and report.mismatch is None for report in verify_ledger()]
        outcome["throttle_events"] = db.session.scalar(sa.text("SELECT count(*) FROM throttle_events"))
        db.session.remove()
        db.engine.dispose()
    return outcome


def test_a_round_spread_over_two_app_servers_ends_as_on_one(tmp_path: Path) -> None:
    outcomes = []
    for count in (1, 2):
        with fresh_database("postgresql", tmp_path) as url:
            environment = command_environment(
                FUNDCIRCLE_TEST_SERVER_DATABASE_URL=url,
                FUNDCIRCLE_TEST_SERVER_BASE_URL="http://127.0.0.1",
                SECRET_KEY=TEST_SECRET_KEY,
                WEB_CONCURRENCY="1",
                # The owner's browser is told apart from the attacker's by the address a proxy forwards.
                PROXY_COUNT="1",
            )
            app = "tests.browser.server:build()"
            with gunicorn(environment, app, tmp_path / f"a{count}.log") as first:
                if count == 1:
                    outcomes.append(_play(url, [first]))
                else:
                    with gunicorn(environment, app, tmp_path / "b.log") as second:
                        assert first != second
                        outcomes.append(_play(url, [first, second]))
    one, two = outcomes
    assert one["guesses"] == [401] * 5 + [429] * 3
    assert one["owner_login"] == 302
    assert one["ballots"][6] == 422 and one["ballots"].count(200) == 7
    assert one["decided"] == 200
    assert one["ledger_verifies"] and all(one["ledger_verifies"])
    assert one["consent"] == [201] + [200] * 6, one["consent"]
    assert one["consent_round"]["state"] == "consented" and one["consent_round"]["closed"] is True
    assert one["approvals"] == [(200, 302), 200, 302, 409, 422], one["approvals"]
    raced, second, third = one["payouts"][:3]
    assert raced["status"] == second["status"] == "requested", one["payouts"]
    assert [approval["name"] for approval in raced["approvals"]] == ["Tess", "Tomas"]
    assert third["status"] == "awaiting_approval" and third["approvals"] == []
    assert len(one["raced_approvers"]) == len(set(one["raced_approvers"])) == 2
    for outcome in (one, two):
        # Each fully approved payout was requested on Open Collective once, with its own key (random, so compared
        # within a run).
        assert [reference for reference, _, _ in outcome["expenses"]] == outcome.pop("request_keys")
        assert len(outcome["expenses"]) == 2
        outcome["expenses"] = [(amount, status) for _, amount, status in outcome["expenses"]]
    assert two == one
