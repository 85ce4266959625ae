"""Rotating circles through the services, on both databases: who may open, volunteer, withdraw and draw; the seed
fixed when the call opens; the draw re-run from its ledger entry alone; the deciding role given and taken back in
the draw's own transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from flask import Flask
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.circles import rotation
from fundcircle.circles.models import Circle, Membership, RotationTerm
from fundcircle.circles.services import set_member_roles
from fundcircle.circles.sortition import check_entry
from fundcircle.db import utcnow
from fundcircle.errors import Conflict, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerChain, LedgerEntry
from fundcircle.ledger.reading import verify_ledger
from fundcircle.payouts.services import close_round_if_settled
from fundcircle.rounds.services import advance_round
from fundcircle.unit_of_work import commit
from tests.factories import add_member, make_circle, make_round, make_user


def _roles(circle: Circle, user: User) -> set[str]:
    membership = db.session.scalar(
        select(Membership)
        .where(Membership.circle_id == circle.id, Membership.user_id == user.id)
        .execution_options(populate_existing=True)
    )
    assert membership is not None
    return set(membership.roles)


def _entries(circle: Circle, action: str) -> list[LedgerEntry]:
    chain = db.session.scalar(select(LedgerChain).where(LedgerChain.circle_id == circle.id))
    assert chain is not None
    return list(
        db.session.scalars(
            select(LedgerEntry)
            .where(LedgerEntry.chain_id == chain.id, LedgerEntry.action == action)
            .order_by(LedgerEntry.seq)
        )
    )


def _ledger_ok(circle: Circle) -> bool:
    """The chain verifies, and the circle's tables agree with what its entries say."""
    return all(report.result.ok and report.mismatch is None for report in verify_ledger([circle.id]))


class World:
    def __init__(self) -> None:
        self.admin = make_user(superuser=True)
        self.circle = make_circle(self.admin)
        self.members = [make_user() for _ in range(5)]
        for person in self.members:
            add_member(self.circle, person, ["member"], by=self.admin)
        self.outsider = make_user()
        self.now = utcnow()

    def open(self, seats: int = 2, share: int = 0, term_days: int = 90) -> None:
        rotation.open_volunteer_call(
            self.admin,
            self.circle,
            rotation.CallInput(
                seats=seats, term_days=term_days, closes_at=self.now + timedelta(days=7), newcomer_share_percent=share
            ),
            self.now,
        )
        commit()

    def after_close(self) -> datetime:
        return self.now + timedelta(days=7, seconds=1)


@pytest.fixture
def world(ctx: Flask) -> World:
    return World()


def test_only_an_admin_opens_a_call_and_its_seed_is_the_ledger_head_before_it(world: World) -> None:
    with pytest.raises(PermissionDenied):
        rotation.open_volunteer_call(
            world.members[0],
            world.circle,
            rotation.CallInput(seats=2, term_days=30, closes_at=world.now + timedelta(days=1)),
            world.now,
        )
    db.session.rollback()
    chain = db.session.scalar(select(LedgerChain).where(LedgerChain.circle_id == world.circle.id))
    assert chain is not None
    head_before = chain.head_hash
    world.open()
    opened = _entries(world.circle, "rotation.call_opened")
    assert len(opened) == 1
    assert opened[0].data["seed"] == head_before == opened[0].prev_hash
    call = rotation.open_call(world.circle)
    assert call is not None and call.seed == head_before


