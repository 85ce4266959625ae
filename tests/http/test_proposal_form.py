"""The proposal form through the test client: the payee choice that works for a person comes first and is chosen,
both choices are explained, and the form says whether an account's short name is checked on Open Collective when
it is saved (it is, against the Open Collective stand-in, once the circle is connected); Preview shows the
proposal rendered without saving anything; cost lines add up to the amount asked (computed on the server), are
kept with the version, shown on the proposal page, written to the ledger and read and written through the API."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.proposals.models import Proposal, ProposalCostLine, ProposalVersion
from fundcircle.rounds.models import Round
from tests.factories import add_member, connect_circle, make_token, make_user
from tests.http.test_proposal_pages import form_of, ledger_count, logged_in, make_site

API = "/api/v1"
TWO_LINES = {
    "cost_lines-0-description": "Seeds for the first season",
    "cost_lines-0-amount": "120.00",
    "cost_lines-1-description": "A shelf with labelled drawers",
    "cost_lines-1-amount": "95.50",
}


def _count(app: Flask, model: Any) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(model)) or 0)


def _error_of(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="error" id="{re.escape(field_id)}-error">(.*?)</p>', page, re.S)
    return found.group(1).strip() if found else ""


def _only_proposal(app: Flask) -> tuple[int, int, list[tuple[int, str, int]]]:
    """(proposal id, amount of its current version, its cost lines as (position, what, amount))."""
    with app.app_context():
        proposal = db.session.scalars(select(Proposal)).one()
        version = db.session.scalars(
            select(ProposalVersion).where(
                ProposalVersion.proposal_id == proposal.id, ProposalVersion.number == proposal.current_version
            )
        ).one()
        return (
            proposal.id,
            version.amount_minor,
            [(line.position, line.description, line.amount_minor) for line in version.cost_lines],
        )


# --- who is paid ----------------------------------------------------------------------------------------------------


def test_the_payee_choice_that_works_for_a_person_comes_first_and_is_chosen(app: Flask) -> None:
    site = make_site(app)
    page = logged_in(app, site.emails["author"]).get(f"/rounds/{site.round_id}/proposals/new").get_data(as_text=True)
    radios = re.findall(r'<input[^>]*name="payee_kind"[^>]*>', page)
    assert len(radios) == 2 and 'value="person"' in radios[0] and "checked" in radios[0]
    assert "checked" not in radios[1]
    assert "A person, by e-mail (choose this if you are not sure)" in page
    assert "They need no account of their own" in page and "An account that already exists on Open Collective" in page
    # Not connected: the form says that the short name cannot be checked when it is saved.
    assert "not connected to Open Collective yet, so the short name cannot be checked when you save" in page


def test_a_person_is_paid_when_the_payee_kind_is_not_sent(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    form = form_of(payee_slug="", payee_name="Ana Author", payee_email="ana.payee@example.org")
    del form["payee_kind"]
    assert author.post_form(f"/rounds/{site.round_id}/proposals/new", form).status_code == 302
    with app.app_context():
        version = db.session.scalars(select(ProposalVersion)).one()
        assert (version.payee_slug, version.payee_name) == (None, "Ana Author")


def test_an_account_saved_while_it_cannot_be_checked_says_so(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    response = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(), follow_redirects=True)
    assert "Open Collective could not be asked about the payee&#39;s account now" in response.get_data(as_text=True)


def test_a_connected_circle_checks_the_account_when_the_proposal_is_saved(app: Flask, make_sandbox: Any) -> None:
    from tests.worlds.sandbox import SANDBOX_COLLECTIVE, SANDBOX_TOKEN

    running = make_sandbox()
    running.sandbox.add_account("seed-library", name="Seed Library Collective", token="seed-library-token")
    site = make_site(app)
    with app.app_context():
        round_ = db.session.get(Round, site.round_id)
        assert round_ is not None
        circle = db.session.get(Circle, round_.circle_id)
        owner = db.session.get(User, site.ids["owner"])
        assert circle is not None and owner is not None
        treasurer = make_user(name="Tomas Treasurer")
        add_member(circle, treasurer, ["member", "treasurer"], by=owner)
        connect_circle(circle, treasurer, api_url=running.url, slug=SANDBOX_COLLECTIVE, token=SANDBOX_TOKEN)
        db.session.commit()
    author = logged_in(app, site.emails["author"])
    page = author.get(f"/rounds/{site.round_id}/proposals/new").get_data(as_text=True)
    assert "It is checked on Open Collective when you save" in page and "not connected" not in page
    wrong = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(payee_slug="seed-libary"))
    assert wrong.status_code == 422
    assert "Open Collective has no account “seed-libary”" in _error_of(wrong.get_data(as_text=True), "payee_slug")
    assert _count(app, Proposal) == 0
    right = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(), follow_redirects=True)
    assert "The payee&#39;s account on Open Collective is “Seed Library Collective”." in right.get_data(as_text=True)


# --- preview --------------------------------------------------------------------------------------------------------


def test_preview_shows_the_rendered_proposal_and_saves_nothing(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    before = ledger_count(app)
    response = author.post_form(
        f"/rounds/{site.round_id}/proposals/new",
        form_of(action="preview", amount="", body="We will build a **seed library**.\n\n<script>alert(1)</script>",
                **TWO_LINES),
    )  # fmt: skip
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Preview: nothing is saved yet" in page and "<strong>seed library</strong>" in page
    assert "<script>alert(1)</script>" not in page
    preview = page[page.index('id="preview"') : page.index('class="stack proposal-form"')]
    assert "Seeds for the first season" in preview and "120.00 EUR" in preview
    assert "Amount asked:</strong> 215.50 EUR" in preview
    # The form keeps what was typed, with two empty lines below the two written.
    assert 'value="A shelf with labelled drawers"' in page
    assert 'id="cost_lines-3-description"' in page and 'id="cost_lines-4-description"' not in page
    assert _count(app, Proposal) == 0 and ledger_count(app) == before


def test_preview_of_an_edit_changes_nothing(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    assert author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of()).status_code == 302
    proposal_id, _, _ = _only_proposal(app)
    before = ledger_count(app)
    response = author.post_form(
        f"/proposals/{proposal_id}/edit", form_of(action="preview", title="Seed library, bigger", body="*More* seeds.")
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "<em>More</em> seeds." in page and "Seed library, bigger" in page
    with app.app_context():
        proposal = db.session.get(Proposal, proposal_id)
        assert proposal is not None and proposal.current_version == 1
    assert ledger_count(app) == before


# --- cost lines -----------------------------------------------------------------------------------------------------


def test_cost_lines_add_up_to_the_amount_asked_and_show_on_the_proposal_page(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    response = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(amount="", **TWO_LINES))
    assert response.status_code == 302, response.get_data(as_text=True)
    proposal_id, amount, lines = _only_proposal(app)
    assert amount == 21_550
    assert lines == [(1, "Seeds for the first season", 12_000), (2, "A shelf with labelled drawers", 9_550)]
    page = author.get(f"/proposals/{proposal_id}").get_data(as_text=True)
    assert "What the money pays for" in page and "A shelf with labelled drawers" in page and "95.50 EUR" in page
    assert "Total asked" in page and "215.50 EUR" in page
    with app.app_context():
        entry = db.session.scalars(
            select(LedgerEntry).where(LedgerEntry.action == "proposal.created").order_by(LedgerEntry.id.desc())
        ).first()
        assert entry is not None and entry.data["amount_minor"] == 21_550
        assert entry.data["cost_lines"] == [
            {"description": "Seeds for the first season", "amount_minor": 12_000},
            {"description": "A shelf with labelled drawers", "amount_minor": 9_550},
        ]


def test_an_amount_beside_cost_lines_must_be_their_total(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    wrong = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(amount="250.00", **TWO_LINES))
    assert wrong.status_code == 422
    assert "The cost lines add up to 215.50 EUR, not 250.00 EUR" in _error_of(wrong.get_data(as_text=True), "amount")
    assert _count(app, Proposal) == 0 and _count(app, ProposalCostLine) == 0
    right = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(amount="215.50", **TWO_LINES))
    assert right.status_code == 302
    assert _only_proposal(app)[1] == 21_550


def test_a_cost_line_at_fault_is_named(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    no_amount = author.post_form(
        f"/rounds/{site.round_id}/proposals/new",
        form_of(amount="", **{**TWO_LINES, "cost_lines-1-amount": ""}),
    )
    assert no_amount.status_code == 422 and "Line 2: give an amount above 0." in no_amount.get_data(as_text=True)
    not_a_number = author.post_form(
        f"/rounds/{site.round_id}/proposals/new",
        form_of(amount="", **{**TWO_LINES, "cost_lines-0-amount": "lots"}),
    )
    text = not_a_number.get_data(as_text=True)
    assert not_a_number.status_code == 422 and _error_of(text, "cost_lines-0-amount")
    too_much = author.post_form(
        f"/rounds/{site.round_id}/proposals/new",
        form_of(amount="", **{**TWO_LINES, "cost_lines-1-amount": "300.00"}),
    )
    assert too_much.status_code == 422 and "Ask for at most 400.00 EUR" in _error_of(
        too_much.get_data(as_text=True), "amount"
    )
    assert _count(app, Proposal) == 0


def test_a_line_written_below_empty_ones_is_kept_when_the_form_shows_again(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    below = {"cost_lines-4-description": "Labels", "cost_lines-4-amount": "4.50"}
    blanks = {f"cost_lines-{index}-{name}": "" for index in range(4) for name in ("description", "amount")}
    page = author.post_form(
        f"/rounds/{site.round_id}/proposals/new", form_of(action="preview", amount="", **blanks, **below)
    ).get_data(as_text=True)
    assert 'value="Labels"' in page and "Amount asked:</strong> 4.50 EUR" in page


def test_editing_keeps_each_versions_lines(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    assert (
        author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(amount="", **TWO_LINES)).status_code == 302
    )
    proposal_id, _, _ = _only_proposal(app)
    form = author.get(f"/proposals/{proposal_id}/edit").get_data(as_text=True)
    assert 'value="Seeds for the first season"' in form and 'value="95.50"' in form
    three_lines = {**TWO_LINES, "cost_lines-2-description": "Labels", "cost_lines-2-amount": "4.50"}
    changed = author.post_form(f"/proposals/{proposal_id}/edit", form_of(amount="", action="save", **three_lines))
    assert changed.status_code == 302, changed.get_data(as_text=True)
    _, amount, lines = _only_proposal(app)
    assert amount == 22_000 and [line[1] for line in lines] == [
        "Seeds for the first season",
        "A shelf with labelled drawers",
        "Labels",
    ]
    with app.app_context():
        first = db.session.scalars(
            select(ProposalVersion).where(ProposalVersion.proposal_id == proposal_id, ProposalVersion.number == 1)
        ).one()
        assert len(first.cost_lines) == 2  # the submitted version stays as it was
    one_sum = author.post_form(f"/proposals/{proposal_id}/edit", form_of(amount="210.00", action="save"))
    assert one_sum.status_code == 302
    assert _only_proposal(app)[1:] == (21_000, [])


def test_a_draft_edited_in_place_gets_its_new_lines(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    draft = form_of(amount="", action="draft", **TWO_LINES)
    assert author.post_form(f"/rounds/{site.round_id}/proposals/new", draft).status_code == 302
    proposal_id, _, _ = _only_proposal(app)
    swapped = {
        "cost_lines-0-description": "A shelf with labelled drawers",
        "cost_lines-0-amount": "95.50",
        "cost_lines-1-description": "Seeds",
        "cost_lines-1-amount": "100.00",
    }
    assert author.post_form(f"/proposals/{proposal_id}/edit", form_of(amount="", **swapped)).status_code == 302
    assert _only_proposal(app)[1:] == (19_550, [(1, "A shelf with labelled drawers", 9_550), (2, "Seeds", 10_000)])
    assert _count(app, ProposalCostLine) == 2


def test_the_api_takes_and_gives_cost_lines(app: Flask) -> None:
    site = make_site(app)
    with app.app_context():
        author = db.session.get(User, site.ids["author"])
        assert author is not None
        token = make_token(author)
    client = app.test_client()
    body = {
        "title": "Seed library",
        "summary": "A shelf of seeds anyone can borrow.",
        "body": "We will build a **seed library**.",
        "category": "Tools",
        "payee": {"name": "Ana Author", "email": "ana.payee@example.org"},
        "cost_lines": [
            {"description": "Seeds", "amount_minor": 12_000},
            {"description": "Shelf", "amount_minor": 9_550},
        ],
        "submit": True,
    }
    headers = {"Authorization": f"Bearer {token}"}
    created = client.post(f"{API}/rounds/{site.round_id}/proposals", json=body, headers=headers)
    assert created.status_code == 201, created.get_json()
    data = created.get_json()
    assert data["amount_minor"] == 21_550 and [line["description"] for line in data["cost_lines"]] == ["Seeds", "Shelf"]
    mismatch = client.post(
        f"{API}/rounds/{site.round_id}/proposals", json={**body, "amount_minor": 30_000}, headers=headers
    )
    assert mismatch.status_code == 422 and "amount_minor" in mismatch.get_json()["error"]["fields"]
    patched = client.patch(
        f"{API}/proposals/{data['id']}",
        json={"cost_lines": [{"description": "Seeds", "amount_minor": 15_000}]},
        headers=headers,
    )
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["amount_minor"] == 15_000 and len(patched.get_json()["cost_lines"]) == 1
    versions = client.get(f"{API}/proposals/{data['id']}/versions", headers=headers).get_json()["items"]
    assert [len(version["cost_lines"]) for version in versions] == [2, 1]
    spec = client.get(f"{API}/openapi.json").get_json()
    schemas = spec["components"]["schemas"]
    assert "cost_lines" in schemas["ProposalCreate"]["properties"] and "cost_lines" in schemas["Proposal"]["properties"]
    assert "amount_minor" not in schemas["ProposalCreate"].get("required", [])


# --- every mistake in one pass ---------------------------------------------------------------------------------------


def _top_of(page: str) -> list[str]:
    found = re.search(r'<div class="form-errors" role="alert">(.*?)</div>', page, re.S)
    return [message.strip() for message in re.findall(r"<p>(.*?)</p>", found.group(1), re.S)] if found else []


def test_a_cost_line_that_is_not_a_number_shows_with_every_other_mistake_on_the_first_submit(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    response = author.post_form(
        f"/rounds/{site.round_id}/proposals/new",
        form_of(
            title="",
            summary="",
            amount="",
            category="Nonsense",
            payee_kind="person",
            payee_slug="",
            payee_name="Ana Author",
            payee_email="not an address",
            **{
                "cost_lines-0-description": "Seeds",
                "cost_lines-0-amount": "lots",
                "cost_lines-1-description": "",
                "cost_lines-1-amount": "10.00",
            },
        ),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert _error_of(page, "title") == "Enter a title."
    assert _error_of(page, "summary") == "Enter a one-line summary."
    assert _error_of(page, "cost_lines-0-amount") == "&#39;lots&#39; is not an amount: write it like 1250.00"
    assert _error_of(page, "cost_lines-1-description") == "Line 2: say what it pays for."
    assert _error_of(page, "category").startswith("Choose one of the round&#39;s categories")
    assert _error_of(page, "payee_email")
    # The amount left empty asks for the lines' total, which is not known while a line is not a number: no message
    # there, the line says what to correct.
    assert _error_of(page, "amount") == ""
    assert _top_of(page) == ["Please correct the fields marked below."]
    assert _count(app, Proposal) == 0


def test_an_amount_that_is_not_a_number_shows_with_the_payee_and_content_mistakes(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    response = author.post_form(
        f"/rounds/{site.round_id}/proposals/new", form_of(amount="two hundred", body="", payee_slug="Seed Library!")
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert _error_of(page, "amount") == "&#39;two hundred&#39; is not an amount: write it like 1250.00"
    assert _error_of(page, "body") == "Describe the proposal."
    assert _error_of(page, "payee_slug").startswith("An Open Collective account is its short name")
    assert _count(app, Proposal) == 0


def test_lines_that_do_not_add_up_show_with_a_line_without_words_and_an_empty_title(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    response = author.post_form(
        f"/rounds/{site.round_id}/proposals/new",
        form_of(title="", amount="500.00", **{**TWO_LINES, "cost_lines-1-amount": "0"}),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert _error_of(page, "title") == "Enter a title."
    assert _error_of(page, "cost_lines-1-amount") == "Line 2: give an amount above 0."
    # The cap is above the ask, whatever the lines say.
    assert "Ask for at most 400.00 EUR" in _error_of(page, "amount")


def test_past_the_limit_per_member_the_other_mistakes_show_too(app: Flask) -> None:
    site = make_site(app, max_proposals_per_member=1)
    author = logged_in(app, site.emails["author"])
    create_through_page_ok = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of())
    assert create_through_page_ok.status_code == 302
    response = author.post_form(
        f"/rounds/{site.round_id}/proposals/new",
        form_of(title="", amount="", **{"cost_lines-0-description": "Seeds", "cost_lines-0-amount": "x"}),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert _top_of(page) == [
        "You have 1 proposals in this round, the most a member may have. Withdraw one to add another.",
        "Please correct the fields marked below as well.",
    ]
    assert _error_of(page, "title") == "Enter a title."
    assert _error_of(page, "cost_lines-0-amount") == "&#39;x&#39; is not an amount: write it like 1250.00"
    # Nothing else marked, the limit alone: the top says only that.
    alone = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(title="Second"))
    assert alone.status_code == 422
    assert _top_of(alone.get_data(as_text=True)) == [
        "You have 1 proposals in this round, the most a member may have. Withdraw one to add another."
    ]
    assert _count(app, Proposal) == 1


def test_an_amendment_shows_its_missing_note_with_a_line_that_is_not_a_number(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    assert (
        author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(amount="", **TWO_LINES)).status_code == 302
    )
    proposal_id, _, _ = _only_proposal(app)
    owner = logged_in(app, site.emails["owner"])
    assert owner.post_form(f"/rounds/{site.round_id}/advance", {"to": "deliberation"}).status_code == 302
    versions_before = _count(app, ProposalVersion)
    form = form_of(amount="", summary="", action="save", **{**TWO_LINES, "cost_lines-1-amount": "9,5,0"})
    response = author.post_form(f"/proposals/{proposal_id}/edit", form)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "<h1>Amend the proposal</h1>" in page
    assert _error_of(page, "change_note") == "Say what the amendment changes, and why."
    assert _error_of(page, "summary") == "Enter a one-line summary."
    assert "is not an amount" in _error_of(page, "cost_lines-1-amount")
    assert _count(app, ProposalVersion) == versions_before
    # Without the form's own mistakes, the service's rules still come together.
    refused = author.post_form(f"/proposals/{proposal_id}/edit", form_of(amount="999.00", title="", action="save"))
    text = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert _error_of(text, "change_note") == "Say what the amendment changes, and why."
    assert _error_of(text, "title") == "Enter a title."
    assert "Ask for at most 400.00 EUR" in _error_of(text, "amount")


def test_a_draft_edited_shows_every_mistake_in_one_pass(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    draft = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(action="draft"))
    assert draft.status_code == 302
    proposal_id, _, _ = _only_proposal(app)
    response = author.post_form(
        f"/proposals/{proposal_id}/edit",
        form_of(amount="1.234", title="", payee_kind="person", payee_slug="", payee_name="", action="save"),
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert _error_of(page, "amount") == "EUR has 2 decimals at most."
    assert _error_of(page, "title") == "Enter a title."
    assert _error_of(page, "payee_kind").startswith("Say who is paid")


def test_a_wrong_account_on_open_collective_shows_with_the_other_mistakes(app: Flask, make_sandbox: Any) -> None:
    from tests.worlds.sandbox import SANDBOX_COLLECTIVE, SANDBOX_TOKEN

    running = make_sandbox()
    running.sandbox.add_account("seed-library", name="Seed Library Collective", token="seed-library-token")
    site = make_site(app)
    with app.app_context():
        round_ = db.session.get(Round, site.round_id)
        assert round_ is not None
        circle = db.session.get(Circle, round_.circle_id)
        owner = db.session.get(User, site.ids["owner"])
        assert circle is not None and owner is not None
        treasurer = make_user(name="Tomas Treasurer")
        add_member(circle, treasurer, ["member", "treasurer"], by=owner)
        connect_circle(circle, treasurer, api_url=running.url, slug=SANDBOX_COLLECTIVE, token=SANDBOX_TOKEN)
        db.session.commit()
    author = logged_in(app, site.emails["author"])
    response = author.post_form(
        f"/rounds/{site.round_id}/proposals/new", form_of(payee_slug="seed-libary", title="", amount="many")
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "Open Collective has no account “seed-libary”" in _error_of(page, "payee_slug")
    assert _error_of(page, "title") == "Enter a title."
    assert "is not an amount" in _error_of(page, "amount")
    assert _count(app, Proposal) == 0


def test_the_edit_form_of_a_version_with_lines_leaves_the_amount_empty_so_a_line_can_change(app: Flask) -> None:
    site = make_site(app)
    author = logged_in(app, site.emails["author"])
    assert (
        author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(amount="", **TWO_LINES)).status_code == 302
    )
    proposal_id, _, _ = _only_proposal(app)
    page = author.get(f"/proposals/{proposal_id}/edit").get_data(as_text=True)
    amount_input = re.search(r'<input[^>]*name="amount"[^>]*>', page)
    assert amount_input is not None and 'value="215.50"' not in amount_input.group(0)
    assert 'value="95.50"' in page  # the lines are there
    # A version of one sum keeps its amount in the field.
    one_sum = author.post_form(f"/proposals/{proposal_id}/edit", form_of(amount="210.00", action="save"))
    assert one_sum.status_code == 302
    again = author.get(f"/proposals/{proposal_id}/edit").get_data(as_text=True)
    amount_again = re.search(r'<input[^>]*name="amount"[^>]*>', again)
    assert amount_again is not None and 'value="210.00"' in amount_again.group(0)
