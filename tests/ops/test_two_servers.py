"""Two app servers on one PostgreSQL database behave like one: a round's requests (log-in guesses, ballots and their
revisions, the decision, the ledger appends they make) are spread across two gunicorn processes, and the outcome is
compared with the same requests sent to a single server."""

from __future__ import annotations

import os
import re
from itertools import cycle
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import requests
import sqlalchemy as sa

from fundcircle import create_app
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.reading import verify_ledger
from fundcircle.proposals.services import create_proposal
from fundcircle.rounds.services import advance_round
from tests.conftest import TEST_PASSWORD, TEST_SECRET_KEY, test_config
from tests.factories import add_member, make_circle, make_round, make_token, make_user, sample_proposal
from tests.ops.servers import command_environment, fresh_database, gunicorn

pytestmark = pytest.mark.skipif(
    not os.environ.get("TEST_DATABASE_URL"), reason="PostgreSQL variant: TEST_DATABASE_URL is not set"
)

MEMBERS = 4


def _seed(url: str) -> dict[str, Any]:
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


def _play(url: str, addresses: list[str]) -> dict[str, Any]:
    """The round's requests, each sent to the next server in turn; what a person could see afterwards."""
    seeded = _seed(url)
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

    app = create_app(test_config(url))
    with app.app_context():
        outcome["ledger"] = db.session.execute(
            sa.text(
                "SELECT e.seq, e.action, e.subject_type, e.subject_id, e.actor_id FROM ledger_entries e "
                "JOIN ledger_chains c ON c.id = e.chain_id WHERE c.circle_id IS NOT NULL ORDER BY e.seq"
            )
        ).all()
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
    assert two == one
