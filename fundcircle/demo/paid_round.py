"""The demo's closed round: an autumn round whose payouts went the whole way on the local Open Collective sandbox.

Nothing here writes a payout's state by hand. The round is decided through the services, the treasurer approves with
the demo authenticator's code, the payouts are requested on the sandbox exactly as the worker requests them, the
demo then plays the people Open Collective's host page stands for (the payee who completes an invitation, the host
who approves and pays) on that page, and the payouts follow Open Collective by the same sync as `flask payouts sync`.
When the last one is paid, the round closes by itself; then the funded groups report back and the circle answers
the round's retrospective. That needs the sandbox to be running: `make run` starts it
before it seeds the demo.
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta

import pyotp
import requests
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.db import utcnow
from fundcircle.errors import FundCircleError
from fundcircle.extensions import db
from fundcircle.learning.services import mark_received, write_report
from fundcircle.payouts.models import Payout
from fundcircle.payouts.requesting import submit_payout, sync_payout
from fundcircle.payouts.services import ConnectionInput, approve_payouts, connect_open_collective, is_sandbox_url
from fundcircle.proposals.models import Proposal
from fundcircle.proposals.services import ProposalInput, create_proposal, current_version
from fundcircle.rounds.models import Round
from fundcircle.rounds.retrospective import RetrospectiveInput, answer_retrospective
from fundcircle.rounds.services import RoundInput, advance_round, create_round
from fundcircle.voting.services import cast_ballot

#: The title the demo's closed round carries (tests and the README name it).
CLOSED_ROUND_TITLE = "Autumn learning grants"
#: What the host page offers for an expense in each status, in the order a payee and the host go through them.
_NEXT_STEP = {"DRAFT": "complete-invitation", "PENDING": "approve", "APPROVED": "pay"}
_FORM_TOKEN = re.compile(r'name="token" value="([^"]+)"')


class SandboxUnavailable(FundCircleError):
    """The local Open Collective sandbox did not answer, or did not do what its page offers."""


def wait_for_sandbox(api_url: str, seconds: float = 15.0) -> None:
    """Wait until the sandbox started beside the demo answers (`make run` starts both at once).

    :raises SandboxUnavailable: if it has not answered within `seconds`.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            requests.get(_page_url(api_url), timeout=2)
            return
        except requests.RequestException as error:
            if time.monotonic() > deadline:
                raise SandboxUnavailable(
                    f"The Open Collective sandbox at {api_url} does not answer: {error}"
                ) from error
            time.sleep(0.2)


def _page_url(api_url: str) -> str:
    return api_url.rsplit("/graphql", 1)[0] + "/"


def seed_paid_round(
    circle: Circle, users: dict[str, User], *, api_url: str, collective: str, token: str, totp_secret: str
) -> Round:
    """Decide, approve, request and pay a round of two proposals on the sandbox at `api_url`. Commits as it goes
    (a request to Open Collective is never made inside a transaction); returns the closed round.

    :raises SandboxUnavailable: if `api_url` is not a local sandbox, or the sandbox refuses a step.
    """
    if not is_sandbox_url(api_url):
        raise SandboxUnavailable("The demo pays only on the local Open Collective sandbox, never on Open Collective.")
    now = utcnow()
    tomas = users["tomas@example.org"]
    autumn = _decided_round(circle, users, now)
    db.session.commit()
    # The treasurer connects the circle to the sandbox for real (the winter round's connection was stored without
    # asking it, as `flask demo` may run before the sandbox does).
    connect_open_collective(tomas, circle, ConnectionInput(api_url=api_url, slug=collective, token=token), now)
    db.session.commit()
    payout_ids = list(db.session.scalars(select(Payout.id).where(Payout.round_id == autumn.id).order_by(Payout.id)))
    approve_payouts(tomas, circle, payout_ids, pyotp.TOTP(totp_secret).now(), now)
    db.session.commit()
    expense_ids = []
    for payout_id in payout_ids:
        payout = submit_payout(payout_id)
        if payout is None or payout.expense_id is None:
            raise SandboxUnavailable(f"The sandbox did not take payout {payout_id}'s request.")
        expense_ids.append(payout.expense_id)
    _play_payees_and_host(api_url, expense_ids)
    for payout_id in payout_ids:
        sync_payout(payout_id, via="demo")
    closed = db.session.get(Round, autumn.id)
    if closed is None or closed.phase != "closed":
        raise SandboxUnavailable("The autumn round's payouts were not all paid on the sandbox.")
    _report_back(closed, users)
    db.session.commit()
    return closed


