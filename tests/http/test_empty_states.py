"""Every list on the circles, inbox, account and payout pages, rendered empty, says how it fills up: a new circle has
no rounds and no payouts, a new person no circles, notices or tokens, and nothing waits for them.

(The lists of a circle's members never render empty: a circle always keeps at least one admin.)"""

from __future__ import annotations

import re

from flask import Flask

from tests.conftest import Client
from tests.factories import add_member, enrol_totp, make_circle, make_funded_round, make_user


def _logged_in(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def _empty_states(page: str) -> list[str]:
    """The text of every empty-state paragraph on the page, its markup and spacing flattened."""
    found = re.findall(r'<(p|span) class="[^"]*\bempty\b[^"]*">(.*?)</\1>', page, flags=re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", text).split()) for _, text in found]


def _get(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, url
    return str(response.get_data(as_text=True))


def test_a_visitor_sees_that_public_circles_are_listed_once_there_are_some(client: Client) -> None:
    assert _empty_states(_get(client, "/")) == [
        "No public circles yet: a circle that chooses to show its results to everyone is listed here."
    ]


def test_a_new_person_sees_how_their_circles_notices_and_tokens_arrive(app: Flask) -> None:
    with app.app_context():
        person = make_user(email="new@example.org")
        email = person.email
    client = _logged_in(app, email)
    assert _empty_states(_get(client, "/")) == [
        "You are not in a circle yet: your circles appear here once an admin of a circle invites you and you accept "
        "(the invitation comes by e-mail and shows at the top of this page)."
    ]
    assert _empty_states(_get(client, "/inbox")) == [
        "Nothing waits for you right now. When a round needs something from you (a proposal, a ballot, a consent "
        "answer, an approval), it shows here.",
        "No notices yet: one arrives here when something in your circles changes or needs you, such as a round "
        "opening, a reply to your comment or a payout being paid.",
    ]
    assert "You have no tokens yet: the ones you create above are listed here." in _empty_states(
        _get(client, "/profile")
    )


def test_a_new_circle_says_where_its_rounds_and_payouts_will_come_from(app: Flask) -> None:
    with app.app_context():
        admin = make_user(email="admin@example.org")
        treasurer = make_user(email="treasurer@example.org")
        circle = make_circle(admin, name="Quiet Circle")
        add_member(circle, treasurer, ["member", "treasurer"], by=admin)
        circle_id = circle.id
    client = _logged_in(app, "treasurer@example.org")
    assert "No round under way: a round appears here when an admin of the circle opens one." in _empty_states(
        _get(client, "/")
    )
    page = _get(client, f"/circles/{circle_id}")
    assert "No rounds yet: they appear here when an admin of the circle opens one." in _empty_states(page)
    assert "Nothing waits for you right now." in " ".join(_empty_states(page))
    assert _empty_states(_get(client, f"/circles/{circle_id}/treasury")) == [
        "No payouts yet: they appear here when a round is decided, one for each funded proposal."
    ]


def test_a_payout_without_approvals_says_they_are_listed_as_they_come(app: Flask) -> None:
    with app.app_context():
        admin = make_user()
        treasurer = make_user(email="tomas@example.org")
        voter, author = make_user(), make_user()
        circle = make_circle(admin)
        add_member(circle, treasurer, ["member", "treasurer"], by=admin)
        add_member(circle, author, ["member"], by=admin)
        add_member(circle, voter, ["member", "circle"], by=admin)
        make_funded_round(circle, admin, voter, [{"author": author, "title": "Seed library"}])
        enrol_totp(treasurer)
        circle_id = circle.id
    client = _logged_in(app, "tomas@example.org")
    treasury = _get(client, f"/circles/{circle_id}/treasury")
    payout_url = re.search(r'<a href="(/payouts/\d+)">Seed library</a>', treasury)
    assert payout_url
    assert _empty_states(treasury) == [
        "No settled payouts yet: a payout is listed here once it is paid, rejected or cancelled."
    ]
    assert ": none yet; the treasurers' approvals are listed here as they come" in _empty_states(
        _get(client, payout_url.group(1))
    )
    # Filtered down to nothing, the treasury says so and how to see everything again.
    assert _empty_states(_get(client, f"/circles/{circle_id}/treasury?status=paid")) == [
        "No payouts under way match what you chose. Show every payout."
    ]
