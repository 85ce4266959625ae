"""Proposals through their services: who may do what in which phase, the ledger entries each change writes, the
limits, versions, and deadlines: a round past one is treated as past it at once, and `rounds tick` moves it on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.deliberation.services import add_comment
from fundcircle.errors import FundCircleError, ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.proposals.services import (
    create_proposal,
    list_proposals,
    submit_proposal,
    update_proposal,
    versions_of,
    withdraw_proposal,
)
from fundcircle.rounds.models import Round
from fundcircle.rounds.phases import format_time
from fundcircle.rounds.services import advance_round
from tests.conftest import Client
from tests.factories import (
    add_member,
    make_circle,
    make_proposal,
    make_round,
    make_token,
    make_user,
    sample_proposal,
)

# --- helpers ------------------------------------------------------------------------------------------------------


def last_ledger_id() -> int:
    return db.session.scalar(select(func.coalesce(func.max(LedgerEntry.id), 0))) or 0


def actions_after(ledger_id: int) -> list[str]:
    return list(
        db.session.scalars(select(LedgerEntry.action).where(LedgerEntry.id > ledger_id).order_by(LedgerEntry.id))
    )


def entries_after(ledger_id: int) -> list[LedgerEntry]:
    return list(db.session.scalars(select(LedgerEntry).where(LedgerEntry.id > ledger_id).order_by(LedgerEntry.id)))


def committed_actions(change: Callable[[], Any]) -> list[str]:
    """Run one state change as a request would (then commit) and return the ledger actions it appended."""
    before = last_ledger_id()
    change()
    db.session.commit()
    return actions_after(before)


def move_round(round_: Round, admin: User, to: str, now: datetime | None = None) -> None:
    """Drive a round through the lifecycle to `to` with `advance_round`, one phase at a time, committing each."""
    path = {
        "draft": [],
        "proposals": ["proposals"],
        "deliberation": ["proposals", "deliberation"],
        "deciding": ["proposals", "deliberation", "deciding"],
        "decided": ["proposals", "deliberation", "deciding", "decided"],
        "closed": ["proposals", "deliberation", "deciding", "decided", "closed"],
        "cancelled": ["proposals", "deliberation", "cancelled"],
    }[to]
    for phase in path:
        if round_.phase == phase:
            continue
        advance_round(admin, round_, phase, now or utcnow())
        db.session.commit()
    assert round_.phase == to


def verify_ledger_from_cli(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "The ledger verifies" in result.output


# --- who may do what in each phase --------------------------------------------------------------------------------

PHASES = ("draft", "proposals", "deliberation", "deciding", "decided", "closed", "cancelled")
ROLES = ("member", "circle", "treasurer", "admin", "author", "outsider")

Outcome = tuple[str, tuple[str, ...]]


def ok(*actions: str) -> Outcome:
    """Allowed, appending exactly these ledger entries."""
    return ("ok", actions)


D: Outcome = ("PermissionDenied", ())
C: Outcome = ("Conflict", ())
V: Outcome = ("ValidationFailed", ())
N = None  # cannot arise: a round in draft has no proposals yet

NEW = ok("proposal.created", "proposal.submitted")
DRAFT_EDITED = ok("proposal.draft_edited")
VERSION = ok("proposal.version_created")
AMENDED = ok("proposal.amended")
SUBMITTED = ok("proposal.submitted")
WITHDRAWN = ok("proposal.withdrawn")
COMMENTED = ok("comment.created")

# fmt: off
EXPECTED: dict[str, dict[str, tuple[Outcome | None, ...]]] = {
    # Write a new proposal (and submit it).
    "create": {
        #                member     circle     treasurer  admin      author     outsider
        "draft":        (C,         C,         C,         C,         C,         D),
        "proposals":    (NEW,       NEW,       NEW,       NEW,       NEW,       D),
        "deliberation": (C,         C,         C,         C,         C,         D),
        "deciding":     (C,         C,         C,         C,         C,         D),
        "decided":      (C,         C,         C,         C,         C,         D),
        "closed":       (C,         C,         C,         C,         C,         D),
        "cancelled":    (C,         C,         C,         C,         C,         D),
    },
    # Change the author's draft (in place).
    "edit_draft": {
        "draft":        (N,         N,         N,         N,         N,         N),
        "proposals":    (D,         D,         D,         D,         DRAFT_EDITED, D),
        "deliberation": (D,         D,         D,         D,         C,         D),
        "deciding":     (D,         D,         D,         D,         C,         D),
        "decided":      (D,         D,         D,         D,         C,         D),
        "closed":       (D,         D,         D,         D,         C,         D),
        "cancelled":    (D,         D,         D,         D,         C,         D),
    },
    # Change the author's submitted proposal without a change note.
    "edit_submitted": {
        "draft":        (N,         N,         N,         N,         N,         N),
        "proposals":    (D,         D,         D,         D,         VERSION,   D),
        "deliberation": (D,         D,         D,         D,         V,         D),
        "deciding":     (D,         D,         D,         D,         C,         D),
        "decided":      (D,         D,         D,         D,         C,         D),
        "closed":       (D,         D,         D,         D,         C,         D),
        "cancelled":    (D,         D,         D,         D,         C,         D),
    },
    # Change the author's submitted proposal with a change note (an amendment in deliberation).
    "amend_submitted": {
        "draft":        (N,         N,         N,         N,         N,         N),
        "proposals":    (D,         D,         D,         D,         VERSION,   D),
        "deliberation": (D,         D,         D,         D,         AMENDED,   D),
        "deciding":     (D,         D,         D,         D,         C,         D),
        "decided":      (D,         D,         D,         D,         C,         D),
        "closed":       (D,         D,         D,         D,         C,         D),
        "cancelled":    (D,         D,         D,         D,         C,         D),
    },
    "submit_draft": {
        "draft":        (N,         N,         N,         N,         N,         N),
        "proposals":    (D,         D,         D,         D,         SUBMITTED, D),
        "deliberation": (D,         D,         D,         D,         C,         D),
        "deciding":     (D,         D,         D,         D,         C,         D),
        "decided":      (D,         D,         D,         D,         C,         D),
        "closed":       (D,         D,         D,         D,         C,         D),
        "cancelled":    (D,         D,         D,         D,         C,         D),
    },
    # Submitting what is submitted already.
    "submit_submitted": {
        "draft":        (N,         N,         N,         N,         N,         N),
        "proposals":    (D,         D,         D,         D,         C,         D),
        "deliberation": (D,         D,         D,         D,         C,         D),
        "deciding":     (D,         D,         D,         D,         C,         D),
        "decided":      (D,         D,         D,         D,         C,         D),
        "closed":       (D,         D,         D,         D,         C,         D),
        "cancelled":    (D,         D,         D,         D,         C,         D),
    },
    "withdraw_submitted": {
        "draft":        (N,         N,         N,         N,         N,         N),
        "proposals":    (D,         D,         D,         D,         WITHDRAWN, D),
        "deliberation": (D,         D,         D,         D,         WITHDRAWN, D),
        "deciding":     (D,         D,         D,         D,         WITHDRAWN, D),
        "decided":      (D,         D,         D,         D,         C,         D),
        "closed":       (D,         D,         D,         D,         C,         D),
        "cancelled":    (D,         D,         D,         D,         C,         D),
    },
    "withdraw_draft": {
        "draft":        (N,         N,         N,         N,         N,         N),
        "proposals":    (D,         D,         D,         D,         WITHDRAWN, D),
        "deliberation": (D,         D,         D,         D,         WITHDRAWN, D),
        "deciding":     (D,         D,         D,         D,         WITHDRAWN, D),
        "decided":      (D,         D,         D,         D,         C,         D),
        "closed":       (D,         D,         D,         D,         C,         D),
        "cancelled":    (D,         D,         D,         D,         C,         D),
    },
    # Comment on the submitted proposal.
    "comment": {
        "draft":        (N,         N,         N,         N,         N,         N),
        "proposals":    (COMMENTED, COMMENTED, COMMENTED, COMMENTED, COMMENTED, D),
        "deliberation": (COMMENTED, COMMENTED, COMMENTED, COMMENTED, COMMENTED, D),
        "deciding":     (C,         C,         C,         C,         C,         D),
        "decided":      (C,         C,         C,         C,         C,         D),
        "closed":       (C,         C,         C,         C,         C,         D),
        "cancelled":    (C,         C,         C,         C,         C,         D),
    },
}
# fmt: on


@dataclass
class World:
    round: Round
    admin: User
    people: dict[str, User]
    submitted: Proposal | None
    draft: Proposal | None


def build_world(phase: str) -> World:
    """A circle with one person per role; in the proposals phase the author writes one submitted proposal and one
    draft; then the round is driven to `phase` by its admin."""
    owner = make_user(name="Owner")
    circle = make_circle(owner)
    people = {"outsider": make_user(name="Outsider")}
    for role, roles in (
        ("member", ["member"]),
        ("circle", ["circle"]),
        ("treasurer", ["treasurer"]),
        ("admin", ["admin"]),
        ("author", ["member"]),
    ):
        people[role] = make_user(name=role.capitalize())
        add_member(circle, people[role], roles, by=owner)
    round_ = make_round(circle, owner)
    submitted = draft = None
    if phase != "draft":
        move_round(round_, owner, "proposals")
        submitted = make_proposal(round_, people["author"], title="Submitted one")
        draft = make_proposal(round_, people["author"], submit=False, title="A draft")
    move_round(round_, owner, phase)
    return World(round_, owner, people, submitted, draft)


def operations(world: World, actor: User) -> dict[str, Callable[[], Any]]:
    now = utcnow()
    changed = sample_proposal(title="Changed title", amount_minor=20_000)
    return {
        "create": lambda: create_proposal(actor, world.round, sample_proposal(title="Another"), submit=True, now=now),
        "edit_draft": lambda: update_proposal(actor, world.draft, changed, change_note="", now=now),
        "edit_submitted": lambda: update_proposal(actor, world.submitted, changed, change_note="", now=now),
        "amend_submitted": lambda: update_proposal(
            actor, world.submitted, changed, change_note="Asks less after the circle's questions.", now=now
        ),
        "submit_draft": lambda: submit_proposal(actor, world.draft, now),
        "submit_submitted": lambda: submit_proposal(actor, world.submitted, now),
        "withdraw_submitted": lambda: withdraw_proposal(actor, world.submitted, now),
        "withdraw_draft": lambda: withdraw_proposal(actor, world.draft, now),
        "comment": lambda: add_comment(
            actor, world.submitted, "What about winter?", parent_id=None, question=False, now=now
        ),
    }


def attempt(change: Callable[[], Any]) -> Outcome:
    """Try one change; report the error type or "ok" with the ledger entries it appended; then roll it back."""
    before = last_ledger_id()
    try:
        change()
        db.session.flush()
    except FundCircleError as error:
        # A refusal for bad input may carry all the proposal's problems at once (ProposalProblems, a
        # ValidationFailed): the table names the kind of refusal, not the subclass that gathers the messages.
        kind = ValidationFailed.__name__ if isinstance(error, ValidationFailed) else type(error).__name__
        outcome: Outcome = (kind, tuple(actions_after(before)))
    else:
        outcome = ("ok", tuple(actions_after(before)))
    db.session.rollback()
    return outcome


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("phase", PHASES)
def test_who_may_create_edit_submit_withdraw_and_comment_in_each_phase(ctx: Flask, phase: str, role: str) -> None:
    world = build_world(phase)
    actor = world.people[role]
    column = ROLES.index(role)
    expected = {op: by_phase[phase][column] for op, by_phase in EXPECTED.items() if by_phase[phase][column] is not None}
    actual = {op: attempt(change) for op, change in operations(world, actor).items() if op in expected}
    assert actual == expected


def test_a_failed_change_leaves_no_ledger_entry_and_the_proposal_as_it_was(ctx: Flask) -> None:
    world = build_world("deliberation")
    assert world.submitted is not None
    author = world.people["author"]
    before = last_ledger_id()
    with pytest.raises(ValidationFailed) as refused:
        update_proposal(
            author, world.submitted, sample_proposal(title="Quietly changed"), change_note="  ", now=utcnow()
        )
    assert refused.value.fields == {"change_note": ["Say what the amendment changes, and why."]}
    db.session.rollback()
    assert actions_after(before) == []
    assert [version.title for version in versions_of(world.submitted)] == ["Submitted one"]


# --- ledger entries, exactly ----------------------------------------------------------------------------------------


def test_each_proposal_change_writes_exactly_its_ledger_entries_and_the_ledger_verifies(ctx: Flask) -> None:
    admin = make_user()
    circle = make_circle(admin)
    author = make_user(name="Ana")
    add_member(circle, author, ["member"], by=admin)
    round_ = make_round(circle, admin)
    now = utcnow()

    assert committed_actions(lambda: advance_round(admin, round_, "proposals", now)) == ["round.phase_changed"]
    made: list[Proposal] = []
    assert committed_actions(
        lambda: made.append(create_proposal(author, round_, sample_proposal(), submit=False, now=now))
    ) == ["proposal.created"]
    draft = made[0]
    assert committed_actions(
        lambda: update_proposal(author, draft, sample_proposal(body="Now with **details**."), change_note="", now=now)
    ) == ["proposal.draft_edited"]
    assert draft.current_version == 1
    assert committed_actions(lambda: submit_proposal(author, draft, now)) == ["proposal.submitted"]
    assert committed_actions(
        lambda: update_proposal(author, draft, sample_proposal(amount_minor=24_000), change_note="", now=now)
    ) == ["proposal.version_created"]
    assert committed_actions(
        lambda: made.append(create_proposal(author, round_, sample_proposal(title="Tool shed"), submit=True, now=now))
    ) == ["proposal.created", "proposal.submitted"]
    assert committed_actions(lambda: advance_round(admin, round_, "deliberation", now)) == ["round.phase_changed"]
    assert committed_actions(
        lambda: update_proposal(
            author, draft, sample_proposal(amount_minor=20_000), change_note="Cheaper shelves.", now=now
        )
    ) == ["proposal.amended"]
    assert committed_actions(lambda: withdraw_proposal(author, made[1], now)) == ["proposal.withdrawn"]

    entries = list(
        db.session.scalars(select(LedgerEntry).where(LedgerEntry.subject_type == "proposal").order_by(LedgerEntry.id))
    )
    created = entries[0]
    assert created.actor_id == author.id and created.subject_id == draft.id
    # A draft is its author's alone: its content reaches the (possibly public) ledger when it is submitted.
    assert created.data == {"round": round_.id, "version": 1, "draft": True}
    submitted = next(entry for entry in entries if entry.action == "proposal.submitted")
    assert submitted.data["version"] == 1 and submitted.data["amount_minor"] == 25_000
    assert submitted.data["body"] == "Now with **details**." and "body_html" not in submitted.data
    amended = next(entry for entry in entries if entry.action == "proposal.amended")
    assert amended.data["version"] == 3 and amended.data["change_note"] == "Cheaper shelves."
    assert amended.data["amount_minor"] == 20_000
    verify_ledger_from_cli(ctx)


def test_saving_a_proposal_unchanged_is_refused_and_writes_nothing(ctx: Flask) -> None:
    world = build_world("proposals")
    assert world.submitted is not None
    before = last_ledger_id()
    with pytest.raises(ValidationFailed, match="Nothing changed"):
        update_proposal(
            world.people["author"],
            world.submitted,
            sample_proposal(title="Submitted one"),
            change_note="",
            now=utcnow(),
        )
    db.session.rollback()
    assert actions_after(before) == []


# --- versions -------------------------------------------------------------------------------------------------------


def test_a_draft_changes_in_place_and_each_edit_after_submission_is_a_new_version(ctx: Flask) -> None:
    world = build_world("proposals")
    author, draft = world.people["author"], world.draft
    assert draft is not None
    now = utcnow()
    update_proposal(author, draft, sample_proposal(title="Draft, better"), change_note="", now=now)
    db.session.commit()
    assert [(v.number, v.title) for v in versions_of(draft)] == [(1, "Draft, better")]
    submit_proposal(author, draft, now)
    update_proposal(author, draft, sample_proposal(title="Draft, v2"), change_note="Clearer title", now=now)
    db.session.commit()
    move_round(world.round, world.admin, "deliberation")
    update_proposal(author, draft, sample_proposal(title="Draft, v3", amount_minor=1_000), change_note="Less", now=now)
    db.session.commit()
    assert [(v.number, v.title, v.change_note) for v in versions_of(draft)] == [
        (1, "Draft, better", ""),
        (2, "Draft, v2", "Clearer title"),
        (3, "Draft, v3", "Less"),
    ]
    assert draft.current_version == 3
    assert versions_of(draft)[-1].amount_minor == 1_000


# --- limits ---------------------------------------------------------------------------------------------------------


def _open_round(**round_settings: Any) -> tuple[Round, User, User]:
    admin = make_user()
    circle = make_circle(admin)
    author = make_user()
    add_member(circle, author, ["member"], by=admin)
    round_ = make_round(circle, admin, **round_settings)
    move_round(round_, admin, "proposals")
    return round_, admin, author


def _refusal(round_: Round, author: User, **content: Any) -> ValidationFailed:
    with pytest.raises(ValidationFailed) as refused:
        create_proposal(author, round_, sample_proposal(**content), submit=True, now=utcnow())
    db.session.rollback()
    return refused.value


@pytest.mark.parametrize(
    ("content", "field", "message"),
    [
        ({"title": "x" * 121}, "title", "Use at most 120 characters (this one has 121)."),
        ({"title": "   "}, "title", "Enter a title."),
        ({"summary": "two\nlines"}, "summary", "Keep the summary to one line of at most 300 characters."),
        ({"body": "y" * 20_001}, "body", "Use at most 20,000 characters (this one has 20,001)."),
        ({"amount_minor": 40_001}, "amount_minor", "Ask for at most 400.00 EUR, the round's cap per proposal."),
        ({"amount_minor": 0}, "amount_minor", "Ask for an amount above 0."),
        ({"category": "Food"}, "category", "Choose one of the round's categories: Learning, Tools."),
        ({"category": None}, "category", "Choose one of the round's categories: Learning, Tools."),
        (
            {"payee_slug": "seed-library", "payee_name": "Ana", "payee_email": "ana@example.org"},
            "payee",
            "Give either an Open Collective account, or a name and e-mail address, not both.",
        ),
        (
            {"payee_slug": None},
            "payee",
            "Say who is paid: an Open Collective account, or a person's name and e-mail address.",
        ),
        ({"payee_slug": None, "payee_name": "Ana"}, "payee", "Say who is paid"),
        ({"payee_slug": "Not A Slug"}, "payee_slug", "An Open Collective account is its short name"),
    ],
)
def test_invalid_content_is_refused_naming_the_field_with_a_clear_message(
    ctx: Flask, content: dict[str, Any], field: str, message: str
) -> None:
    round_, _, author = _open_round()
    error = _refusal(round_, author, **content)
    assert list(error.fields) == [field]
    assert error.fields[field][0].startswith(message)


def test_the_limits_themselves_are_allowed(ctx: Flask) -> None:
    round_, _, author = _open_round()
    proposal = create_proposal(
        author,
        round_,
        sample_proposal(title="t" * 120, body="b" * 20_000, amount_minor=40_000),
        submit=True,
        now=utcnow(),
    )
    db.session.commit()
    assert proposal.status == "submitted"


def test_every_faulty_field_is_named_at_once(ctx: Flask) -> None:
    round_, _, author = _open_round()
    error = _refusal(round_, author, title="x" * 121, body="", amount_minor=10**9, category="Food", payee_slug=None)
    assert set(error.fields) == {"title", "body", "amount_minor", "category", "payee"}


def test_a_member_may_have_only_the_rounds_number_of_proposals_and_withdrawn_ones_do_not_count(ctx: Flask) -> None:
    round_, _, author = _open_round(max_proposals_per_member=2)
    first = make_proposal(round_, author, title="One")
    make_proposal(round_, author, title="Two", submit=False)
    error = _refusal(round_, author, title="Three")
    assert error.message == (
        "You have 2 proposals in this round, the most a member may have. Withdraw one to add another."
    )
    withdraw_proposal(author, first, utcnow())
    db.session.commit()
    assert make_proposal(round_, author, title="Three").status == "submitted"


def test_a_round_without_categories_refuses_a_category(ctx: Flask) -> None:
    round_, _, author = _open_round(categories=[])
    error = _refusal(round_, author, category="Tools")
    assert error.fields == {"category": ["This round has no categories."]}
    assert make_proposal(round_, author, category=None).status == "submitted"


def test_an_invited_payee_is_kept_with_a_normalised_address(ctx: Flask) -> None:
    round_, _, author = _open_round()
    proposal = make_proposal(round_, author, payee_slug=None, payee_name=" Ana Lima ", payee_email="Ana@Example.ORG")
    version = db.session.scalars(select(ProposalVersion).where(ProposalVersion.proposal_id == proposal.id)).one()
    assert (version.payee_slug, version.payee_name, version.payee_email) == (None, "Ana Lima", "ana@example.org")


def test_drafts_are_listed_only_to_their_author(ctx: Flask) -> None:
    round_, admin, author = _open_round()
    make_proposal(round_, author, title="Public one")
    make_proposal(round_, author, title="Secret draft", submit=False)
    assert sorted(row.title for row in list_proposals(round_, author)) == ["Public one", "Secret draft"]
    assert [row.title for row in list_proposals(round_, admin)] == ["Public one"]


# --- deadlines ------------------------------------------------------------------------------------------------------


@pytest.fixture
def deadline_world(app: Flask) -> Iterator[Callable[..., tuple[int, str]]]:
    """Makes an open round with the given deadlines (relative to now) and a member; returns (round id, e-mail)."""

    def make(
        proposals_in: timedelta, deliberation_in: timedelta, title: str = "Spring micro-grants"
    ) -> tuple[int, str]:
        with app.app_context():
            admin = make_user()
            circle = make_circle(admin)
            member = make_user()
            add_member(circle, member, ["member"], by=admin)
            now = utcnow()
            round_ = make_round(
                circle,
                admin,
                title=title,
                proposals_close_at=now + proposals_in,
                deliberation_close_at=now + deliberation_in,
                deciding_close_at=now + timedelta(days=30),
            )
            advance_round(admin, round_, "proposals", now)
            db.session.commit()
            return round_.id, member.email

    yield make


def _phase_of(app: Flask, round_id: int) -> str:
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        return round_.phase


def _ledger_mark(app: Flask) -> int:
    with app.app_context():
        return last_ledger_id()


def _phase_changes_after(app: Flask, mark: int) -> list[tuple[int | None, dict[str, Any]]]:
    with app.app_context():
        return [(entry.actor_id, entry.data) for entry in entries_after(mark) if entry.action == "round.phase_changed"]


def _tick(app: Flask) -> str:
    """What the circle's cron does every few minutes."""
    result = app.test_cli_runner().invoke(args=["rounds", "tick"])
    assert result.exit_code == 0, result.output
    return str(result.output)


