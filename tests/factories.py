"""Build test data through the services, as the app does. Call inside an app context; each helper commits."""

from __future__ import annotations

from datetime import timedelta
from itertools import count
from typing import Any

from fundcircle.auth.models import User
from fundcircle.auth.services import create_api_token, create_user
from fundcircle.circles.models import Circle, Membership
from fundcircle.circles.services import CircleInput, _add_membership, check_roles, create_circle, require_role
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.proposals.models import Proposal
from fundcircle.proposals.services import ProposalInput, create_proposal
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import RoundInput, create_round
from tests.conftest import TEST_PASSWORD

_numbers = count(1)


def make_user(*, email: str | None = None, name: str | None = None, superuser: bool = False) -> User:
    number = next(_numbers)
    user = create_user(
        None,
        email=email or f"person{number}@example.org",
        name=name or f"Person {number}",
        password=TEST_PASSWORD,
        superuser=superuser,
        via="test",
    )
    db.session.commit()
    return user


def make_circle(admin: User | None = None, **overrides: Any) -> Circle:
    """A circle whose admin is `admin` (made a superuser for the purpose if needed)."""
    number = next(_numbers)
    admin = admin or make_user(superuser=True)
    was_superuser = admin.is_superuser
    admin.is_superuser = True
    values: dict[str, Any] = {
        "name": f"Circle {number}",
        "slug": f"circle-{number}",
        "currency": "EUR",
        "public": False,
    }
    values.update(overrides)
    circle = create_circle(admin, CircleInput(**values))
    admin.is_superuser = was_superuser
    db.session.commit()
    return circle


def add_member(circle: Circle, user: User, roles: list[str], *, by: User) -> Membership:
    """Make `user` a member at once, as the circle's creator becomes one (a test world's set-up, not the admin's
    flow: that is invite_member and the person's acceptance, tested on their own)."""
    require_role(by, circle, "admin")
    membership = _add_membership(by, circle, user, check_roles(roles))
    db.session.commit()
    return membership


def make_round(circle: Circle, admin: User, **overrides: Any) -> Round:
    now = utcnow()
    values: dict[str, Any] = {
        "title": "Spring micro-grants",
        "budget_minor": 100_000,
        "per_proposal_cap_minor": 40_000,
        "method": "quadratic",
        "categories": ["Learning", "Tools"],
        "proposals_close_at": now + timedelta(days=7),
        "deliberation_close_at": now + timedelta(days=14),
        "deciding_close_at": now + timedelta(days=21),
    }
    values.update(overrides)
    round_ = create_round(admin, circle, RoundInput(**values))
    db.session.commit()
    return round_


def make_token(user: User, name: str = "test") -> str:
    _, token = create_api_token(user, name)
    db.session.commit()
    return token


def sample_proposal(**overrides: Any) -> ProposalInput:
    values: dict[str, Any] = {
        "title": "Seed library",
        "summary": "A shelf of seeds anyone can borrow.",
        "body": "We will build a **seed library** in the community centre.",
        "amount_minor": 25_000,
        "category": "Tools",
        "payee_slug": "seed-library",
    }
    values.update(overrides)
    return ProposalInput(**values)


def make_proposal(round_: Round, author: User, *, submit: bool = True, **overrides: Any) -> Proposal:
    proposal = create_proposal(author, round_, sample_proposal(**overrides), submit=submit, now=utcnow())
    db.session.commit()
    return proposal


def make_funded_round(
    circle: Circle, admin: User, voter: User, proposals: list[dict[str, Any]], **round_overrides: Any
) -> tuple[Round, list[Proposal]]:
    """A quadratic round decided through the services: `voter` (given the circle role if needed) votes 1 for each
    proposal, so each one that fits the budget is funded and gets a payout awaiting approval. Each item of
    `proposals` is the author under "author" and `sample_proposal` overrides."""
    from fundcircle.rounds.services import advance_round
    from fundcircle.voting.services import cast_ballot

    round_overrides.setdefault("quorum_percent", 0)
    round_ = make_round(circle, admin, **round_overrides)
    advance_round(admin, round_, "proposals", utcnow())
    made = []
    for spec in proposals:
        spec = dict(spec)
        author = spec.pop("author")
        made.append(create_proposal(author, round_, sample_proposal(**spec), submit=True, now=utcnow()))
    for phase in ("deliberation", "deciding"):
        advance_round(admin, round_, phase, utcnow())
    db.session.commit()
    cast_ballot(voter, round_, {proposal.id: 1 for proposal in made}, utcnow())
    advance_round(admin, round_, "decided", utcnow())
    db.session.commit()
    return round_, made


def enrol_totp(user: User) -> str:
    """Set up `user`'s authenticator app; returns the secret, from which `totp_code` makes codes."""
    from fundcircle.auth.totp import confirm_enrolment, start_enrolment

    secret = start_enrolment(user, password=TEST_PASSWORD, now=utcnow())
    db.session.commit()
    confirm_enrolment(user, totp_code(secret, offset_steps=-1), utcnow())
    db.session.commit()
    return secret


def totp_code(secret: str, *, offset_steps: int = 0) -> str:
    """The code an authenticator app shows now (or `offset_steps` 30-second steps from now)."""
    import pyotp

    return pyotp.TOTP(secret).at(utcnow().timestamp() + 30 * offset_steps)


def connect_circle(circle: Circle, treasurer: User, *, api_url: str, slug: str, token: str, **overrides: Any) -> None:
    """Connect the circle to a collective as the connect page does after Open Collective confirmed the token."""
    from fundcircle.payouts.opencollective import Collective, Me
    from fundcircle.payouts.services import ConnectionInput, save_connection

    collective = Collective(
        id="acc_test",
        slug=slug,
        name=overrides.pop("name", "Test collective"),
        currency=circle.currency,
        is_admin=True,
        supported_expense_types=overrides.pop("supported_expense_types", ["GRANT", "INVOICE", "RECEIPT"]),
        balance_minor=overrides.pop("balance_minor", 500_000),
        balance_currency=circle.currency,
    )
    data = ConnectionInput(api_url=api_url, slug=slug, token=token, expense_type=overrides.pop("expense_type", None))
    save_connection(treasurer, circle, data, me=Me("usr_test", "treasurer", "T", False), collective=collective,
                    now=utcnow())  # fmt: skip
    db.session.commit()
