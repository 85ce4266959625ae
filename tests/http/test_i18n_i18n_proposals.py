"""The proposals' and the discussion's pages in the reader's language: each page renders for a German and a Spanish
browser and says its language on <html> (the catalogues are merged later; what the words say in each language is
checked then), and an amount typed in a proposal form is read the way the reader writes numbers: "1.000,00" is a
thousand for a German reader, and "1,000" is refused for them as ambiguous, with the message at the field."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from sqlalchemy import select

from fundcircle.extensions import db
from fundcircle.proposals.models import Proposal, ProposalVersion
from tests.conftest import Client
from tests.http.test_proposal_pages import (
    create_through_page,
    edit_through_page,
    form_of,
    logged_in,
    make_site,
    post_comment,
)


def _reading(app: Flask, email: str, language: str) -> Client:
    client = logged_in(app, email)
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = f"{language},en;q=0.5"
    return client


def _error_of(page: str, field_id: str) -> str:
    found = re.search(rf'<p class="error" id="{re.escape(field_id)}-error">(.*?)</p>', page, re.S)
    return found.group(1).strip() if found else ""


def _current_amount(app: Flask, proposal_id: int) -> int:
    with app.app_context():
        proposal = db.session.get(Proposal, proposal_id)
        assert proposal is not None
        return db.session.scalars(
            select(ProposalVersion.amount_minor).where(
                ProposalVersion.proposal_id == proposal_id, ProposalVersion.number == proposal.current_version
            )
        ).one()


@pytest.mark.parametrize("language", ["de", "es"])
def test_the_proposal_and_discussion_pages_render_in_the_readers_language(app: Flask, language: str) -> None:
    site = make_site(app)
    author = _reading(app, site.emails["author"], language)
    # Both languages write a decimal comma.
    proposal_id = create_through_page(author, site.round_id, amount="250,00")
    edited = edit_through_page(author, proposal_id, amount="250,00", summary="Seeds anyone in the street can borrow.")
    assert edited.status_code == 302, edited.get_data(as_text=True)
    comment_id = post_comment(author, proposal_id, "Who keeps the key?", question="y")
    pages = [
        f"/rounds/{site.round_id}/proposals/new",
        f"/proposals/{proposal_id}",
        f"/proposals/{proposal_id}/edit",
        f"/proposals/{proposal_id}/diff?from=1&to=2",
        f"/proposals/{proposal_id}/diff?from=1&to=2&view=source",
        f"/proposals/{proposal_id}/withdraw",
        f"/comments/{comment_id}/edit",
    ]
    for url in pages:
        response = author.get(url)
        assert response.status_code == 200, url
        assert f'<html lang="{language}"' in response.get_data(as_text=True), url
    # Another member reads the page too (no author's buttons), and a refused form is shown in the language.
    member = _reading(app, site.emails["circle"], language)
    page = member.get(f"/proposals/{proposal_id}")
    assert page.status_code == 200 and f'<html lang="{language}"' in page.get_data(as_text=True)
    refused = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(title="", amount="0"))
    assert refused.status_code in (400, 422) and f'<html lang="{language}"' in refused.get_data(as_text=True)


def test_a_german_reader_types_amounts_as_germans_write_them(app: Flask) -> None:
    site = make_site(app, budget_minor=500_000, per_proposal_cap_minor=200_000)
    author = _reading(app, site.emails["author"], "de")
    proposal_id = create_through_page(author, site.round_id, amount="1.000,00")
    assert _current_amount(app, proposal_id) == 100000
    # The edit form shows the amount back the way it was typed, so that saving it unchanged keeps it.
    edit_page = author.get(f"/proposals/{proposal_id}/edit").get_data(as_text=True)
    assert re.search(r'name="amount"[^>]*value="1\.000,00"', edit_page) or re.search(
        r'value="1\.000,00"[^>]*name="amount"', edit_page
    )


def test_a_thousand_written_the_english_way_is_refused_for_a_german_reader_at_its_field(app: Flask) -> None:
    site = make_site(app, budget_minor=500_000, per_proposal_cap_minor=200_000)
    author = _reading(app, site.emails["author"], "de")
    response = author.post_form(f"/rounds/{site.round_id}/proposals/new", form_of(amount="1,000"))
    assert response.status_code in (400, 422)
    assert _error_of(response.get_data(as_text=True), "amount"), "the amount field says why it is refused"
    with app.app_context():
        assert db.session.scalars(select(Proposal)).first() is None
    # In English the same text is a thousand, as it always was.
    english = _reading(app, site.emails["circle"], "en")
    proposal_id = create_through_page(english, site.round_id, amount="1,000")
    assert _current_amount(app, proposal_id) == 100000