def test_a_round_past_its_proposals_deadline_shows_deliberation_at_once_and_rounds_tick_stores_the_move(
    app: Flask, client: Client, deadline_world: Callable[..., tuple[int, str]]
) -> None:
    round_id, email = deadline_world(-timedelta(minutes=1), timedelta(days=7))
    client.login(email)
    mark = _ledger_mark(app)
    page = client.get(f"/rounds/{round_id}")
    assert page.status_code == 200
    assert "Now: Deliberation" in page.get_data(as_text=True)
    # the page moved nothing: the stored phase waits for the tick, and the ledger has no new entry
    assert _phase_of(app, round_id) == "proposals"
    with app.app_context():
        assert actions_after(mark) == []
    assert _tick(app).endswith("1 round(s) moved on.\n")
    assert _phase_of(app, round_id) == "deliberation"
    with app.app_context():
        assert actions_after(mark) == ["round.phase_changed"]
    assert _phase_changes_after(app, mark) == [(None, {"from": "proposals", "to": "deliberation", "by": "deadline"})]
    assert "Now: Deliberation" in client.get(f"/rounds/{round_id}").get_data(as_text=True)
    assert _tick(app) == "0 round(s) moved on.\n"
    assert _phase_changes_after(app, mark) == [(None, {"from": "proposals", "to": "deliberation", "by": "deadline"})]
    verify_ledger_from_cli(app)


