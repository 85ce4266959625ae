"""The proposal and round pages through the test client: sanitised Markdown, versions and diffs, the discussion as
the page shows it, limits with clear messages on the page and in the API, and a number of SQL statements per page
that does not grow with the number of proposals or comments."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import event, func, select

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.deliberation.models import Comment
from fundcircle.deliberation.services import add_comment, delete_comment, hide_comment
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.proposals.models import Proposal
from fundcircle.proposals.services import create_proposal, withdraw_proposal
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
from tests.rules.test_markdown_and_diff import XSS_PAYLOADS, dangerous_markup

API = "/api/v1"


@dataclass(frozen=True)
class Site:
    round_id: int
    emails: dict[str, str]
    ids: dict[str, int]


def make_site(app: Flask, phase: str = "proposals", **round_settings: Any) -> Site:
    """A circle with an admin (owner), a community member (author), a circle member and an admin-only moderator;
    a round in `phase`."""
    with app.app_context():
        owner = make_user(name="Olga Owner")
        circle = make_circle(owner)
        people = {"owner": owner}
        for key, name, roles in (
            ("author", "Ana Author", ["member"]),
            ("circle", "Bea Circle", ["member", "circle"]),
            ("moderator", "Mia Moderator", ["admin"]),
        ):
            people[key] = make_user(name=name)
            add_member(circle, people[key], roles, by=owner)
        round_ = make_round(circle, owner, **round_settings)
        for step in ("proposals", "deliberation"):
            if round_.phase == phase:
                break
            advance_round(owner, round_, step, utcnow())
            db.session.commit()
        return Site(
            round_.id, {key: user.email for key, user in people.items()}, {key: user.id for key, user in people.items()}
        )


def logged_in(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def form_of(**overrides: str) -> dict[str, str]:
    values = {
        "title": "Seed library",
        "summary": "A shelf of seeds anyone can borrow.",
        "body": "We will build a **seed library**.",
        "amount": "250.00",
        "category": "Tools",
        "payee_kind": "account",
        "payee_slug": "seed-library",
        "payee_name": "",
        "payee_email": "",
        "action": "submit",
    }
    values.update(overrides)
    return values


def create_through_page(client: Client, round_id: int, **overrides: str) -> int:
    response = client.post_form(f"/rounds/{round_id}/proposals/new", form_of(**overrides))
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.location.rsplit("/", 1)[1])


def edit_through_page(client: Client, proposal_id: int, **overrides: str) -> Any:
    values = form_of(**overrides)
    values.pop("action")
    return client.post_form(f"/proposals/{proposal_id}/edit", values)


def post_comment(client: Client, proposal_id: int, body: str, **fields: str) -> int:
    response = client.post_form(f"/proposals/{proposal_id}/comments", {"body": body, **fields})
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.location.rsplit("#comment-", 1)[1])


def ledger_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(LedgerEntry)) or 0


def position(page: str, text: str) -> int:
    index = page.find(text)
    assert index >= 0, f"{text!r} is not on the page"
    return index


# --- sanitising on the real pages ---------------------------------------------------------------------------------

ALL_PAYLOADS = "\n\n".join(XSS_PAYLOADS)


def test_xss_payloads_in_a_proposal_and_a_comment_never_become_markup_on_the_pages(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    proposal_id = create_through_page(
        author,
        site.round_id,
        title="<script>alert('title')</script>",
        summary='<img src=x onerror=alert("summary")>',
        body=ALL_PAYLOADS,
    )
    circle = logged_in(app, site.emails["circle"])
    question_id = post_comment(circle, proposal_id, ALL_PAYLOADS, question="y")
    post_comment(
        author, proposal_id, "<svg onload=alert('reply')> [x](javascript:alert(1))", parent_id=str(question_id)
    )

    page = circle.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    assert dangerous_markup(page) == []
    # The payloads reached the page, as text.
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in page
    assert page.count("&lt;script&gt;alert('xss')&lt;/script&gt;") == 2  # body and comment
    assert "&lt;svg onload=alert('reply')&gt;" in page
    round_page = circle.get(f"/rounds/{site.round_id}").get_data(as_text=True)
    assert dangerous_markup(round_page) == []
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in round_page

    # The author's own view (with the edit form and buttons) and the diff page are clean as well.
    assert dangerous_markup(author.get(f"/proposals/{proposal_id}").get_data(as_text=True)) == []
    assert dangerous_markup(author.get(f"/proposals/{proposal_id}/edit").get_data(as_text=True)) == []
    edited = edit_through_page(author, proposal_id, body=ALL_PAYLOADS + "\n\n<iframe src=//evil.example>")
    assert edited.status_code == 302
    diff = circle.get(f"/proposals/{proposal_id}/diff?from=1&to=2").get_data(as_text=True)
    assert dangerous_markup(diff) == []
    assert "&lt;iframe src=//evil.example&gt;" in diff


def test_an_xss_payload_through_the_api_is_stored_sanitised(app: Flask, client: Client) -> None:
    site = make_site(app)
    with app.app_context():
        author = db.session.get(User, site.ids["author"])
        assert author is not None
        token = make_token(author)
    body = {**_api_body(), "body": ALL_PAYLOADS}
    created = client.json_call("POST", f"{API}/rounds/{site.round_id}/proposals", body, token=token)
    assert created.status_code == 201, created.get_json()
    assert dangerous_markup(created.get_json()["body_html"]) == []
    proposal_id = created.get_json()["id"]
    comment = client.json_call(
        "POST", f"{API}/proposals/{proposal_id}/comments", {"body": ALL_PAYLOADS}, token=token
    ).get_json()
    assert dangerous_markup(comment["body_html"]) == []


# --- versions and diffs -------------------------------------------------------------------------------------------


def test_the_diff_between_versions_1_and_3_shows_changed_fields_and_added_and_removed_lines(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    proposal_id = create_through_page(
        author, site.round_id, body="We build shelves.\nWe buy seeds.\nAna keeps the key."
    )
    assert (
        edit_through_page(
            author,
            proposal_id,
            body="We build shelves.\nWe buy local seeds.\nAna keeps the key.",
            change_note="Local seeds",
        ).status_code
        == 302
    )
    assert (
        edit_through_page(
            author,
            proposal_id,
            title="Seed and tool library",
            amount="300.00",
            category="Learning",
            body="We build shelves.\nWe buy local seeds.\nAna keeps the key.\nWe lend tools too.",
            change_note="Tools as well",
        ).status_code
        == 302
    )
    page = author.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    assert "version 3" in page
    for number, note in ((1, ""), (2, ": Local seeds"), (3, ": Tools as well")):
        assert f"Version {number}, " in page and (not note or note in page)
    assert f"/proposals/{proposal_id}/diff?from=2&amp;to=3" in page

    # The Markdown as typed, line by line (the page's default view, the rendered words, is in test_diff_page.py).
    response = author.get(f"/proposals/{proposal_id}/diff?from=1&to=3&view=source")
    assert response.status_code == 200
    diff = response.get_data(as_text=True)
    assert "From version 1 to version 3" in diff
    assert '<th scope="row">Title</th><td><del>Seed library</del></td><td><ins>Seed and tool library</ins></td>' in diff
    assert '<th scope="row">Amount</th><td><del>250.00 EUR</del></td><td><ins>300.00 EUR</ins></td>' in diff
    assert '<th scope="row">Category</th><td><del>Tools</del></td><td><ins>Learning</ins></td>' in diff
    assert "Summary</th>" not in diff and "Paid to</th>" not in diff
    assert (
        '<div role="listitem" class="diff-removed"><span class="visually-hidden">Removed: </span>− We buy seeds.'
        in diff
    )
    added = '<div role="listitem" class="diff-added"><span class="visually-hidden">Added: </span>+ '
    assert added + "We buy local seeds." in diff and added + "We lend tools too." in diff
    assert '<div role="listitem" class="diff-same">&nbsp; We build shelves.' in diff
    # The note belongs to one step, so a diff over two steps does not show one of them as if it were the whole.
    assert "The author&#39;s note" not in diff

    step = author.get(f"/proposals/{proposal_id}/diff?from=2&to=3").get_data(as_text=True)
    assert "Tools as well" in step


@pytest.mark.parametrize(
    ("query", "message"),
    [("?from=1&to=9", "This proposal has versions 1 to 2."), ("?from=one&to=2", "Versions are numbers")],
)
def test_a_diff_of_versions_that_do_not_exist_says_which_exist(app: Flask, query: str, message: str) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    proposal_id = create_through_page(author, site.round_id)
    assert edit_through_page(author, proposal_id, title="Second").status_code == 302
    response = author.get(f"/proposals/{proposal_id}/diff{query}")
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)


def test_comments_show_the_version_they_were_written_against(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    proposal_id = create_through_page(author, site.round_id)
    circle = logged_in(app, site.emails["circle"])
    first = post_comment(circle, proposal_id, "About the first version")
    owner = logged_in(app, site.emails["owner"])
    assert owner.post_form(f"/rounds/{site.round_id}/advance", {"to": "deliberation"}).status_code == 302
    refused = edit_through_page(author, proposal_id, amount="200.00")
    assert refused.status_code == 422
    assert 'id="change_note-error"' in refused.get_data(as_text=True)
    assert "Say what the amendment changes, and why." in refused.get_data(as_text=True)
    amended = edit_through_page(author, proposal_id, amount="200.00", change_note="Asks less after the questions")
    assert amended.status_code == 302
    second = post_comment(circle, proposal_id, "About the amendment")
    page = circle.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    first_at, second_at = position(page, f'id="comment-{first}"'), position(page, f'id="comment-{second}"')
    assert "on version 1" in page[first_at:second_at]
    assert "on version 2" in page[second_at:]
    assert "What changed in version 2:</strong> Asks less after the questions" in page
    assert "200.00 EUR" in page


# --- limits with clear messages -------------------------------------------------------------------------------------


def _api_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "Seed library",
        "summary": "A shelf of seeds anyone can borrow.",
        "body": "We will build a **seed library**.",
        "amount_minor": 25_000,
        "category": "Tools",
        "payee": {"slug": "seed-library"},
        "submit": True,
    }
    body.update(overrides)
    return body


def _author_token(app: Flask, site: Site) -> str:
    with app.app_context():
        author = db.session.get(User, site.ids["author"])
        assert author is not None
        return make_token(author)


# (form overrides, the field the page marks, API overrides, the field the API names, words of the message)
LIMIT_CASES = [
    pytest.param({"title": "x" * 121}, "title", {"title": "x" * 121}, "title", "120 characters", id="long-title"),
    pytest.param({"body": "y" * 20_001}, "body", {"body": "y" * 20_001}, "body", r"20,?000 characters", id="long-body"),
    pytest.param(
        {"amount": "400.01"},
        "amount",
        {"amount_minor": 40_001},
        "amount_minor",
        "Ask for at most 400.00 EUR",
        id="above-cap",
    ),
    pytest.param(
        {"category": "Food"}, "category", {"category": "Food"}, "category", r"[Cc]hoose|choice", id="unknown-category"
    ),
    pytest.param({"payee_slug": ""}, "payee_kind", {"payee": {}}, "payee", "Say who is paid", id="payee-neither"),
    pytest.param(
        {"payee_kind": "person", "payee_name": "Ana"},
        "payee_kind",
        {"payee": {"name": "Ana"}},
        "payee",
        "Say who is paid",
        id="payee-half",
    ),
]


@pytest.mark.parametrize(("form", "page_field", "api", "api_field", "words"), LIMIT_CASES)
def test_the_proposal_page_marks_the_field_at_fault_and_creates_nothing(
    app: Flask, form: dict[str, str], page_field: str, api: dict[str, Any], api_field: str, words: str
) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    before = ledger_count(app)
    response = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(**form))
    page = response.get_data(as_text=True)
    assert response.status_code in (400, 422)
    assert f'id="{page_field}-error"' in page
    assert re.search(words, page), page
    assert ledger_count(app) == before
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Proposal)) == 0


@pytest.mark.parametrize(("form", "page_field", "api", "api_field", "words"), LIMIT_CASES)
def test_the_api_names_the_field_at_fault_and_creates_nothing(
    app: Flask, client: Client, form: dict[str, str], page_field: str, api: dict[str, Any], api_field: str, words: str
) -> None:
    site = make_site(app)
    token = _author_token(app, site)
    before = ledger_count(app)
    response = client.json_call("POST", f"{API}/rounds/{site.round_id}/proposals", _api_body(**api), token=token)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [api_field]
    assert re.search(words, " ".join(error["fields"][api_field]))
    assert ledger_count(app) == before


def test_the_api_refuses_a_payee_that_is_both_an_account_and_a_person(app: Flask, client: Client) -> None:
    site = make_site(app)
    token = _author_token(app, site)
    payee = {"slug": "seed-library", "name": "Ana", "email": "ana@example.org"}
    response = client.json_call("POST", f"{API}/rounds/{site.round_id}/proposals", _api_body(payee=payee), token=token)
    assert response.status_code == 422
    assert response.get_json()["error"]["fields"] == {
        "payee": ["Give either an Open Collective account, or a name and e-mail address, not both."]
    }


@pytest.mark.parametrize(
    ("form", "api"),
    [
        ({"title": "x" * 121}, {"title": "x" * 121}),
        ({"body": "y" * 20_001}, {"body": "y" * 20_001}),
        ({"category": "Food"}, {"category": "Food"}),
    ],
    ids=["long-title", "long-body", "unknown-category"],
)
def test_the_page_and_the_api_give_the_same_message_for_the_same_bad_input(
    app: Flask, client: Client, form: dict[str, str], api: dict[str, Any]
) -> None:
    """The issue: "on the same services as the pages, so both paths give the same errors for the same bad input"."""
    site = make_site(app)
    token = _author_token(app, site)
    fields = client.json_call(
        "POST", f"{API}/rounds/{site.round_id}/proposals", _api_body(**api), token=token
    ).get_json()["error"]["fields"]
    (api_message,) = next(iter(fields.values()))
    author = logged_in(app, site.emails["author"])
    page = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(**form)).get_data(as_text=True)
    assert api_message.replace("'", "&#39;") in page


def test_an_amendment_through_the_api_without_a_change_note_names_the_field(app: Flask, client: Client) -> None:
    site = make_site(app)
    token = _author_token(app, site)
    created = client.json_call("POST", f"{API}/rounds/{site.round_id}/proposals", _api_body(), token=token)
    proposal_id = created.get_json()["id"]
    owner = logged_in(app, site.emails["owner"])
    assert owner.post_form(f"/rounds/{site.round_id}/advance", {"to": "deliberation"}).status_code == 302
    refused = client.json_call("PATCH", f"{API}/proposals/{proposal_id}", {"amount_minor": 20_000}, token=token)
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"] == {"change_note": ["Say what the amendment changes, and why."]}
    amended = client.json_call(
        "PATCH", f"{API}/proposals/{proposal_id}", {"amount_minor": 20_000, "change_note": "Less"}, token=token
    )
    assert amended.status_code == 200 and amended.get_json()["version"] == 2
    versions = client.json_call("GET", f"{API}/proposals/{proposal_id}/versions", token=token).get_json()["items"]
    assert [(v["number"], v["amount_minor"], v["change_note"]) for v in versions] == [
        (1, 25_000, ""),
        (2, 20_000, "Less"),
    ]


def test_past_the_per_member_limit_the_page_and_the_api_say_so(app: Flask, client: Client) -> None:
    site = make_site(app, max_proposals_per_member=1)
    author = logged_in(app, site.emails["author"])
    first = create_through_page(author, site.round_id)
    message = "You have 1 proposals in this round, the most a member may have. Withdraw one to add another."
    page = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(title="Second"))
    assert page.status_code == 422
    assert message in page.get_data(as_text=True)
    api = client.json_call(
        "POST", f"{API}/rounds/{site.round_id}/proposals", _api_body(title="Second"), token=_author_token(app, site)
    )
    assert api.status_code == 422 and api.get_json()["error"]["message"] == message
    assert author.post_form(f"/proposals/{first}/withdraw").status_code == 302
    create_through_page(author, site.round_id, title="Second")


def test_a_draft_is_seen_only_by_its_author(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    draft_id = create_through_page(author, site.round_id, action="draft", title="My secret draft")
    assert "Draft" in author.get(f"/proposals/{draft_id}").get_data(as_text=True)
    owner = logged_in(app, site.emails["owner"])
    assert owner.get(f"/proposals/{draft_id}").status_code == 404
    assert "My secret draft" not in owner.get(f"/rounds/{site.round_id}").get_data(as_text=True)
    assert author.post_form(f"/proposals/{draft_id}/submit").status_code == 302
    assert owner.get(f"/proposals/{draft_id}").status_code == 200


# --- the round page -----------------------------------------------------------------------------------------------


def _titles_in_order(page: str, titles: list[str]) -> list[str]:
    found = [(page.find(f"<strong>{title}</strong>"), title) for title in titles]
    return [title for index, title in sorted(found) if index >= 0]


def test_the_round_page_filters_by_category_and_status_and_sorts_by_newest_amount_and_discussion(app: Flask) -> None:
    site = make_site(app)
    titles = ["Small tools", "Big course", "Middle tools", "Dropped idea"]
    with app.app_context():
        round_ = db.session.get(Round, site.round_id)
        author, circle = (db.session.get(User, site.ids[key]) for key in ("author", "circle"))
        assert round_ is not None and author is not None and circle is not None
        start = utcnow()
        made = []
        for minutes, (title, amount, category, by) in enumerate(
            [
                ("Small tools", 5_000, "Tools", author),
                ("Big course", 30_000, "Learning", circle),
                ("Middle tools", 15_000, "Tools", circle),
                ("Dropped idea", 20_000, "Learning", author),
            ]
        ):
            made.append(
                create_proposal(
                    by,
                    round_,
                    sample_proposal(title=title, amount_minor=amount, category=category),
                    submit=True,
                    now=start + timedelta(minutes=minutes),
                )
            )
        for body in ("One", "Two"):
            add_comment(author, made[1], body, parent_id=None, question=False, now=start)
        add_comment(author, made[2], "Three", parent_id=None, question=False, now=start)
        withdraw_proposal(author, made[3], start)
        db.session.commit()
    viewer = logged_in(app, site.emails["owner"])
    url = f"/rounds/{site.round_id}"

    def shown(query: str = "") -> list[str]:
        response = viewer.get(url + query)
        assert response.status_code == 200
        return _titles_in_order(response.get_data(as_text=True), titles)

    # Withdrawn proposals come last whatever the order.
    assert shown() == ["Middle tools", "Big course", "Small tools", "Dropped idea"]
    assert shown("?sort=amount") == ["Big course", "Middle tools", "Small tools", "Dropped idea"]
    assert shown("?sort=discussed") == ["Big course", "Middle tools", "Small tools", "Dropped idea"]
    assert shown("?category=Tools") == ["Middle tools", "Small tools"]
    assert shown("?status=withdrawn") == ["Dropped idea"]
    assert shown("?category=Learning&status=submitted&sort=amount") == ["Big course"]
    page = viewer.get(url).get_data(as_text=True)
    assert "· 2 comments</div>" in page and "· 1 comment</div>" in page and "· 0 comments</div>" in page


def test_the_round_page_highlights_the_current_phase_and_the_time_left(app: Flask) -> None:
    site = make_site(app)
    page = logged_in(app, site.emails["author"]).get(f"/rounds/{site.round_id}").get_data(as_text=True)
    current = page[page.index('aria-current="step"') - 40 : page.index('aria-current="step"') + 80]
    assert 'class="current"' in current and "Open for proposals" in current
    assert page.count('aria-current="step"') == 1
    assert "Now: Open for proposals</strong>" in page
    assert re.search(r"\((6 days|7 days) left\)", page)


# --- the discussion on the page ---------------------------------------------------------------------------------------


def test_a_deleted_comment_shows_deleted_by_its_author_and_not_its_text(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    proposal_id = create_through_page(author, site.round_id)
    circle = logged_in(app, site.emails["circle"])
    comment_id = post_comment(circle, proposal_id, "A sentence I regret")
    assert author.post_form(f"/comments/{comment_id}/delete").status_code == 403  # not theirs
    assert "A sentence I regret" in circle.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    assert circle.post_form(f"/comments/{comment_id}/delete").status_code == 302
    page = author.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    assert "A sentence I regret" not in page
    assert "Deleted by its author." in page[position(page, f'id="comment-{comment_id}"') :]
    with app.app_context():
        actions = list(db.session.scalars(select(LedgerEntry.action).order_by(LedgerEntry.id.desc()).limit(1)))
        assert actions == ["comment.deleted"]


def test_a_hidden_comment_shows_the_moderators_reason_and_only_admins_may_hide(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    proposal_id = create_through_page(author, site.round_id)
    circle = logged_in(app, site.emails["circle"])
    comment_id = post_comment(circle, proposal_id, "Something rude")
    before = ledger_count(app)
    for who in ("author", "circle"):
        client = author if who == "author" else circle
        assert client.post_form(f"/comments/{comment_id}/hide", {"reason": "I say so"}).status_code == 403
    assert ledger_count(app) == before
    assert 'action="/comments/' + str(comment_id) + '/hide"' not in circle.get(f"/proposals/{proposal_id}").get_data(
        as_text=True
    )
    moderator = logged_in(app, site.emails["moderator"])
    assert f'action="/comments/{comment_id}/hide"' in moderator.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    assert moderator.post_form(f"/comments/{comment_id}/hide", {"reason": "Personal attack"}).status_code == 302
    page = circle.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    assert "Something rude" not in page
    assert "Hidden by a moderator: Personal attack" in page


def test_open_questions_are_listed_first_on_the_page(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    proposal_id = create_through_page(author, site.round_id)
    circle = logged_in(app, site.emails["circle"])
    remark = post_comment(circle, proposal_id, "An early remark")
    answered = post_comment(circle, proposal_id, "Answered question?", question="y")
    post_comment(author, proposal_id, "Yes, answered.", parent_id=str(answered))
    open_question = post_comment(circle, proposal_id, "Still open question?", question="y")
    page = author.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    order = sorted((position(page, f'id="comment-{i}"'), i) for i in (remark, answered, open_question))
    assert [i for _, i in order] == [open_question, remark, answered]
    open_block = page[position(page, f'id="comment-{open_question}"') : position(page, f'id="comment-{remark}"')]
    assert "Open question" in open_block and "(answers the question)" in open_block
    answered_block = page[position(page, f'id="comment-{answered}"') :]
    assert "Question, answered" in answered_block


def test_a_comment_can_be_edited_on_its_page_within_15_minutes_only(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    proposal_id = create_through_page(author, site.round_id)
    circle = logged_in(app, site.emails["circle"])
    comment_id = post_comment(circle, proposal_id, "Frist")
    assert f'href="/comments/{comment_id}/edit"' in circle.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    assert circle.post_form(f"/comments/{comment_id}/edit", {"body": "First"}).status_code == 302
    assert "· edited" in circle.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    with app.app_context():
        stored = db.session.get(Comment, comment_id)
        assert stored is not None
        stored.created_at = utcnow() - timedelta(minutes=16)  # time passes
        db.session.commit()
    assert f'href="/comments/{comment_id}/edit"' not in circle.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    late = circle.post_form(f"/comments/{comment_id}/edit", {"body": "Second"})
    assert late.status_code == 409
    assert "15 minutes" in late.get_data(as_text=True)
    assert author.get(f"/comments/{comment_id}/edit").status_code == 403


def test_the_discussion_closes_with_the_phase_and_says_why(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    proposal_id = create_through_page(author, site.round_id)
    owner = logged_in(app, site.emails["owner"])
    for phase in ("deliberation", "deciding"):
        assert owner.post_form(f"/rounds/{site.round_id}/advance", {"to": phase}).status_code == 302
    page = author.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    assert "The discussion is closed while the round is deciding." in page
    refused = author.post_form(f"/proposals/{proposal_id}/comments", {"body": "Late"})
    assert refused.status_code == 409
    assert "The discussion is closed while the round is deciding." in refused.get_data(as_text=True)


def test_after_the_deliberation_deadline_comments_and_amendments_are_refused_though_no_tick_ran(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    proposal_id = create_through_page(author, site.round_id)
    circle = logged_in(app, site.emails["circle"])
    comment_id = post_comment(circle, proposal_id, "Tell us more.")
    with app.app_context():  # time passes: both deadlines behind us, and nobody ran `rounds tick`
        round_ = db.session.get(Round, site.round_id)
        round_.proposals_close_at = utcnow() - timedelta(hours=2)
        round_.deliberation_close_at = ended = utcnow() - timedelta(minutes=1)
        db.session.commit()
    before = ledger_count(app)
    message = f"The discussion is closed: deliberation ended at {format_time(ended)}."
    page = author.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    assert "The discussion is closed while the round is deciding." in page
    assert "Add to the discussion" not in page and ">Amend<" not in page
    refused = author.post_form(f"/proposals/{proposal_id}/comments", {"body": "Late", "question": "y"})
    assert refused.status_code == 409
    assert "The discussion is closed while the round is deciding." in refused.get_data(as_text=True)
    edited = circle.post_form(f"/comments/{comment_id}/edit", {"body": "Tell us much more."})
    assert edited.status_code == 409 and message in edited.get_data(as_text=True)
    with app.app_context():
        token = make_token(db.session.get(User, site.ids["circle"]))
    before = ledger_count(app)
    api = circle.json_call(
        "POST", f"{API}/proposals/{proposal_id}/comments", {"body": "Late", "question": True}, token=token
    )
    assert api.status_code == 409 and api.get_json()["error"]["message"] == message
    amended = edit_through_page(author, proposal_id, title="Later", change_note="Too late")
    assert amended.status_code == 409
    assert "Proposals cannot be changed while the round is in deciding." in amended.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Comment)) == 1
        assert db.session.get(Comment, comment_id).body == "Tell us more."
        assert db.session.get(Proposal, proposal_id).current_version == 1
        assert db.session.get(Round, site.round_id).phase == "proposals"
    assert ledger_count(app) == before


# --- SQL statements per page ------------------------------------------------------------------------------------------


@contextmanager
def counting_statements(app: Flask) -> Iterator[list[str]]:
    with app.app_context():
        engine = db.engine
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def statements_for(app: Flask, client: Client, url: str) -> int:
    with counting_statements(app) as statements:
        response = client.get(url)
    assert response.status_code == 200
    return len(statements)


def _people(round_: Round, owner: User, count: int) -> list[User]:
    people = []
    for _ in range(count):
        person = make_user()
        add_member(round_.circle, person, ["member", "circle"], by=owner)
        people.append(person)
    return people


def _add_proposals(round_id: int, authors: list[User], count: int) -> None:
    """`count` proposals spread over the authors, some discussed, one withdrawn and one a draft; one commit."""
    round_ = db.session.get(Round, round_id)
    assert round_ is not None
    now = utcnow()
    for number in range(count):
        author = authors[number % len(authors)]
        proposal = create_proposal(
            author,
            round_,
            sample_proposal(
                title=f"Proposal {number}", amount_minor=1_000 + number, category=("Tools", "Learning")[number % 2]
            ),
            submit=number % 7 != 3,
            now=now,
        )
        if number % 3 == 0 and proposal.status == "submitted":
            add_comment(authors[0], proposal, f"Comment on {number}", parent_id=None, question=False, now=now)
    db.session.commit()


def _add_comments(proposal_id: int, people: list[User], moderator: User, count: int) -> None:
    """`count` comments by several people: threads with replies, open and answered questions, an edited, a
    deleted and a hidden one; one commit."""
    proposal = db.session.get(Proposal, proposal_id)
    assert proposal is not None
    now = utcnow()
    tops: list[Comment] = []
    for number in range(count):
        person = people[number % len(people)]
        if tops and number % 3 == 1:
            made = add_comment(person, proposal, f"Reply {number}", parent_id=tops[-1].id, question=False, now=now)
        else:
            made = add_comment(
                person, proposal, f"Comment **{number}**", parent_id=None, question=number % 4 == 0, now=now
            )
            tops.append(made)
        if number % 10 == 5:
            delete_comment(person, made, now)
        elif number % 10 == 7:
            hide_comment(moderator, made, f"Reason {number}", now)
    db.session.commit()


def test_the_round_page_runs_as_many_statements_for_200_proposals_as_for_5(app: Flask) -> None:
    with app.app_context():
        owner = make_user()
        round_ = make_round(make_circle(owner), owner, max_proposals_per_member=100)
        advance_round(owner, round_, "proposals", utcnow())
        db.session.commit()
        authors = _people(round_, owner, 4)
        round_id, email, author_ids = round_.id, authors[0].email, [author.id for author in authors]
        _add_proposals(round_id, authors, 5)
    client = logged_in(app, email)
    url = f"/rounds/{round_id}"
    with_5 = statements_for(app, client, url)
    with_5_sorted = statements_for(app, client, url + "?sort=discussed&category=Tools&status=submitted")
    with app.app_context():
        _add_proposals(round_id, [db.session.get(User, author_id) for author_id in author_ids], 195)  # type: ignore[misc]
    page = client.get(url).get_data(as_text=True)
    # 29 of the 200 are drafts (number % 7 == 3 in each batch); the viewer wrote 7 of them, and sees only those:
    # 178 proposals, a hundred a page.
    rest = client.get(url + "?page=2").get_data(as_text=True)
    assert page.count('<a href="/proposals/') == 100
    assert rest.count('<a href="/proposals/') == 200 - 29 + 7 - 100
    with_200 = statements_for(app, client, url)
    with_200_sorted = statements_for(app, client, url + "?sort=discussed&category=Tools&status=submitted")
    assert (with_200, with_200_sorted) == (with_5, with_5_sorted)


def test_the_proposal_page_runs_as_many_statements_for_200_comments_as_for_5(app: Flask) -> None:
    with app.app_context():
        owner = make_user()
        round_ = make_round(make_circle(owner), owner)
        advance_round(owner, round_, "proposals", utcnow())
        db.session.commit()
        people = _people(round_, owner, 6)
        proposal = make_proposal(round_, people[0])
        proposal_id, owner_id, people_ids = proposal.id, owner.id, [person.id for person in people]
        _add_comments(proposal_id, people, owner, 5)
        owner_email, author_email = owner.email, people[0].email
    admin = logged_in(app, owner_email)  # sees the moderation form on every comment
    author = logged_in(app, author_email)  # sees reply-answers-the-question hints
    url = f"/proposals/{proposal_id}"
    with_5 = (statements_for(app, admin, url), statements_for(app, author, url))
    with app.app_context():
        moderator = db.session.get(User, owner_id)
        assert moderator is not None
        _add_comments(proposal_id, [db.session.get(User, i) for i in people_ids], moderator, 195)  # type: ignore[misc]
        assert db.session.scalar(select(func.count()).select_from(Comment)) == 200
    assert admin.get(url).get_data(as_text=True).count('class="comment') == 200
    with_200 = (statements_for(app, admin, url), statements_for(app, author, url))
    assert with_200 == with_5


def test_a_payee_account_is_checked_on_open_collective_when_the_proposal_is_saved(
    app: Flask, make_sandbox: Any
) -> None:
    from fundcircle.circles.models import Circle
    from tests.factories import connect_circle
    from tests.worlds.sandbox import SANDBOX_COLLECTIVE, SANDBOX_TOKEN

    running = make_sandbox()
    running.sandbox.add_account("seed-library", name="Seed Library Collective", token="seed-library-token")
    site = make_site(app)
    with app.app_context():
        round_ = db.session.get(Round, site.round_id)
        assert round_ is not None
        circle = db.session.get(Circle, round_.circle_id)
        owner = db.session.scalars(select(User).where(User.email == site.emails["owner"])).one()
        treasurer = make_user(name="Tomas Treasurer")
        add_member(circle, treasurer, ["member", "treasurer"], by=owner)
        connect_circle(circle, treasurer, api_url=running.url, slug=SANDBOX_COLLECTIVE, token=SANDBOX_TOKEN)
        db.session.commit()
    author = logged_in(app, site.emails["author"])
    page = author.get(f"/rounds/{site.round_id}/proposals/new").get_data(as_text=True)
    assert "otherwise Open Collective asks the account&#39;s admins to complete it" in page

    missing = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(payee_slug="no-such-account"))
    text = missing.get_data(as_text=True)
    assert missing.status_code == 422 and 'id="payee_slug-error"' in text
    assert "Open Collective has no account “no-such-account”" in text
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Proposal)) == 0

    proposal_id = create_through_page(author, site.round_id)  # payee_slug "seed-library"
    shown = author.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    assert "The payee&#39;s account on Open Collective is “Seed Library Collective”." in shown


def test_the_round_page_counts_the_comments_of_its_page_of_proposals_only(app: Flask) -> None:
    """With 120 proposals, the first page of 100 (newest first) leaves out the 20 oldest, which hold every comment
    but one: the page's count query reads that one comment, not all of them (on PostgreSQL, by the plan's actual
    rows), and the page still shows the right counts."""
    with app.app_context():
        owner = make_user()
        round_ = make_round(make_circle(owner), owner, max_proposals_per_member=100)
        advance_round(owner, round_, "proposals", utcnow())
        db.session.commit()
        authors = _people(round_, owner, 2)
        now = utcnow()
        made = []
        for number in range(120):
            made.append(
                create_proposal(
                    authors[number % 2],
                    round_,
                    sample_proposal(title=f"P{number}"),
                    submit=True,
                    now=now + timedelta(seconds=number),
                )  # fmt: skip
            )
        for proposal in made[:20]:
            for text in ("One", "Two", "Three"):
                add_comment(authors[0], proposal, text, parent_id=None, question=False, now=now)
        add_comment(authors[1], made[-1], "Newest one", parent_id=None, question=False, now=now)
        db.session.commit()
        round_id, email = round_.id, authors[0].email
    client = logged_in(app, email)
    with app.app_context():
        engine = db.engine
    seen: list[tuple[str, Any]] = []

    def keep(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", keep)
    try:
        page = client.get(f"/rounds/{round_id}").get_data(as_text=True)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert page.count('<a href="/proposals/') == 100 and ">P119<" in page and ">P19<" not in page
    # The one comment on the page, counted.
    assert "1 comment" in page
    ((listing, parameters),) = [(sql, p) for sql, p in seen if "comments" in sql and "listed" in sql]
    if engine.dialect.name != "postgresql":
        return
    # The same statement planned and run: how many rows its scans of `comments` returned, over all their loops.
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + listing, parameters)
        plan = cursor.fetchone()[0]
    finally:
        connection.close()

    def comment_rows(node: dict[str, Any]) -> int:
        here = node["Actual Rows"] * node["Actual Loops"] if node.get("Relation Name") == "comments" else 0
        return here + sum(comment_rows(child) for child in node.get("Plans", []))

    assert comment_rows(plan[0]["Plan"]) <= 1, plan
