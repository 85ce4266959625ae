"""`flask demo`: a demo circle with a round and people of every role, made through the same services as the app."""

from __future__ import annotations

from datetime import timedelta

import click
from flask.cli import with_appcontext

from fundcircle.auth.models import User
from fundcircle.auth.services import create_user, find_user_by_email
from fundcircle.circles.services import CircleInput, create_circle, invite_member
from fundcircle.db import utcnow
from fundcircle.deliberation.services import add_comment
from fundcircle.extensions import db
from fundcircle.proposals.services import ProposalInput, create_proposal
from fundcircle.rounds.services import RoundInput, advance_round, create_round

DEMO_PASSWORD = "fundcircle-demo"  # nosec B105  # the demo accounts' published password (README)
DEMO_PEOPLE = [
    # (name, e-mail, roles in the demo circle)
    ("Ana Admin", "ana@example.org", ["member", "admin"]),
    ("Tomás Treasurer", "tomas@example.org", ["member", "treasurer"]),
    ("Bea Circle", "bea@example.org", ["member", "circle"]),
    ("Chidi Circle", "chidi@example.org", ["member", "circle"]),
    ("Dana Circle", "dana@example.org", ["member", "circle"]),
    ("Eli Member", "eli@example.org", ["member"]),
]


def seed_demo() -> bool:
    """Create the demo data unless it exists; return whether anything was created. The caller commits."""
    if find_user_by_email(DEMO_PEOPLE[0][1]) is not None:
        return False
    now = utcnow()
    users: dict[str, User] = {}
    for index, (name, email, _) in enumerate(DEMO_PEOPLE):
        users[email] = create_user(
            None, email=email, name=name, password=DEMO_PASSWORD, superuser=index == 0, via="demo"
        )
    ana = users[DEMO_PEOPLE[0][1]]
    circle = create_circle(
        ana,
        CircleInput(
            name="Riverside Learning Circle",
            slug="riverside",
            currency="EUR",
            public=True,
            description="Our peer-learning community's shared micro-fund: small grants for study groups, "
            "workshops and the tools we share.",
        ),
    )
    for _, email, roles in DEMO_PEOPLE[1:]:
        invite_member(ana, circle, email=email, roles=roles, now=now, valid_days=14)
    round_ = create_round(
        ana,
        circle,
        RoundInput(
            title="Spring micro-grants",
            description="Up to 400 EUR for something that helps us learn together this spring.",
            budget_minor=100_000,
            per_proposal_cap_minor=40_000,
            method="quadratic",
            categories=["Learning", "Events", "Tools"],
            proposals_close_at=now + timedelta(days=14),
            deliberation_close_at=now + timedelta(days=21),
            deciding_close_at=now + timedelta(days=28),
        ),
    )
    advance_round(ana, round_, "proposals", now)
    bea, chidi, eli = users["bea@example.org"], users["chidi@example.org"], users["eli@example.org"]
    seeds = create_proposal(
        eli,
        round_,
        ProposalInput(
            title="Seed library",
            summary="A shelf of seeds anyone can borrow and bring back after the harvest.",
            body="We would build a **seed library** in the community centre:\n\n- a shelf and 200 envelopes\n"
            "- two workshops on saving seeds\n\nEli and Dana will look after it.",
            amount_minor=35_000,
            category="Tools",
            payee_name="Eli Member",
            payee_email="eli@example.org",
        ),
        submit=True,
        now=now,
    )
    create_proposal(
        bea,
        round_,
        ProposalInput(
            title="Spanish conversation evenings",
            summary="Six evenings of conversation practice with a native speaker.",
            body="Six evenings in the library's meeting room, with a paid facilitator and snacks.",
            amount_minor=30_000,
            category="Learning",
            payee_slug="riverside-languages",
        ),
        submit=True,
        now=now,
    )
    question = add_comment(
        chidi, seeds, "Where would the shelf stand, and who keeps it tidy?", parent_id=None, question=True, now=now
    )
    add_comment(
        eli,
        seeds,
        "In the hall by the entrance; Dana and I take turns.",
        parent_id=question.id,
        question=False,
        now=now,
    )
    return True


@click.command("demo")
@with_appcontext
def demo_command() -> None:
    """Seed a demo circle with a round and demo users of every role (does nothing if they exist)."""
    created = seed_demo()
    db.session.commit()
    click.echo("Demo data created." if created else "Demo data exists already; nothing changed.")
    click.echo(f"Log in at http://127.0.0.1:5000/login with any of these (password: {DEMO_PASSWORD}):")
    for name, email, roles in DEMO_PEOPLE:
        extra = ", superuser" if email == DEMO_PEOPLE[0][1] else ""
        click.echo(f"  {email:<20} {name:<16} {' + '.join(roles)}{extra}")