def test_a_proposal_page_offers_an_amendment_as_soon_as_the_proposals_deadline_passes(
    app: Flask, client: Client, deadline_world: Callable[..., tuple[int, str]]
) -> None:
    round_id, email = deadline_world(timedelta(days=1), timedelta(days=7))
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        member = db.session.scalars(select(User).where(User.email == email)).one()
        assert round_ is not None
        proposal_id = make_proposal(round_, member).id
        round_.proposals_close_at = utcnow() - timedelta(seconds=1)  # time passes
        db.session.commit()
    client.login(email)
    page = client.get(f"/proposals/{proposal_id}")
    assert page.status_code == 200
    assert ">Amend<" in page.get_data(as_text=True)
    assert _phase_of(app, round_id) == "proposals"  # no tick ran, and the page did not move the round


def test_a_round_whose_two_deadlines_passed_shows_deciding_and_moves_through_two_phases_on_one_tick(
    app: Flask, client: Client, deadline_world: Callable[..., tuple[int, str]]
) -> None:
    round_id, email = deadline_world(-timedelta(hours=2), -timedelta(hours=1))
    client.login(email)
    mark = _ledger_mark(app)
    page = client.get(f"/rounds/{round_id}")
    assert page.status_code == 200 and "Now: Deciding" in page.get_data(as_text=True)
    assert _phase_of(app, round_id) == "proposals"
    assert _phase_changes_after(app, mark) == []
    _tick(app)
    assert _phase_of(app, round_id) == "deciding"
    assert _phase_changes_after(app, mark) == [
        (None, {"from": "proposals", "to": "deliberation", "by": "deadline"}),
        (None, {"from": "deliberation", "to": "deciding", "by": "deadline"}),
    ]
    verify_ledger_from_cli(app)


