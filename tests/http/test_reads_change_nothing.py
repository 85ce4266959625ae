"""A GET changes nothing: every page and API read of a circle whose rounds are past their deadlines, as each kind of
person, writes no row, and no round moves until `rounds tick` moves it.

The routes come from the app's URL map, so a new GET route is requested here as soon as it exists; one whose URL
arguments this world cannot fill fails the test until it gets a sample value (or a reason in UNFILLABLE).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from fundcircle.attachments.services import Upload, attach_file
from fundcircle.auth.services import request_email_change, request_password_reset
from fundcircle.auth.totp import start_enrolment
from fundcircle.circles import rotation
from fundcircle.circles.joining import accept_request, ask_to_join, set_accepts_join_requests
from fundcircle.circles.services import invite_member
from fundcircle.consent.services import answer_consent, close_consent_round, open_consent_round
from fundcircle.db import utcnow
from fundcircle.deliberation.services import add_comment
from fundcircle.extensions import db
from fundcircle.learning.services import write_report
from fundcircle.outbox import unsubscribe_url
from fundcircle.payouts.models import Payout
from fundcircle.proposals.services import create_proposal, update_proposal
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting.services import cast_ballot
from tests.attachment_files import png_with_script
from tests.conftest import TEST_PASSWORD, Client
from tests.factories import (
    add_member,
    connect_circle,
    make_circle,
    make_funded_round,
    make_round,
    make_token,
    make_user,
    sample_proposal,
)

#: The people who read: signed in (pages with their session, the API with their token) and a visitor, since the
#: circle is public.
ROLES = {"admin": None, "author": ["member"], "decider": ["member", "circle"], "treasurer": ["member", "treasurer"]}
VISITOR = "visitor"
#: URL arguments that no sample value can fill, each with the reason it needs none. Empty: every GET route is read.
UNFILLABLE: dict[str, str] = {}
#: Query strings without which a route answers only "missing parameter".
QUERY_STRINGS = {
    "ledger_api.read_inclusion_proof": "?seq=1&size=2",
    "ledger_api.read_consistency_proof": "?from=1&to=2",
    # Without them these pages show only their form or the chain: with them, a receipt is looked up and an entry's
    # checkpoint is shown.
    "ledger.receipt": "?code=0123-4567-89",
    "ledger.technical": "?seq=2",
    # The confirmation page of a move: without `to` it only says which moves there are.
    "rounds.advance": "?to=cancelled",
}
#: Statements that change a database. Anything else (SELECT, BEGIN, SAVEPOINT, PRAGMA of the connection set-up) reads.
WRITE_STATEMENT = re.compile(r"^\s*(INSERT|UPDATE|DELETE|REPLACE|UPSERT|MERGE|CREATE|ALTER|DROP|TRUNCATE)\b", re.I)
ARGUMENT = re.compile(r"<(?:[a-z]+(?:\([^)]*\))?:)?([a-z_]+)>")


@dataclass
class PastDeadlines:
    """One public circle. Its rounds, with nobody having run `rounds tick`:

    - "voting": stored in proposals, but all three deadlines passed: proposals (one amended, one draft), a question
      and its answer, a ballot saved while it was deciding. Really: deciding closed, awaiting the count.
    - "consent": stored in deciding (the admin moved it), its deadline passed, one consent round open with an
      objection and one closed as consented. Really: awaiting the count.
    - "talk": stored in proposals, its proposals deadline passed. Really: deliberation.
    - "draft": a draft whose deadlines all passed (only admins see it).
    - "paid": decided by the admin, with a payout awaiting approval, and an Open Collective connection that answers
      nothing (port 9).
    """

    circle_id: int
    rounds: dict[str, int]
    values: dict[str, list[Any]]
    emails: dict[str, str]
    tokens: dict[str, str]
    phases: dict[int, str] = field(default_factory=dict)


def _deadlines(round_: Round, *, proposals: timedelta, deliberation: timedelta, deciding: timedelta) -> None:
    """Time passes (or not yet) for the round: its deadlines relative to now."""
    now = utcnow()
    round_.proposals_close_at = now + proposals
    round_.deliberation_close_at = now + deliberation
    round_.deciding_close_at = now + deciding
    db.session.commit()


ALL_PASSED = {"proposals": -timedelta(hours=3), "deliberation": -timedelta(hours=2), "deciding": -timedelta(minutes=1)}


def _build() -> PastDeadlines:
    now = utcnow()
    admin = make_user(name="Admin")
    circle = make_circle(admin, public=True, name="Riverside Fund")
    people = {"admin": admin}
    # The circle takes requests to join: the author joined by one (their request is read), another still waits.
    set_accepts_join_requests(admin, circle, True)
    for actor, roles in ROLES.items():
        if roles is not None:
            people[actor] = make_user(name=actor.title())
            if actor == "author":
                asked = ask_to_join(people[actor], circle, "I would like to join.", now)
                accept_request(admin, circle, asked.id, now)
                db.session.commit()
            else:
                add_member(circle, people[actor], roles, by=admin)
    ask_to_join(make_user(name="Asking Person"), circle, "Me too, please.", now)
    db.session.commit()
    author, decider = people["author"], people["decider"]

    voting = make_round(circle, admin, title="Voting closed", quorum_percent=0)
    advance_round(admin, voting, "proposals", now)
    seeds = create_proposal(author, voting, sample_proposal(title="Seed library"), submit=True, now=now)
    tools = create_proposal(
        author, voting, sample_proposal(title="Tool shed", amount_minor=10_000), submit=True, now=now
    )
    draft = create_proposal(author, voting, sample_proposal(title="Unfinished"), submit=False, now=now)
    question = add_comment(decider, seeds, "Why seeds?", parent_id=None, question=True, now=now)
    answer = add_comment(author, seeds, "They grow.", parent_id=question.id, question=False, now=now)
    update_proposal(author, seeds, sample_proposal(title="Seed library", amount_minor=20_000), change_note="Less",
                    now=now)  # fmt: skip
    # Files on a proposal, a comment and a draft: their downloads and lists are reads too.
    quote = attach_file(author, "proposal", seeds.id, Upload("quote.pdf", b"%PDF-1.4\n"), now=now)
    photo = attach_file(decider, "comment", question.id, Upload("seeds.png", png_with_script(), "Seeds"), now=now)
    sketch = attach_file(author, "proposal", draft.id, Upload("sketch.txt", b"a sketch\n"), now=now)
    db.session.commit()
    _deadlines(voting, proposals=-timedelta(hours=3), deliberation=-timedelta(hours=2), deciding=timedelta(hours=1))
    cast_ballot(decider, voting, {seeds.id: 2, tools.id: 1}, utcnow())  # deciding, though stored in proposals
    db.session.commit()
    _deadlines(voting, **ALL_PASSED)

    consent = make_round(circle, admin, method="consent", title="Consent closed", categories=[], quorum_percent=0)
    advance_round(admin, consent, "proposals", now)
    fridge = create_proposal(author, consent, sample_proposal(title="Fridge", category=None), submit=True, now=now)
    bench = create_proposal(author, consent, sample_proposal(title="Bench", category=None), submit=True, now=now)
    advance_round(admin, consent, "deliberation", now)
    advance_round(admin, consent, "deciding", now)
    still_open = open_consent_round(admin, fridge, now)
    answer_consent(decider, still_open, "objection", "Who cleans it?", now)
    closed = open_consent_round(admin, bench, now)
    answer_consent(decider, closed, "consent", "", now)
    close_consent_round(admin, closed, now)
    db.session.commit()
    _deadlines(consent, **ALL_PASSED)

    talk = make_round(circle, admin, title="Still talking")
    advance_round(admin, talk, "proposals", now)
    mural = create_proposal(author, talk, sample_proposal(title="Mural"), submit=True, now=now)
    remark = add_comment(decider, mural, "Bright colours, please.", parent_id=None, question=False, now=now)
    db.session.commit()
    _deadlines(talk, proposals=-timedelta(minutes=1), deliberation=timedelta(days=7), deciding=timedelta(days=14))

    draft_round = make_round(circle, admin, title="Never opened")
    _deadlines(draft_round, **ALL_PASSED)

    paid, (funded,) = make_funded_round(circle, admin, decider, [{"author": author}], title="Paid")
    connect_circle(circle, people["treasurer"], api_url="http://127.0.0.1:9/graphql/v2", slug="fund", token="t")
    payout = db.session.scalars(sa.select(Payout).where(Payout.proposal_id == funded.id)).one()
    # A paid proposal whose learning report is written: its pages show what is due from the payout, writing nothing.
    _, (reported,) = make_funded_round(circle, admin, decider, [{"author": author}], title="Told")
    db.session.execute(
        sa.update(Payout).where(Payout.proposal_id == reported.id).values(status="paid", status_changed_at=now)
    )
    report = write_report(author, reported, "final", ["It went well.", "", "", ""], now)
    db.session.commit()
    invitation = invite_member(admin, circle, email="newcomer@example.org", roles=["member"], now=now, valid_days=7)
    start_enrolment(admin, password=TEST_PASSWORD, now=now)  # so that the QR code of a set-up in progress exists
    # A password reset link and an address change waiting for its link, so that their pages are read too.
    reset_token = request_password_reset(author.email, now)
    email_change = request_email_change(
        admin, new_email="admin.new@example.org", password=TEST_PASSWORD, client_address="x", now=now
    )
    db.session.commit()
    assert invitation.token is not None and reset_token is not None
    # Rotation: a drawn call, and a second call whose close time passed without anyone drawing it (a read draws
    # nothing).
    hour = timedelta(hours=1)
    rotation.open_volunteer_call(admin, circle, rotation.CallInput(seats=1, term_days=1, closes_at=now + hour), now)
    rotation.volunteer(decider, circle, now)
    drawn_call = rotation.draw_call(admin, circle, now + 2 * hour)
    late_call = rotation.open_volunteer_call(
        admin, circle, rotation.CallInput(seats=1, term_days=1, closes_at=now + 3 * hour), now + 2 * hour
    )
    rotation.volunteer(author, circle, now + 2 * hour)
    late_call.closes_at = utcnow() - timedelta(minutes=1)
    db.session.commit()

    rounds = {"voting": voting.id, "consent": consent.id, "talk": talk.id, "draft": draft_round.id, "paid": paid.id}
    values: dict[str, list[Any]] = {
        "circle_id": [circle.id],
        "round_id": list(rounds.values()),
        "proposal_id": [seeds.id, tools.id, draft.id, fridge.id, bench.id, mural.id, funded.id, reported.id],
        "comment_id": [question.id, answer.id, remark.id],
        "consent_round_id": [still_open.id, closed.id],
        "payout_id": [payout.id],
        "user_id": [person.id for person in people.values()],
        # An invitation's token, and a notice mail's one-click unsubscribe link (both routes name it `token`).
        "token": [invitation.token, unsubscribe_url(author.id, "round.phase_changed").rsplit("/", 1)[1]],
        "reset_token": [reset_token],
        "email_token": [email_change.token],
        "invitation_id": [invitation.invitation.id],
        "filename": ["css/app.css"],
        "call_id": [drawn_call.id, late_call.id],
        "attachment_id": [quote.id, photo.id, sketch.id],
        "owner_kind": ["proposal", "comment"],
        "owner_id": [seeds.id, draft.id, question.id],
        "report_id": [report.id],
        "kind": ["final", "midway"],
    }
    return PastDeadlines(
        circle_id=circle.id,
        rounds=rounds,
        values=values,
        emails={actor: person.email for actor, person in people.items()},
        tokens={actor: make_token(person) for actor, person in people.items()},
    )


def _get_rules(app: Flask) -> list[tuple[str, str]]:
    return sorted((rule.endpoint, rule.rule) for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ()))


def _urls(rule: str, values: dict[str, list[Any]]) -> list[str]:
    names = ARGUMENT.findall(rule)
    missing = [name for name in names if name not in values and name not in UNFILLABLE]
    assert not missing, f"{rule}: no sample value for {missing}; add one to the world (or a reason to UNFILLABLE)"
    urls = []
    for combination in itertools.product(*(values[name] for name in names)):
        filled = dict(zip(names, combination, strict=True))
        urls.append(ARGUMENT.sub(lambda match, filled=filled: str(filled[match.group(1)]), rule))
    return urls


def _everything(app: Flask) -> dict[str, list[str]]:
    """Every row of every table, as text, sorted: a change anywhere shows."""
    with app.app_context(), db.engine.connect() as connection:
        return {
            table.name: sorted(repr(tuple(row)) for row in connection.execute(table.select()))
            for table in db.metadata.sorted_tables
        }


def _stored_phases(app: Flask, round_ids: list[int]) -> dict[int, str]:
    with app.app_context():
        return dict(db.session.execute(sa.select(Round.id, Round.phase).where(Round.id.in_(round_ids))).all())


@pytest.fixture
def world(app: Flask) -> PastDeadlines:
    with app.app_context():
        built = _build()
    built.phases = _stored_phases(app, list(built.rounds.values()))
    return built


@dataclass
class WriteLog:
    """Every write statement sent to the database, with the request being made when it was sent."""

    request: str = "(set-up)"
    writes: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def write_log(app: Flask) -> Iterator[WriteLog]:
    log = WriteLog()

    def note(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
        if WRITE_STATEMENT.match(statement):
            log.writes.append((log.request, " ".join(statement.split())[:200]))

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield log
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def test_every_get_of_a_circle_past_its_deadlines_writes_nothing_and_moves_no_round(
    app: Flask, world: PastDeadlines, write_log: WriteLog
) -> None:
    pages: dict[str, Client] = {}
    for actor in (*ROLES, VISITOR):
        pages[actor] = app.test_client()  # type: ignore[assignment]
        if actor != VISITOR:
            pages[actor].login(world.emails[actor])
    api: Client = app.test_client()  # type: ignore[assignment]  # no cookie: the token speaks
    before = _everything(app)
    write_log.writes.clear()  # log-ins write (sessions, the ledger); from here on only reads happen

    answered: dict[str, list[tuple[str, str, int]]] = {}
    for endpoint, rule in _get_rules(app):
        for url in _urls(rule, world.values):
            url += QUERY_STRINGS.get(endpoint, "")
            for actor in (*ROLES, VISITOR):
                write_log.request = f"{actor}: GET {url}"
                if rule.startswith("/api/"):
                    response = api.json_call("GET", url, token=world.tokens.get(actor))
                    if actor == "admin":  # the API read with a browser's session cookie too
                        pages[actor].get(url).close()
                else:
                    response = pages[actor].get(url)
                assert response.status_code < 500, f"{actor}: GET {url} gave {response.status_code}"
                answered.setdefault(endpoint, []).append((actor, url, response.status_code))
                response.close()

    assert write_log.writes == [], "a GET sent write statements to the database:\n" + "\n".join(
        f"{request}: {statement}" for request, statement in write_log.writes
    )
    after = _everything(app)
    changed = {table: (before[table], after[table]) for table in before if before[table] != after[table]}
    assert changed == {}, f"tables changed by GET requests: {sorted(changed)}"
    assert _stored_phases(app, list(world.rounds.values())) == world.phases
    # the requests were real reads: every GET route answered someone with a page (or a redirect), not only refusals
    unanswered = sorted(e for e, seen in answered.items() if not any(status < 400 for _, _, status in seen))
    assert unanswered == [], f"GET routes that refused everybody here, so read nothing: {unanswered}"


def test_pages_and_the_api_show_where_the_deadlines_put_the_rounds_and_rounds_tick_moves_them(
    app: Flask, world: PastDeadlines
) -> None:
    assert world.phases == {
        world.rounds["voting"]: "proposals",
        world.rounds["consent"]: "deciding",
        world.rounds["talk"]: "proposals",
        world.rounds["draft"]: "draft",
        world.rounds["paid"]: "decided",
    }
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(world.emails["decider"])
    shown = {}
    for name in ("voting", "consent", "talk", "paid"):
        page = client.get(f"/rounds/{world.rounds[name]}").get_data(as_text=True)
        shown[name] = re.search(r"<strong>Now: ([^<]+)</strong>", page).group(1)  # type: ignore[union-attr]
        read = client.json_call("GET", f"/api/v1/rounds/{world.rounds[name]}", token=world.tokens["decider"])
        shown[name] += " / " + read.get_json()["effective_phase"]
    assert shown == {
        "voting": "Deciding closed, awaiting the count / counting",
        "consent": "Deciding closed, awaiting the count / counting",
        "talk": "Deliberation / deliberation",
        "paid": "Decided / decided",
    }
    assert _stored_phases(app, list(world.rounds.values())) == world.phases

    result = app.test_cli_runner().invoke(args=["rounds", "tick"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "3 round(s) moved on."
    assert _stored_phases(app, list(world.rounds.values())) == {
        world.rounds["voting"]: "decided",
        world.rounds["consent"]: "decided",
        world.rounds["talk"]: "deliberation",
        world.rounds["draft"]: "draft",
        world.rounds["paid"]: "decided",
    }
    results = client.json_call("GET", f"/api/v1/rounds/{world.rounds['voting']}/results", token=world.tokens["decider"])
    assert results.get_json()["decided"] is True and results.get_json()["ballots_cast"] == 1
