"""A circle with a decided round whose funded proposals await payout, two treasurers with authenticator apps, and
the circle connected to a running Open Collective sandbox.

Its fixtures `treasury` and `treasury_factory` (on the sandbox fixtures of tests/worlds/sandbox.py) serve every test
folder: tests/conftest.py loads both modules as plugins."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from flask import Flask

from fundcircle.extensions import db
from fundcircle.payouts.models import Payout
from oc_sandbox.sandbox import RunningSandbox
from tests.factories import add_member, connect_circle, enrol_totp, make_circle, make_funded_round, make_user
from tests.worlds.sandbox import SANDBOX_COLLECTIVE, SANDBOX_PAYEE, SANDBOX_TOKEN


@dataclass
class Treasury:
    app: Flask
    sandbox: RunningSandbox
    circle_id: int
    round_id: int
    #: Payouts by proposal title: "Seed library" (paid to the sandbox's payee account, 250.00 EUR) and
    #: "Bike repair" (a person invited by e-mail, 150.00 EUR).
    payout_ids: dict[str, int]
    emails: dict[str, str]
    totp_secrets: dict[str, str] = field(default_factory=dict)

    def payout(self, title: str) -> Payout:
        payout = db.session.get(Payout, self.payout_ids[title])
        assert payout is not None
        db.session.refresh(payout)
        return payout


def build_treasury(
    app: Flask, sandbox: RunningSandbox, *, connect: bool = True, domain: str = "example.org", **circle: object
) -> Treasury:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        circle_ = make_circle(admin, **circle)
        people = {"admin": admin}
        for name, roles in (("tomas", ["treasurer"]), ("tess", ["treasurer"]), ("bea", ["circle"]),
                            ("author", ["member", "treasurer"]), ("eli", ["member"])):  # fmt: skip
            people[name] = make_user(name=name.title(), email=f"{name}@{domain}")
            add_member(circle_, people[name], roles, by=admin)
        round_, proposals = make_funded_round(
            circle_,
            admin,
            people["bea"],
            [
                {"author": people["author"], "title": "Seed library", "payee_slug": SANDBOX_PAYEE},
                {"author": people["eli"], "title": "Bike repair", "amount_minor": 15_000, "payee_slug": None,
                 "payee_name": "Tess Treasurer", "payee_email": f"tess@{domain}"},
            ],
        )  # fmt: skip
        payout_ids = {}
        for title, proposal in zip(("Seed library", "Bike repair"), proposals, strict=True):
            payout_ids[title] = db.session.scalars(db.select(Payout.id).where(Payout.proposal_id == proposal.id)).one()
        if connect:
            connect_circle(circle_, people["tomas"], api_url=sandbox.url, slug=SANDBOX_COLLECTIVE, token=SANDBOX_TOKEN)
        secrets = {name: enrol_totp(people[name]) for name in ("tomas", "tess", "author")}
        return Treasury(
            app=app,
            sandbox=sandbox,
            circle_id=circle_.id,
            round_id=round_.id,
            payout_ids=payout_ids,
            emails={name: user.email for name, user in people.items()},
            totp_secrets=secrets,
        )


@pytest.fixture
def treasury(app: Flask, oc_sandbox: RunningSandbox) -> Treasury:
    return build_treasury(app, oc_sandbox)


@pytest.fixture
def treasury_factory(app: Flask, oc_sandbox: RunningSandbox) -> Callable[..., Treasury]:
    return lambda **options: build_treasury(app, oc_sandbox, **options)


def ledger_actions(circle_id: int, prefix: str = "payout.") -> list[str]:
    """The circle's ledger actions starting with `prefix`, in order (call in an app context)."""
    from fundcircle.ledger.models import LedgerChain, LedgerEntry

    chain_id = db.session.scalar(db.select(LedgerChain.id).where(LedgerChain.circle_id == circle_id))
    rows = db.session.scalars(
        db.select(LedgerEntry.action).where(LedgerEntry.chain_id == chain_id).order_by(LedgerEntry.seq)
    )
    return [action for action in rows if action.startswith(prefix)]