def test_nothing_moves_before_the_deadline(
    app: Flask, client: Client, deadline_world: Callable[..., tuple[int, str]]
) -> None:
    round_id, email = deadline_world(timedelta(minutes=1), timedelta(days=7))
    client.login(email)
    mark = _ledger_mark(app)
    page = client.get(f"/rounds/{round_id}")
    assert "Now: Open for proposals" in page.get_data(as_text=True)
    assert _phase_of(app, round_id) == "proposals"
    assert _phase_changes_after(app, mark) == []
    result = app.test_cli_runner().invoke(args=["rounds", "tick"])
    assert result.exit_code == 0, result.output
    assert result.output == "0 round(s) moved on.\n"
    assert _phase_of(app, round_id) == "proposals"


def test_a_round_without_deadlines_never_moves_by_itself(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user()
        round_ = make_round(
            make_circle(admin), admin, proposals_close_at=None, deliberation_close_at=None, deciding_close_at=None
        )
        move_round(round_, admin, "proposals")
        round_id, email = round_.id, admin.email
    client.login(email)
    assert client.get(f"/rounds/{round_id}").status_code == 200
    assert app.test_cli_runner().invoke(args=["rounds", "tick"]).output == "0 round(s) moved on.\n"
    assert _phase_of(app, round_id) == "proposals"


def test_rounds_tick_moves_every_due_round_and_prints_what_it_moved(
    app: Flask, deadline_world: Callable[..., tuple[int, str]]
) -> None:
    one, _ = deadline_world(-timedelta(minutes=5), timedelta(days=7), title="Due once")
    two, _ = deadline_world(-timedelta(hours=2), -timedelta(hours=1), title="Due twice")
    waiting, _ = deadline_world(timedelta(hours=1), timedelta(days=7), title="Not yet")
    mark = _ledger_mark(app)
    result = app.test_cli_runner().invoke(args=["rounds", "tick"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        f"Due once (round {one}): now Deliberation",
        f"Due twice (round {two}): now Deciding",
        "2 round(s) moved on.",
    ]
    assert (_phase_of(app, one), _phase_of(app, two), _phase_of(app, waiting)) == (
        "deliberation",
        "deciding",
        "proposals",
    )
    changes = _phase_changes_after(app, mark)
    assert len(changes) == 3 and all(actor is None and data["by"] == "deadline" for actor, data in changes)
    again = app.test_cli_runner().invoke(args=["rounds", "tick"])
    assert again.output == "0 round(s) moved on.\n"
    assert len(_phase_changes_after(app, mark)) == 3
    verify_ledger_from_cli(app)


def test_after_its_deadline_a_round_takes_no_new_proposals_even_before_anyone_looked(
    app: Flask, client: Client, deadline_world: Callable[..., tuple[int, str]]
) -> None:
    round_id, email = deadline_world(-timedelta(seconds=1), timedelta(days=7))
    client.login(email)
    mark = _ledger_mark(app)
    response = client.post_form(
        f"/rounds/{round_id}/proposals/new",
        {
            "title": "Late",
            "summary": "Too late.",
            "body": "Body",
            "amount": "10",
            "category": "Tools",
            "payee_kind": "account",
            "payee_slug": "late",
            "action": "submit",
        },
    )
    assert response.status_code == 302 and response.location.endswith(f"/rounds/{round_id}")
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Proposal)) == 0
        assert actions_after(mark) == []
        closed_at = db.session.get(Round, round_id).proposals_close_at
    page = client.get(f"/rounds/{round_id}").get_data(as_text=True)
    assert f"The round is not open for proposals: proposals closed at {format_time(closed_at)}." in page
    assert _phase_of(app, round_id) == "proposals"  # refused by its deadline, not by a tick


