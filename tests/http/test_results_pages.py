"""The results page of a large round (issue 22): its table shows 50 proposals a page with their ranks counted on
across pages, says which ones it shows, links each row to its proposal, answers a page number it cannot show with
a message instead of an error, and runs as many SQL statements for 120 proposals as for 5."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.proposals.services import create_proposal
from fundcircle.rounds.services import advance_round
from fundcircle.voting.services import cast_ballot
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_round, make_user, sample_proposal

ROW = re.compile(
    r'<td data-label="Rank">(\d+)</td>\s*<td data-label="Proposal"><a href="([^"]+)">([^<]+)</a>', re.MULTILINE
)


@dataclass(frozen=True)
class World:
    small_round_id: int
    large_round_id: int
    admin_email: str


def _decided_round(circle: Any, admin: Any, voter: Any, count: int, title: str) -> int:
    """A quadratic round of `count` proposals (written by the admin and the voter in turn) decided through the
    services: the voter gives proposal n (from 0) n % 4 votes, so scores differ and the budget funds some and not
    others."""
    round_ = make_round(
        circle, admin, title=title, credits=1_000, quorum_percent=0, budget_minor=60_000, max_proposals_per_member=100
    )
    advance_round(admin, round_, "proposals", utcnow())
    made = [
        create_proposal(
            (admin, voter)[n % 2],
            round_,
            sample_proposal(title=f"{title} idea {n:03d}", amount_minor=1_000 + 10 * n, payee_slug=f"idea-{n}"),
            submit=True,
            now=utcnow(),
        )
        for n in range(count)
    ]
    for phase in ("deliberation", "deciding"):
        advance_round(admin, round_, phase, utcnow())
    db.session.commit()
    cast_ballot(voter, round_, {proposal.id: n % 4 for n, proposal in enumerate(made)}, utcnow())
    db.session.commit()
    advance_round(admin, round_, "decided", utcnow())
    db.session.commit()
    return round_.id


@pytest.fixture
def world(app: Flask) -> World:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        voter = make_user(name="Vera Voter")
        circle = make_circle(admin)
        add_member(circle, voter, ["member", "circle"], by=admin)
        small = _decided_round(circle, admin, voter, 5, "Small")
        large = _decided_round(circle, admin, voter, 120, "Large")
        return World(small, large, admin.email)


def _signed_in(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def _statements(app: Flask, client: Client, path: str) -> int:
    with app.app_context():
        engine = db.engine
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, text: str, *_: Any) -> None:
        seen.append(text)

    event.listen(engine, "before_cursor_execute", count)
    try:
        assert client.get(path).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def _ranked(client: Client, round_id: int) -> list[dict[str, str]]:
    """The result as the CSV download lists it, by rank: the reference the page must agree with."""
    text = client.get(f"/rounds/{round_id}/results.csv").get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(text)))


def test_the_results_page_runs_the_same_statements_for_120_proposals_as_for_5(app: Flask, world: World) -> None:
    admin = _signed_in(app, world.admin_email)
    small = f"/rounds/{world.small_round_id}/results"
    large = f"/rounds/{world.large_round_id}/results"
    admin.get(small), admin.get(large)  # the first view of each warms what a first view warms
    few = _statements(app, admin, small)
    assert _statements(app, admin, large) == few
    assert _statements(app, admin, large + "?page=3") == few
    page = admin.get(large).get_data(as_text=True)
    assert len(ROW.findall(page)) == 50  # the large round really lists a page, with a link per row
    assert "Payout: awaiting approval" in page  # and the payouts part took part
    assert "How each member voted" in page


def test_page_two_shows_ranks_51_to_100_each_linked_to_its_proposal(app: Flask, world: World) -> None:
    admin = _signed_in(app, world.admin_email)
    ranked = _ranked(admin, world.large_round_id)
    assert len(ranked) == 120
    page = admin.get(f"/rounds/{world.large_round_id}/results?page=2").get_data(as_text=True)
    rows = ROW.findall(page)
    assert [(int(rank), href, title) for rank, href, title in rows] == [
        (int(row["rank"]), f"/proposals/{row['proposal_id']}", row["title"]) for row in ranked[50:100]
    ]
    assert "Showing 51–100 of 120 proposals (page 2 of 3)." in page
    assert 'rel="prev"' in page and 'rel="next"' in page
    assert f'href="/rounds/{world.large_round_id}/results#result-table"' in page  # back to page 1
    assert f'href="/rounds/{world.large_round_id}/results?page=3#result-table"' in page
    # The chart keeps the 50 highest-ranked whatever the table's page.
    assert "The 50 highest-ranked of 120 proposals; the table lists them all." in page
    assert f"{ranked[0]['title']}: score" in page
    _, href, title = rows[0]
    proposal = admin.get(href)
    assert proposal.status_code == 200 and title in proposal.get_data(as_text=True)

    last = admin.get(f"/rounds/{world.large_round_id}/results?page=3").get_data(as_text=True)
    assert [int(rank) for rank, _, _ in ROW.findall(last)] == [int(row["rank"]) for row in ranked[100:]]
    assert "Showing 101–120 of 120 proposals (page 3 of 3)." in last and 'rel="next"' not in last


def test_the_ballots_name_proposals_of_every_page_by_their_titles(app: Flask, world: World) -> None:
    admin = _signed_in(app, world.admin_email)
    page = admin.get(f"/rounds/{world.large_round_id}/results?page=2").get_data(as_text=True)
    ballots = page.split('<h2 id="ballots">')[1].split("</table>")[0]
    assert "Vera Voter" in ballots
    assert "Large idea 001: 1" in ballots and "Large idea 119: 3" in ballots  # pages 1 and 3 of the table
    assert re.search(r"proposal \d", ballots) is None


#: Page numbers a query string can carry that are none: text, zero, negatives, fractions, other digits, too long.
NOT_PAGES = ["abc", "0", "-1", "1.5", "٣", "9999999", "", "2%00"]


def test_a_page_that_is_not_a_number_gets_a_message_and_the_first_page(app: Flask, world: World) -> None:
    admin = _signed_in(app, world.admin_email)
    for asked in NOT_PAGES:
        response = admin.get(f"/rounds/{world.large_round_id}/results", query_string={"page": asked})
        page = response.get_data(as_text=True)
        assert response.status_code == 400, asked
        assert "is not a page number: pages are numbered from 1. This is the first page." in page, asked
        assert "Showing 1–50 of 120 proposals (page 1 of 3)." in page, asked
        assert [int(rank) for rank, _, _ in ROW.findall(page)] == list(range(1, 51)), asked


def test_a_page_past_the_end_shows_the_last_page_and_says_so(app: Flask, world: World) -> None:
    admin = _signed_in(app, world.admin_email)
    response = admin.get(f"/rounds/{world.large_round_id}/results?page=4")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "There is no page 4: the table has 3 pages. This is the last." in page
    assert "Showing 101–120 of 120 proposals (page 3 of 3)." in page

    small = admin.get(f"/rounds/{world.small_round_id}/results?page=2").get_data(as_text=True)
    assert "There is no page 2: the table has 1 page. This is the last." in small
    assert len(ROW.findall(small)) == 5
    # One page needs no page navigation.
    assert "Showing" not in small and "Pages of the results table" not in small