@pytest.mark.parametrize(
    ("seats", "term_days", "closes_in", "share", "field"),
    [
        (0, 30, timedelta(days=1), 0, "seats"),
        (51, 30, timedelta(days=1), 0, "seats"),
        (2, 0, timedelta(days=1), 0, "term_days"),
        (2, 30, -timedelta(minutes=1), 0, "closes_at"),
        (2, 30, timedelta(days=400), 0, "closes_at"),
        (2, 30, timedelta(days=1), 70, "newcomer_share"),
    ],
)
def test_a_call_out_of_range_is_refused_on_its_field(
    world: World, seats: int, term_days: int, closes_in: timedelta, share: int, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        rotation.open_volunteer_call(
            world.admin,
            world.circle,
            rotation.CallInput(seats, term_days, world.now + closes_in, share),
            world.now,
        )
    assert refused.value.field == field


def test_a_second_open_call_is_refused(world: World) -> None:
    world.open()
    with pytest.raises(Conflict):
        world.open()


def test_members_volunteer_and_withdraw_until_it_closes_and_outsiders_cannot(world: World) -> None:
    with pytest.raises(Conflict):
        rotation.volunteer(world.members[0], world.circle, world.now)  # no call yet
    db.session.rollback()
    world.open()
    with pytest.raises(PermissionDenied):
        rotation.volunteer(world.outsider, world.circle, world.now)
    db.session.rollback()
    rotation.volunteer(world.members[0], world.circle, world.now)
    commit()
    with pytest.raises(Conflict):
        rotation.volunteer(world.members[0], world.circle, world.now)
    db.session.rollback()
    rotation.withdraw(world.members[0], world.circle, world.now)
    commit()
    with pytest.raises(Conflict):
        rotation.withdraw(world.members[0], world.circle, world.now)
    db.session.rollback()
    with pytest.raises(Conflict):
        rotation.volunteer(world.members[1], world.circle, world.after_close())
    db.session.rollback()
    actions = [entry.action for entry in _entries(world.circle, "rotation.volunteered")]
    assert actions == ["rotation.volunteered"]
    assert len(_entries(world.circle, "rotation.withdrew")) == 1


def test_only_an_admin_draws_and_only_after_the_close(world: World) -> None:
    world.open()
    for person in world.members[:3]:
        rotation.volunteer(person, world.circle, world.now)
    commit()
    with pytest.raises(Conflict):
        rotation.draw_call(world.admin, world.circle, world.now + timedelta(days=1))
    db.session.rollback()
    with pytest.raises(PermissionDenied):
        rotation.draw_call(world.members[0], world.circle, world.after_close())
    db.session.rollback()
    rotation.draw_call(world.admin, world.circle, world.after_close())
    commit()
    with pytest.raises(Conflict):
        rotation.draw_call(world.admin, world.circle, world.after_close())


def test_the_draw_is_reproducible_from_its_ledger_entry_alone_and_grants_the_role(world: World) -> None:
    world.open(seats=2)
    for person in world.members[:4]:
        rotation.volunteer(person, world.circle, world.now)
    commit()
    call = rotation.draw_call(world.admin, world.circle, world.after_close())
    commit()
    [entry] = _entries(world.circle, "rotation.drawn")
    assert entry.seq == call.draw_seq
    # Only what the ledger holds, as JSON: no database row read.
    check = check_entry({"data": entry.data})
    assert check.matches and len(check.recorded) == 2
    assert [v["user"] for v in entry.data["volunteers"]] == sorted(p.id for p in world.members[:4])
    assert entry.data["seed"] == _entries(world.circle, "rotation.call_opened")[0].data["seed"]
    chosen = set(entry.data["chosen"])
    for person in world.members:
        assert ("circle" in _roles(world.circle, person)) == (person.id in chosen)
    grants = _entries(world.circle, "member.roles_changed")
    assert {g.data["user"] for g in grants} == chosen
    assert all(g.seq > entry.seq for g in grants)
    assert _ledger_ok(world.circle)


def test_terms_end_at_the_next_draw_or_the_worker_tick_and_take_the_role_back(world: World) -> None:
    world.open(seats=2, term_days=10)
    for person in world.members[:2]:
        rotation.volunteer(person, world.circle, world.now)
    commit()
    rotation.draw_call(world.admin, world.circle, world.after_close())
    commit()
    first = set(_entries(world.circle, "rotation.drawn")[0].data["chosen"])
    assert first == {world.members[0].id, world.members[1].id}
    # A second call with new volunteers and half newcomers; the first term has ended by its draw.
    world.now = world.after_close() + timedelta(days=11)
    world.open(seats=2, share=50, term_days=10)
    for person in world.members[1:4]:
        rotation.volunteer(person, world.circle, world.now)
    commit()
    rotation.draw_call(None, world.circle, world.after_close())  # the worker
    commit()
    second = _entries(world.circle, "rotation.drawn")[1]
    assert check_entry({"data": second.data}).matches
    assert {v["user"]: v["served_before"] for v in second.data["volunteers"]}[world.members[1].id] is True
    newcomers = {world.members[2].id, world.members[3].id}
    assert newcomers & set(second.data["chosen"])
    assert "circle" not in _roles(world.circle, world.members[0])
    for person in world.members[1:4]:
        assert ("circle" in _roles(world.circle, person)) == (person.id in second.data["chosen"])
    ended = _entries(world.circle, "rotation.term_ended")
    assert {e.data["user"] for e in ended} == first
    # The worker's tick ends the second terms when they are up.
    later = world.after_close() + timedelta(days=11)
    assert rotation.draw_due_calls(later) == 0
    commit()
    for person in world.members:
        assert "circle" not in _roles(world.circle, person)
    assert all(t.ended_at is not None for t in db.session.scalars(select(RotationTerm)))
    assert _ledger_ok(world.circle)


def test_the_worker_draws_a_call_once_it_closes(world: World) -> None:
    world.open(seats=1)
    rotation.volunteer(world.members[0], world.circle, world.now)
    commit()
    assert rotation.draw_due_calls(world.now + timedelta(days=1)) == 0
    assert rotation.draw_due_calls(world.after_close()) == 1
    commit()
    assert "circle" in _roles(world.circle, world.members[0])
    assert rotation.open_call(world.circle) is None


def test_an_admin_given_deciding_member_keeps_the_role_after_a_drawn_term(world: World) -> None:
    set_member_roles(world.admin, world.circle, world.members[0].id, ["member", "circle"])
    commit()
    world.open(seats=1, term_days=1)
    rotation.volunteer(world.members[0], world.circle, world.now)
    commit()
    rotation.draw_call(world.admin, world.circle, world.after_close())
    commit()
    rotation.draw_due_calls(world.after_close() + timedelta(days=2))
    commit()
    assert "circle" in _roles(world.circle, world.members[0])


def test_a_failed_draw_changes_nothing(world: World) -> None:
    world.open(seats=2)
    rotation.volunteer(world.members[0], world.circle, world.now)
    commit()
    seq_before = len(_entries(world.circle, "rotation.drawn"))
    with pytest.raises(PermissionDenied):
        rotation.draw_call(world.outsider, world.circle, world.after_close())
    db.session.rollback()
    assert len(_entries(world.circle, "rotation.drawn")) == seq_before == 0
    assert "circle" not in _roles(world.circle, world.members[0])


def _close_a_round(world: World, at: datetime) -> None:
    round_ = make_round(world.circle, world.admin)
    for phase in ("proposals", "deliberation", "deciding", "decided", "closed"):
        advance_round(world.admin, round_, phase, at)
    commit()


def _open_in_rounds(world: World, term_rounds: int, seats: int = 2) -> None:
    rotation.open_volunteer_call(
        world.admin,
        world.circle,
        rotation.CallInput(
            seats=seats, term_days=None, closes_at=world.now + timedelta(days=7), term_rounds=term_rounds
        ),
        world.now,
    )
    commit()


def test_a_term_of_two_rounds_ends_when_the_second_round_closes_and_takes_the_role_back(world: World) -> None:
    _open_in_rounds(world, term_rounds=2)
    for person in world.members[:2]:
        rotation.volunteer(person, world.circle, world.now)
    commit()
    drawn_at = world.after_close()
    rotation.draw_call(world.admin, world.circle, drawn_at)
    commit()
    assert _entries(world.circle, "rotation.drawn")[0].data["term_rounds"] == 2
    terms = rotation.serving_terms(world.circle)
    assert [(t.ends_at, t.term_rounds, t.rounds_closed) for t in terms] == [(None, 2, 0), (None, 2, 0)]
    # Time alone ends no term in rounds: the worker's tick years later leaves them running.
    assert rotation.draw_due_calls(drawn_at + timedelta(days=3650)) == 0
    commit()
    assert len(rotation.serving_terms(world.circle)) == 2
    _close_a_round(world, drawn_at + timedelta(days=1))
    assert [t.rounds_closed for t in rotation.serving_terms(world.circle)] == [1, 1]
    for person in world.members[:2]:
        assert "circle" in _roles(world.circle, person)
    _close_a_round(world, drawn_at + timedelta(days=2))
    assert rotation.serving_terms(world.circle) == []
    for person in world.members[:2]:
        assert "circle" not in _roles(world.circle, person)
    ended = _entries(world.circle, "rotation.term_ended")
    assert {e.data["user"] for e in ended} == {p.id for p in world.members[:2]}
    assert all(e.data["rounds_closed"] == 2 for e in ended)
    assert len(_entries(world.circle, "rotation.round_counted")) == 2
    assert _ledger_ok(world.circle)


def test_a_round_closed_by_the_payouts_settling_counts_too(world: World) -> None:
    _open_in_rounds(world, term_rounds=1, seats=1)
    rotation.volunteer(world.members[0], world.circle, world.now)
    commit()
    rotation.draw_call(None, world.circle, world.after_close())
    commit()
    round_ = make_round(world.circle, world.admin)
    for phase in ("proposals", "deliberation", "deciding", "decided"):
        advance_round(world.admin, round_, phase, world.after_close())
    commit()
    assert close_round_if_settled(round_.id, world.after_close() + timedelta(hours=1))
    commit()
    assert rotation.serving_terms(world.circle) == []
    assert "circle" not in _roles(world.circle, world.members[0])


@pytest.mark.parametrize(
    ("term_days", "term_rounds", "field"),
    [(None, None, "term_days"), (30, 2, "term_days"), (None, 0, "term_rounds"), (None, 13, "term_rounds")],
)
def test_a_call_sets_its_term_in_days_or_in_one_to_twelve_rounds(
    world: World, term_days: int | None, term_rounds: int | None, field: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        rotation.open_volunteer_call(
            world.admin,
            world.circle,
            rotation.CallInput(2, term_days, world.now + timedelta(days=1), term_rounds=term_rounds),
            world.now,
        )
    assert refused.value.field == field
    db.session.rollback()
    assert rotation.open_call(world.circle) is None


def test_only_an_admin_opens_a_call_in_rounds(world: World) -> None:
    with pytest.raises(PermissionDenied):
        rotation.open_volunteer_call(
            world.members[0],
            world.circle,
            rotation.CallInput(2, None, world.now + timedelta(days=1), term_rounds=3),
            world.now,
        )