def test_a_draft_cannot_be_submitted_after_the_proposals_deadline_though_no_tick_ran(
    app: Flask, client: Client, deadline_world: Callable[..., tuple[int, str]]
) -> None:
    round_id, email = deadline_world(timedelta(hours=1), timedelta(days=7))
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        member = db.session.scalars(select(User).where(User.email == email)).one()
        draft_id = make_proposal(round_, member, submit=False).id
        round_ = db.session.get(Round, round_id)
        round_.proposals_close_at = closed_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    client.login(email)
    mark = _ledger_mark(app)
    response = client.post_form(f"/proposals/{draft_id}/submit")
    assert response.status_code == 302
    page = client.get(f"/proposals/{draft_id}").get_data(as_text=True)
    assert f"The round is not open for proposals: proposals closed at {format_time(closed_at)}." in page
    with app.app_context():
        assert db.session.get(Proposal, draft_id).status == "draft"
        assert actions_after(mark) == []


def test_the_api_refuses_a_proposal_after_the_proposals_deadline_though_no_tick_ran(
    app: Flask, client: Client, deadline_world: Callable[..., tuple[int, str]]
) -> None:
    round_id, email = deadline_world(-timedelta(seconds=1), timedelta(days=7))
    with app.app_context():
        token = make_token(db.session.scalars(select(User).where(User.email == email)).one())
        closed_at = db.session.get(Round, round_id).proposals_close_at
    mark = _ledger_mark(app)
    body = {
        "title": "Late",
        "summary": "Too late.",
        "body": "Body",
        "amount_minor": 1000,
        "category": "Tools",
        "payee": {"slug": "late"},
        "submit": True,
    }
    response = client.json_call("POST", f"/api/v1/rounds/{round_id}/proposals", body, token=token)
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["error"] == {
        "code": "conflict",
        "message": f"The round is not open for proposals: proposals closed at {format_time(closed_at)}.",
        "fields": {},
    }
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Proposal)) == 0
        assert actions_after(mark) == []
    assert _phase_of(app, round_id) == "proposals"
