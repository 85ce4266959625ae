"""`flask demo`: a demo circle with a round and people of every role, made through the same services as the app."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import click
from flask.cli import with_appcontext

from fundcircle.auth.models import User
from fundcircle.auth.services import create_user, find_user_by_email
from fundcircle.auth.totp import SEAL_PURPOSE as TOTP_SEAL_PURPOSE
from fundcircle.circles.models import Circle
from fundcircle.circles.rotation import CallInput, open_volunteer_call, volunteer
from fundcircle.circles.services import CircleInput, accept_invitation_by_id, create_circle, invite_member
from fundcircle.crypto import seal
from fundcircle.db import utcnow
from fundcircle.deliberation.services import add_comment
from fundcircle.demo.paid_round import SandboxUnavailable, seed_paid_round, wait_for_sandbox
from fundcircle.extensions import db
from fundcircle.payouts.opencollective import Collective, Me
from fundcircle.payouts.services import ConnectionInput, save_connection
from fundcircle.proposals.services import ProposalInput, create_proposal
from fundcircle.rounds.services import RoundInput, advance_round, create_round
from fundcircle.voting.services import cast_ballot

DEMO_PASSWORD = "fundcircle-demo"  # nosec B105  # the demo accounts' published password (README)
#: The demo treasurer's authenticator key (demo only: anyone reading this can make the codes). `make demo-code`
#: prints the current code; an authenticator app can take the key too.
DEMO_TOTP_SECRET = "FUNDCIRCLEDEMOKEY234567A"  # nosec B105  # published on purpose: demo only
DEMO_SANDBOX_TOKEN = "demo-sandbox-token"  # nosec B105  # the local sandbox's token, published for the demo
#: The local Open Collective sandbox that `make run` starts beside the app (`flask oc-sandbox`).
DEMO_SANDBOX: dict[str, Any] = {
    "api_url": "http://127.0.0.1:5050/graphql/v2",
    "collective": "riverside-fund",
    "token": DEMO_SANDBOX_TOKEN,
    "balance_minor": 500_000,
    "payee_account": "riverside-repair",
    #: A payee account the sandbox token's user does not administer: its payout becomes an invite draft that the
    #: account's admins complete (the sandbox's page plays them), as on Open Collective.
    "other_payee_account": "riverside-garden",
}
DEMO_PEOPLE = [
    # (name, e-mail, roles in the demo circle)
    ("Ana Admin", "ana@example.org", ["member", "admin"]),
    ("Tomás Treasurer", "tomas@example.org", ["member", "treasurer"]),
    ("Bea Circle", "bea@example.org", ["member", "circle"]),
    ("Chidi Circle", "chidi@example.org", ["member", "circle"]),
    ("Dana Circle", "dana@example.org", ["member", "circle"]),
    ("Eli Member", "eli@example.org", ["member"]),
]


def seed_demo(sandbox_api_url: str | None = None) -> bool:
    """Create the demo data unless it exists; return whether anything was created. The caller commits.

    With the address of a running local Open Collective sandbox, the circle also gets its closed autumn round, paid
    on that sandbox (demo/paid_round.py), which commits as it goes.

    :raises SandboxUnavailable: if that sandbox does not answer or refuses a step (nothing of the autumn round is
        then left half-made but what was committed before the failing request: rerun on a fresh database).
    """
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
        # As in the product: ana invites, and each person accepts.
        outcome = invite_member(ana, circle, email=email, roles=roles, now=now, valid_days=14)
        accept_invitation_by_id(users[email], outcome.invitation.id, now)
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
    _seed_decided_round(circle, users, now)
    _seed_rotation(circle, users, now)
    if sandbox_api_url is not None:
        db.session.commit()
        seed_paid_round(
            circle,
            users,
            api_url=sandbox_api_url,
            collective=DEMO_SANDBOX["collective"],
            token=DEMO_SANDBOX["token"],
            totp_secret=DEMO_TOTP_SECRET,
        )
    return True


def _seed_decided_round(circle: Circle, users: dict[str, User], now: datetime) -> None:
    """A winter round the circle has decided: three funded proposals whose payouts await the treasurer, who has an
    authenticator app set up, in a circle connected to the local Open Collective sandbox. One is paid to an account
    the sandbox's token administers (createExpense), one to a person invited by e-mail, and one to an account
    somebody else administers (an invite draft by its slug)."""
    ana, tomas = users["ana@example.org"], users["tomas@example.org"]
    winter = create_round(
        ana,
        circle,
        RoundInput(
            title="Winter small grants",
            description="Small grants for the winter term.",
            budget_minor=60_000,
            per_proposal_cap_minor=30_000,
            method="quadratic",
            categories=["Tools", "Learning"],
            proposals_close_at=now + timedelta(days=1),
            deliberation_close_at=now + timedelta(days=2),
            deciding_close_at=now + timedelta(days=3),
        ),
    )
    advance_round(ana, winter, "proposals", now)
    repair = create_proposal(
        users["dana@example.org"],
        winter,
        ProposalInput(
            title="Repair café tools",
            summary="Soldering irons, sewing kits and a multimeter for the monthly repair café.",
            body="The repair café has run on borrowed tools for a year; this buys our own.",
            amount_minor=24_000,
            category="Tools",
            payee_slug=DEMO_SANDBOX["payee_account"],
        ),
        submit=True,
        now=now,
    )
    books = create_proposal(
        users["eli@example.org"],
        winter,
        ProposalInput(
            title="Reading group books",
            summary="Ten copies of the next two books for the reading group.",
            body="Kofi runs the reading group and buys the books.",
            amount_minor=18_000,
            category="Learning",
            payee_name="Kofi Mensah",
            payee_email="kofi@example.org",
        ),
        submit=True,
        now=now,
    )
    garden = create_proposal(
        users["bea@example.org"],
        winter,
        ProposalInput(
            title="Community garden seeds",
            summary="Seeds and compost for the community garden's spring beds.",
            body="The garden group has its own Open Collective account; the payout goes to it.",
            amount_minor=15_000,
            category="Tools",
            payee_slug=DEMO_SANDBOX["other_payee_account"],
        ),
        submit=True,
        now=now,
    )
    advance_round(ana, winter, "deliberation", now)
    advance_round(ana, winter, "deciding", now)
    for voter, votes in (("bea", {repair.id: 4, books.id: 3, garden.id: 2}),
                         ("chidi", {repair.id: 3, books.id: 2, garden.id: 2}),
                         ("dana", {repair.id: 5, books.id: 1, garden.id: 1})):  # fmt: skip
        cast_ballot(users[f"{voter}@example.org"], winter, votes, now)
    advance_round(ana, winter, "decided", now)

    tomas.totp_secret_sealed = seal(TOTP_SEAL_PURPOSE, DEMO_TOTP_SECRET)
    tomas.totp_confirmed_at = now
    sandbox = DEMO_SANDBOX
    save_connection(
        tomas,
        circle,
        ConnectionInput(api_url=sandbox["api_url"], slug=sandbox["collective"], token=sandbox["token"]),
        me=Me(id="usr_demo", slug="riverside-fund-admin", name="Sandbox admin", has_two_factor_auth=False),
        collective=Collective(
            id="acc_demo",
            slug=sandbox["collective"],
            name="Riverside Fund (sandbox)",
            currency="EUR",
            is_admin=True,
            supported_expense_types=["INVOICE", "RECEIPT", "GRANT"],  # what the sandbox collective accepts
            balance_minor=sandbox["balance_minor"],
            balance_currency="EUR",
        ),
        now=now,
    )


def _seed_rotation(circle: Circle, users: dict[str, User], now: datetime) -> None:
    """The circle rotates its deciding members: a call for three seats, each for three rounds, is open for a week,
    at least a third of them for people who have not served, and two members have volunteered so far."""
    open_volunteer_call(
        users["ana@example.org"],
        circle,
        CallInput(seats=3, term_days=None, term_rounds=3, closes_at=now + timedelta(days=7), newcomer_share_percent=34),
        now,
    )
    for email in ("eli@example.org", "chidi@example.org"):
        volunteer(users[email], circle, now)


@click.command("demo")
@click.option(
    "--sandbox",
    "sandbox_api_url",
    default=None,
    help="The GraphQL address of the running local Open Collective sandbox (as `make run` starts it, "
    f"{DEMO_SANDBOX['api_url']}): the demo then also has a closed round, paid on it.",
)
@with_appcontext
def demo_command(sandbox_api_url: str | None) -> None:
    """Seed a demo circle with a round and demo users of every role (does nothing if they exist)."""
    if sandbox_api_url is not None:
        wait_for_sandbox(sandbox_api_url)
    try:
        created = seed_demo(sandbox_api_url)
    except SandboxUnavailable as error:
        raise click.ClickException(str(error)) from error
    db.session.commit()
    click.echo("Demo data created." if created else "Demo data exists already; nothing changed.")
    click.echo(f"Log in at http://127.0.0.1:5000/login with any of these (password: {DEMO_PASSWORD}):")
    for name, email, roles in DEMO_PEOPLE:
        extra = ", superuser" if email == DEMO_PEOPLE[0][1] else ""
        click.echo(f"  {email:<20} {name:<16} {' + '.join(roles)}{extra}")
    click.echo(
        "Payouts: log in as tomas@example.org, open the circle's Treasury, approve a payout with the code that "
        "`make demo-code` prints (the demo treasurer's authenticator), then play Open Collective's host on the "
        f"sandbox's page, {str(DEMO_SANDBOX['api_url']).rsplit('/graphql', 1)[0]}/, and press 'Check Open "
        "Collective now' in the treasury."
    )