#: What the two funded groups wrote back, one answer per default question (rounds.models.DEFAULT_REPORT_QUESTIONS).
_REPORTS = {
    "Repair skills evenings": ("dana@example.org", [
        "Four evenings, 31 people; 46 things repaired, from lamps to a sewing machine.",
        "Newcomers stay when they fix something themselves on the first evening: we now pair each with a regular.",
        "Buy spare fuses and bulbs before the first evening, not after.",
        "Our checklist for a safe soldering table is in the repair café's folder; borrow it.",
    ]),
    "Seed-saving workshop": ("bea@example.org", [
        "Nineteen people came; we saved tomato, bean and lettuce seed and filled 120 envelopes for the seed library.",
        "Drying takes longer than we planned: start the workshop earlier in the season.",
        "Ask the guest for a list of what to bring, and send it out a week ahead.",
        "The envelope template and the drying rack plans are on the garden group's page.",
    ]),
}  # fmt: skip
#: The circle's look back on the autumn round: (member, worked, change, fairness, effort, anonymous).
_RETROSPECTIVE = (
    ("bea@example.org", "Short proposals were easy to compare.", "Give us a week more to deliberate.", 4, 3, False),
    ("chidi@example.org", "The vote felt fair; the chart helped.", "Fewer reminders by e-mail.", 5, 2, True),
    ("eli@example.org", "Seeing the ledger made me trust the result.", "Explain the credits before the vote.", 4, 3,
     False),
)  # fmt: skip


def _report_back(round_: Round, users: dict[str, User]) -> None:
    """The funded groups write their learning reports, the circle receives one, and members answer the round's
    retrospective: through the services, as the people would on their pages."""
    now = utcnow()
    proposals = db.session.scalars(select(Proposal).where(Proposal.round_id == round_.id).order_by(Proposal.id))
    for proposal in proposals:
        email, answers = _REPORTS[current_version(proposal).title]
        report = write_report(users[email], proposal, "final", answers, now)
        if email == "dana@example.org":
            mark_received(users["chidi@example.org"], report, now)
    for email, worked, change, fairness, effort, anonymous in _RETROSPECTIVE:
        answer_retrospective(
            users[email], round_, RetrospectiveInput(worked, change, fairness, effort, anonymous=anonymous), now
        )


def _decided_round(circle: Circle, users: dict[str, User], now: datetime) -> Round:
    ana = users["ana@example.org"]
    autumn = create_round(
        ana,
        circle,
        RoundInput(
            title=CLOSED_ROUND_TITLE,
            description="Grants for what we wanted to learn this autumn; each funded group reports back.",
            budget_minor=50_000,
            per_proposal_cap_minor=25_000,
            method="quadratic",
            categories=["Learning", "Tools"],
            proposals_close_at=now + timedelta(days=1),
            deliberation_close_at=now + timedelta(days=2),
            deciding_close_at=now + timedelta(days=3),
        ),
    )
    advance_round(ana, autumn, "proposals", now)
    repair = create_proposal(
        users["dana@example.org"],
        autumn,
        ProposalInput(
            title="Repair skills evenings",
            summary="Four evenings where the repair café's regulars teach newcomers to fix what they bring.",
            body="Materials, spare parts and tea for four teaching evenings at the repair café.",
            amount_minor=20_000,
            category="Learning",
            payee_slug="riverside-repair",
        ),
        submit=True,
        now=now,
    )
    garden = create_proposal(
        users["bea@example.org"],
        autumn,
        ProposalInput(
            title="Seed-saving workshop",
            summary="A day with a seed saver from the next valley, for the garden group and anyone curious.",
            body="The garden group's Open Collective account receives the grant and pays the guest's travel.",
            amount_minor=12_000,
            category="Learning",
            payee_slug="riverside-garden",
        ),
        submit=True,
        now=now,
    )
    advance_round(ana, autumn, "deliberation", now)
    advance_round(ana, autumn, "deciding", now)
    for voter, votes in (("bea", {repair.id: 4, garden.id: 3}),
                         ("chidi", {repair.id: 3, garden.id: 4}),
                         ("dana", {repair.id: 5, garden.id: 2})):  # fmt: skip
        cast_ballot(users[f"{voter}@example.org"], autumn, votes, now)
    advance_round(ana, autumn, "decided", now)
    return autumn


def _play_payees_and_host(api_url: str, expense_ids: list[str]) -> None:
    """On the sandbox's host page, as a person would: the payee completes an invitation, the host approves and
    pays, for each expense, until it is paid."""
    page_url = _page_url(api_url)
    base = page_url.rstrip("/")
    with requests.Session() as browser:
        for expense_id in expense_ids:
            for _ in range(len(_NEXT_STEP)):
                page = browser.get(page_url, timeout=5).text
                row = re.search(rf'<tr id="expense-{re.escape(expense_id)}">.*?</tr>', page, re.S)
                if row is None:
                    raise SandboxUnavailable(f"The sandbox's page does not show expense {expense_id}.")
                status = re.search(r'<span class="status">([A-Z_]+)</span>', row.group(0))
                step = _NEXT_STEP.get(status.group(1) if status else "")
                if step is None:
                    break
                form_token = _FORM_TOKEN.search(page)
                if form_token is None:
                    raise SandboxUnavailable("The sandbox's page has no form to act with.")
                done = browser.post(
                    f"{base}/sandbox/expenses/{expense_id}/{step}", data={"token": form_token.group(1)}, timeout=5
                )
                if done.status_code >= 400:
                    raise SandboxUnavailable(f"The sandbox refused to {step} expense {expense_id}: {done.text[:200]}")
