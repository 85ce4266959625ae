"""PRODUCT.md's consent worked example, driven through the web pages with the test client."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import select

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.payouts.models import Payout
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user


def _client(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def _answer(app: Flask, email: str, consent_round_id: int, position: str, argument: str = "") -> None:
    response = _client(app, email).post_form(
        f"/consent-rounds/{consent_round_id}/answer", {"position": position, "argument": argument}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


def _open(admin: Client, proposal_id: int) -> int:
    response = admin.post_form(f"/proposals/{proposal_id}/consent-rounds")
    assert response.status_code == 302
    match = re.search(r"/consent-rounds/(\d+)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return int(match.group(1))


def test_the_community_fridge_is_consented_after_its_objection_is_integrated(app: Flask) -> None:
    with app.app_context():
        admin = make_user(name="Facilitator")
        circle = make_circle(admin)
        members = [make_user(name=name) for name in ("Amal", "Ben", "Chen", "Dora", "Emeka")]
        for member in members:
            add_member(circle, member, ["member", "circle"], by=admin)
        round_ = make_round(
            circle, admin, method="consent", categories=[], budget_minor=100_000, per_proposal_cap_minor=100_000
        )
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        fridge = make_proposal(
            round_, members[0], title="Community fridge", amount_minor=60_000, category=None, payee_slug="fridge"
        ).id
        other = make_proposal(
            round_, members[1], title="Tool library", amount_minor=50_000, category=None, payee_slug="tools"
        ).id
        round_ = db.session.get(Round, round_.id)
        advance_round(admin, round_, "deliberation", utcnow())
        advance_round(admin, round_, "deciding", utcnow())
        db.session.commit()
        emails = [member.email for member in members]
        admin_email, round_id = admin.email, round_.id
    facilitator = _client(app, admin_email)

    # consent round 1 on version 1: three consent, one concern, one objection
    first = _open(facilitator, fridge)
    for email in emails[:3]:
        _answer(app, email, first, "consent")
    _answer(app, emails[3], first, "concern", "The timeline is tight.")
    refused = _client(app, emails[4]).post_form(
        f"/consent-rounds/{first}/answer", {"position": "objection", "argument": ""}
    )
    assert refused.status_code == 422 and "needs a written argument" in refused.get_data(as_text=True)
    _answer(
        app,
        emails[4],
        first,
        "objection",
        "Nobody is named to keep the fridge clean; spoiled food would cost us the venue.",
    )
    page = facilitator.get(f"/consent-rounds/{first}").get_data(as_text=True)
    assert "1 objection open" in page and "The timeline is tight." in page
    facilitator.post_form(f"/consent-rounds/{first}/close")

    # the proposer amends: version 2 names who looks after it and asks 550.00
    author = _client(app, emails[0])
    amended = author.post_form(
        f"/proposals/{fridge}/edit",
        {
            "title": "Community fridge",
            "summary": "A shared fridge for surplus food.",
            "body": "Dora and Emeka will clean it every week.",
            "amount": "550.00",
            "payee_kind": "account",
            "payee_slug": "fridge",
            "change_note": "Two named people keep it clean: this integrates Emeka's objection.",
        },
    )
    assert amended.status_code == 302, amended.get_data(as_text=True)

    second = _open(facilitator, fridge)
    for email in emails:
        _answer(app, email, second, "consent")
    facilitator.post_form(f"/consent-rounds/{second}/close")
    closed = facilitator.get(f"/consent-rounds/{second}").get_data(as_text=True)
    assert "consented" in closed

    # 450.00 left: a proposal asking 500.00 cannot be consented
    third = _open(facilitator, other)
    for email in emails:
        _answer(app, email, third, "consent")
    before_close = facilitator.get(f"/consent-rounds/{third}").get_data(as_text=True)
    assert "needs 500.00 EUR, 450.00 EUR left" in before_close
    facilitator.post_form(f"/consent-rounds/{third}/close")

    facilitator.post_form(f"/rounds/{round_id}/advance", {"to": "decided"})
    results = " ".join(facilitator.get(f"/rounds/{round_id}/results").get_data(as_text=True).split())
    assert "Funded 550.00 EUR of 1,000.00 EUR; 450.00 EUR left." in results
    assert "not consented: needs 500.00 EUR, 450.00 EUR left" in results
    # The result is not only "consented": each row leads to the story of how (issue 17), the proposal's consent
    # rounds, and from there to the round that consented, with its positions chart and outcome statement.
    assert f'href="/proposals/{fridge}#consent">How it was decided' in results
    story = facilitator.get(f"/proposals/{fridge}").get_data(as_text=True)
    assert f'href="/consent-rounds/{second}"' in story
    told = " ".join(facilitator.get(f"/consent-rounds/{second}").get_data(as_text=True).split())
    assert "How it was decided" in told and "positions-chart" in told and "Outcome:" in told
    api = facilitator.json_call("GET", f"/api/v1/rounds/{round_id}/results").get_json()
    assert api["funded_minor"] == 55_000
    assert [(p["proposal_id"], p["version"], p["amount_minor"], p["funded"]) for p in api["proposals"]] == [
        (fridge, 2, 55_000, True),
        (other, 1, 50_000, False),
    ]
    with app.app_context():
        assert [p.amount_minor for p in db.session.scalars(select(Payout))] == [55_000]
        entries = db.session.scalars(select(LedgerEntry).order_by(LedgerEntry.id)).all()
        objection = next(e for e in entries if e.data.get("position") == "objection")
        assert "spoiled food" in objection.data["argument"]
        closes = [e.data for e in entries if e.action == "consent_round.closed"]
        assert [(c["version"], c["outcome"]) for c in closes if c["proposal"] == fridge] == [
            (1, "not_consented"),
            (2, "consented"),
        ]
        assert any(e.action == "proposal.amended" and e.data["version"] == 2 for e in entries)
    assert app.test_cli_runner().invoke(args=["ledger", "verify"]).exit_code == 0
