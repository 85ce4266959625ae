"""The treasury page: every round's payouts told apart (a round column, filters by round and status), several payouts
approved at once with one code (all or nothing, each approval its own ledger entry), the payout page in members'
words with the technical details folded away, and the sandbox's host page that the treasury links to."""

# ruff: noqa: F811
from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from flask import Flask

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.payouts.models import OpenCollectiveConnection, Payout
from fundcircle.payouts.services import expense_link
from fundcircle.rounds.models import Round
from tests.conftest import Client
from tests.factories import make_funded_round, totp_code
from tests.worlds.treasury import Treasury, build_treasury, ledger_actions


def _logged_in(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def _treasury(client: Client, treasury: Treasury, query: str = "") -> tuple[int, str]:
    response = client.get(f"/circles/{treasury.circle_id}/treasury{query}")
    return response.status_code, response.get_data(as_text=True)


def _approve_many(client: Client, treasury: Treasury, payout_ids: list[int], code: str, **extra: str) -> Any:
    return client.post_form(
        f"/circles/{treasury.circle_id}/treasury/approve", {"payouts": payout_ids, "totp": code, **extra}
    )


def _visible(page: str) -> str:
    """The page without its folded technical details, its tags and its attributes: what a member reads at once."""
    folded = re.sub(r'<details class="technical">.*?</details>', "", page, flags=re.S)
    return re.sub(r"<[^>]+>", " ", folded)


def _add_second_round(treasury: Treasury, title: str = "Autumn repairs") -> int:
    """A second decided round in the treasury's circle, whose one payout (80.00 EUR, to a person) awaits approval."""
    with treasury.app.app_context():
        circle = db.session.get(Circle, treasury.circle_id)
        admin, voter, eli = (
            db.session.scalars(db.select(User).where(User.email == treasury.emails[name])).one()
            for name in ("admin", "bea", "eli")
        )
        _, (proposal,) = make_funded_round(
            circle,
            admin,
            voter,
            [{"author": eli, "title": "Tool shed", "amount_minor": 8_000, "payee_slug": None,
              "payee_name": "Rosa Builder", "payee_email": "rosa@example.org"}],
            title=title,
        )  # fmt: skip
        payout_id = db.session.scalars(db.select(Payout.id).where(Payout.proposal_id == proposal.id)).one()
        treasury.payout_ids["Tool shed"] = payout_id
        return payout_id


def _row(page: str, title: str) -> str:
    match = re.search(rf"<tr>(?:(?!</tr>).)*>{re.escape(title)}</a>.*?</tr>", page, flags=re.S)
    assert match, f"no row for {title}"
    return match.group(0)


# --- rounds told apart ---------------------------------------------------------------------------------------------


def test_each_payout_names_its_round_and_the_list_filters_by_round_and_status(treasury: Treasury) -> None:
    _add_second_round(treasury)
    client = _logged_in(treasury.app, treasury.emails["tomas"])
    status, page = _treasury(client, treasury)
    assert status == 200
    with treasury.app.app_context():
        first_round = db.session.get(Round, treasury.round_id)
        assert first_round is not None
        first_title = first_round.title
        autumn_id = db.session.scalars(db.select(Round.id).where(Round.title == "Autumn repairs")).one()
    assert 'data-label="Round">' + first_title in _row(page, "Seed library")
    assert 'data-label="Round">Autumn repairs' in _row(page, "Tool shed")
    assert '<table class="stacked">' in page and 'data-label="Amount"' in page
    assert '<option selected value="0">Every round</option>' in page
    assert "Payouts are requested as <strong>grants</strong> on Open Collective." in page  # not GRANT
    assert "flask oc-sandbox" not in page and "flask payouts sync" not in page

    status, page = _treasury(client, treasury, f"?round_id={autumn_id}&status=")
    assert status == 200
    assert "Tool shed" in page and "Seed library" not in page and "Bike repair" not in page
    assert "Awaiting approval: <strong>80.00 EUR</strong>" in page  # the figures are the round's
    assert "Show every payout" in page

    with treasury.app.app_context():
        bike = treasury.payout("Bike repair")
        bike.status, bike.status_changed_at, bike.cancel_reason = "cancelled", bike.created_at, "Done by volunteers"
        db.session.commit()
    status, page = _treasury(client, treasury, "?round_id=0&status=cancelled")
    assert status == 200 and "Bike repair" in page and "Seed library" not in page and "Tool shed" not in page
    status, page = _treasury(client, treasury, "?status=paid")
    assert status == 200 and "No payouts under way match what you chose." in page


def test_a_filter_that_is_not_offered_is_refused_in_words_and_the_whole_list_shown(treasury: Treasury) -> None:
    client = _logged_in(treasury.app, treasury.emails["tomas"])
    for query, message in (
        ("?round_id=999999", "That round has no payouts here: choose one from the list."),
        ("?round_id=abc", "That round has no payouts here: choose one from the list."),
        ("?status=DRAFT", "Choose a status from the list."),
    ):
        status, page = _treasury(client, treasury, query)
        assert status == 400, query
        assert message in page and "Seed library" in page and "Bike repair" in page


# --- several at once with one code ---------------------------------------------------------------------------------


def test_one_code_approves_every_ticked_payout_each_in_its_own_ledger_entry(treasury: Treasury) -> None:
    tool_shed = _add_second_round(treasury)
    seed, bike = treasury.payout_ids["Seed library"], treasury.payout_ids["Bike repair"]
    client = _logged_in(treasury.app, treasury.emails["tomas"])
    _, page = _treasury(client, treasury)
    for payout_id in (seed, bike, tool_shed):
        assert f'name="payouts" value="{payout_id}"' in page
    assert "Approve the ticked payouts" in page

    response = _approve_many(client, treasury, [seed, tool_shed], totp_code(treasury.totp_secrets["tomas"]))
    assert response.status_code == 302
    with treasury.app.app_context():
        assert treasury.payout("Seed library").status == "requested"
        assert treasury.payout("Tool shed").status == "invited"
        assert treasury.payout("Bike repair").status == "awaiting_approval"
        given = db.session.scalars(
            db.select(LedgerEntry).where(LedgerEntry.action == "payout.approval_given").order_by(LedgerEntry.seq)
        ).all()
        assert sorted(entry.subject_id for entry in given) == [seed, tool_shed]
        assert ledger_actions(treasury.circle_id).count("payout.approved") == 2
    assert len(treasury.sandbox.sandbox.expenses()) == 2
    _, page = _treasury(client, treasury)
    assert "Approved 2 payout(s). 2 fully approved: they go to Open Collective now." in page


def test_if_one_ticked_payout_cannot_be_approved_none_is_and_the_page_says_which_and_why(treasury: Treasury) -> None:
    # "author" is a treasurer who wrote Seed library: they may approve Bike repair, never their own proposal's payout.
    seed, bike = treasury.payout_ids["Seed library"], treasury.payout_ids["Bike repair"]
    client = _logged_in(treasury.app, treasury.emails["author"])
    _, page = _treasury(client, treasury)
    assert f'name="payouts" value="{bike}"' in page and f'name="payouts" value="{seed}"' not in page

    code = totp_code(treasury.totp_secrets["author"])
    response = _approve_many(client, treasury, [seed, bike], code)  # a hand-made form, ticking their own
    text = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "None of them was approved." in text
    assert "“Seed library”: You wrote this proposal, so another treasurer must approve its payout." in text
    with treasury.app.app_context():
        assert treasury.payout("Seed library").status == "awaiting_approval"
        assert treasury.payout("Bike repair").status == "awaiting_approval"
        assert "payout.approval_given" not in ledger_actions(treasury.circle_id)
    assert treasury.sandbox.sandbox.expenses() == []

    # The refusal used nothing: the same code approves the one they may approve.
    assert _approve_many(client, treasury, [bike], code).status_code == 302
    with treasury.app.app_context():
        assert treasury.payout("Bike repair").status in ("approved", "invited")
        assert ledger_actions(treasury.circle_id).count("payout.approval_given") == 1


def test_a_wrong_code_or_no_payout_ticked_approves_nothing_and_says_where(treasury: Treasury) -> None:
    seed, bike = treasury.payout_ids["Seed library"], treasury.payout_ids["Bike repair"]
    client = _logged_in(treasury.app, treasury.emails["tomas"])
    wrong = "000000" if totp_code(treasury.totp_secrets["tomas"]) != "000000" else "111111"
    response = _approve_many(client, treasury, [seed, bike], wrong)
    text = response.get_data(as_text=True)
    assert response.status_code in (400, 401, 403, 422) and "That code does not match." in text
    assert 'id="totp-error"' in text
    assert f'value="{seed}" id="choose-{seed}" checked' in text  # the ticks are kept for the next try

    response = _approve_many(client, treasury, [], totp_code(treasury.totp_secrets["tomas"]))
    text = response.get_data(as_text=True)
    assert response.status_code == 400 and "Tick the payouts to approve: none was chosen." in text

    response = _approve_many(client, treasury, ["seven"], totp_code(treasury.totp_secrets["tomas"]))  # type: ignore[list-item]
    assert response.status_code == 400 and "Tick payouts from the list." in response.get_data(as_text=True)
    with treasury.app.app_context():
        assert "payout.approval_given" not in ledger_actions(treasury.circle_id)


def test_another_circles_payout_cannot_be_ticked_in(treasury: Treasury, app: Flask, make_sandbox: Any) -> None:
    other = build_treasury(app, make_sandbox(), domain="elsewhere.org")
    client = _logged_in(treasury.app, treasury.emails["tomas"])
    response = _approve_many(
        client, treasury, [treasury.payout_ids["Seed library"], other.payout_ids["Seed library"]],
        totp_code(treasury.totp_secrets["tomas"]),
    )  # fmt: skip
    assert response.status_code == 422
    assert "not a payout of this circle" in response.get_data(as_text=True)
    with app.app_context():
        assert other.payout("Seed library").status == "awaiting_approval"
        assert treasury.payout("Seed library").status == "awaiting_approval"


def test_the_two_person_rule_holds_when_approving_several_at_once(treasury: Treasury) -> None:
    with treasury.app.app_context():
        circle = db.session.get(Circle, treasury.circle_id)
        assert circle is not None
        circle.approvals_required = 2
        db.session.commit()
    seed, bike = treasury.payout_ids["Seed library"], treasury.payout_ids["Bike repair"]
    tomas = _logged_in(treasury.app, treasury.emails["tomas"])
    assert _approve_many(tomas, treasury, [seed, bike], totp_code(treasury.totp_secrets["tomas"])).status_code == 302
    _, page = _treasury(tomas, treasury)
    assert "Approved 2 payout(s). 2 need(s) another treasurer&#39;s approval too." in page
    assert f'name="payouts" value="{seed}"' not in page  # Tomas has approved it: nothing more for him to tick
    with treasury.app.app_context():
        assert {treasury.payout(t).status for t in ("Seed library", "Bike repair")} == {"awaiting_approval"}
    # Tomas again, with a fresh code: refused, naming each payout.
    response = _approve_many(tomas, treasury, [seed], totp_code(treasury.totp_secrets["tomas"], offset_steps=1))
    assert response.status_code == 409 and "You have approved this payout already" in response.get_data(as_text=True)
    # Tess is Bike repair's payee: only Seed library is hers to complete.
    tess = _logged_in(treasury.app, treasury.emails["tess"])
    response = _approve_many(tess, treasury, [seed, bike], totp_code(treasury.totp_secrets["tess"]))
    assert response.status_code == 403 or response.status_code == 409
    assert "“Bike repair”: You are this payout&#39;s payee" in response.get_data(as_text=True)
    assert _approve_many(tess, treasury, [seed], totp_code(treasury.totp_secrets["tess"])).status_code == 302
    with treasury.app.app_context():
        assert treasury.payout("Seed library").status == "requested"
        assert treasury.payout("Bike repair").status == "awaiting_approval"


def test_approving_several_beyond_the_balance_needs_one_confirmation(app: Flask, make_sandbox: Any) -> None:
    from fundcircle.payouts.requesting import refresh_balance

    treasury = build_treasury(app, make_sandbox(balance_minor=30_000))  # 300.00 EUR; the two ask 400.00
    with app.app_context():
        refresh_balance(treasury.circle_id)
    seed, bike = treasury.payout_ids["Seed library"], treasury.payout_ids["Bike repair"]
    client = _logged_in(app, treasury.emails["tomas"])
    code = totp_code(treasury.totp_secrets["tomas"])
    response = _approve_many(client, treasury, [seed, bike], code)
    text = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "100.00 EUR more than the collective has" in text and "Confirm to approve them anyway." in text
    assert "Approve them although the collective&#39;s balance does not cover them" in text
    response = _approve_many(client, treasury, [seed, bike], code, confirm_beyond_balance="y")
    assert response.status_code == 302
    with app.app_context():
        entries = db.session.scalars(db.select(LedgerEntry).where(LedgerEntry.action == "payout.approval_given"))
        assert [entry.data.get("confirmed_beyond_balance") for entry in entries] == [True, True]


# --- the payout page in words --------------------------------------------------------------------------------------


def test_the_payout_page_says_where_the_money_stands_and_folds_the_technical_details(treasury: Treasury) -> None:
    seed, bike = treasury.payout_ids["Seed library"], treasury.payout_ids["Bike repair"]
    client = _logged_in(treasury.app, treasury.emails["tomas"])
    page = client.get(f"/payouts/{seed}").get_data(as_text=True)
    assert "Waiting for a treasurer to approve it" in page and "none yet" in page
    assert "Technical details" not in page  # nothing technical yet

    assert _approve_many(client, treasury, [seed, bike], totp_code(treasury.totp_secrets["tomas"])).status_code == 302
    with treasury.app.app_context():
        seed_payout, bike_payout = treasury.payout("Seed library"), treasury.payout("Bike repair")
        assert seed_payout.expense_id and seed_payout.request_key and bike_payout.expense_id
        assert bike_payout.expense_status == "DRAFT"
    page = client.get(f"/payouts/{seed}").get_data(as_text=True)
    assert "Requested from Open Collective, waiting for the host to approve and pay it." in page
    assert '<details class="technical">' in page and "<summary>Technical details</summary>" in page
    assert seed_payout.expense_id in page and seed_payout.request_key in page  # in the details
    visible = _visible(page)
    for technical in (seed_payout.expense_id, seed_payout.request_key, "PENDING", "requested</code>"):
        assert technical not in visible, technical
    link = re.search(r'<a href="([^"]+)">See this payout on Open Collective</a>', page)
    assert link, "no link to the expense"
    target = urlsplit(link.group(1).replace("&amp;", "&"))
    assert f"{target.scheme}://{target.netloc}" == treasury.sandbox.base_url
    assert target.fragment == f"expense-{seed_payout.expense_id}"
    assert parse_qs(target.query)["back"] == [f"http://localhost/payouts/{seed}"]

    page = client.get(f"/payouts/{bike}").get_data(as_text=True)
    assert "Open Collective has e-mailed Tess Treasurer an invitation to fill in their payment details" in page
    assert "DRAFT" in page and "DRAFT" not in _visible(page)


def test_the_link_to_an_expense_on_open_collective_itself_searches_the_collectives_expenses(
    treasury: Treasury,
) -> None:
    with treasury.app.app_context():
        payout = treasury.payout("Seed library")
        payout.expense_id = "abc123-expense"
        for api_url, site in (
            ("https://api.opencollective.com/graphql/v2", "opencollective.com"),
            ("https://api-staging.opencollective.com/graphql/v2", "staging.opencollective.com"),
        ):
            connection = OpenCollectiveConnection(circle_id=treasury.circle_id, api_url=api_url,
                                                  collective_slug="riverside-fund")  # fmt: skip
            assert expense_link(payout, connection, "unused") == (
                f"https://{site}/riverside-fund/expenses?searchTerm=Seed+library"
            )
        payout.expense_id = None
        assert expense_link(payout, connection, "unused") is None
        db.session.rollback()


# --- the sandbox's host page ---------------------------------------------------------------------------------------


def test_the_sandbox_host_page_is_styled_fits_a_phone_and_links_back_to_fund_circle(treasury: Treasury) -> None:
    client = _logged_in(treasury.app, treasury.emails["tomas"])
    _, page = _treasury(client, treasury)
    link = re.search(r'<a href="([^"]+)">its page</a>', page)
    assert link
    sandbox_page = link.group(1).replace("&amp;", "&")
    assert sandbox_page.startswith(treasury.sandbox.base_url + "/?back=")
    with requests.Session() as browser:
        response = browser.get(sandbox_page, timeout=5)
        assert response.status_code == 200
        assert "script-src" not in response.headers["Content-Security-Policy"]
        host_page = response.text
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in host_page
        assert '<link rel="stylesheet" href="/sandbox.css">' in host_page and " style=" not in host_page
        back = f"http://localhost/circles/{treasury.circle_id}/treasury"
        assert f'<a class="back" href="{back}">← Back to Fund Circle</a>' in host_page
        assert "No expenses yet: they appear here when Fund Circle requests an approved payout." in host_page
        css = browser.get(treasury.sandbox.base_url + "/sandbox.css", timeout=5)
        assert css.status_code == 200 and css.headers["Content-Type"].startswith("text/css")
        assert "@media (max-width: 40rem)" in css.text and "table.stacked" in css.text
        assert "http" not in css.text  # nothing from another site

        # A link back to another site is never planted: the page keeps the one it had.
        host_page = browser.get(treasury.sandbox.base_url + "/?back=https://evil.example/", timeout=5).text
        assert "evil.example" not in host_page and f'href="{back}"' in host_page


def test_the_sandbox_host_page_links_to_the_apps_address_when_nothing_linked_there(make_sandbox: Any) -> None:
    from oc_sandbox.sandbox import DEVELOPMENT_APP_URL, SandboxApp

    running = make_sandbox()
    page = requests.get(running.base_url + "/", timeout=5).text
    assert f'<a class="back" href="{DEVELOPMENT_APP_URL}">' in page
    app = SandboxApp(running.sandbox, app_url="https://fund.example.org/")
    assert app.back_link() == "https://fund.example.org/"
    app._remember_back("https://fund.example.org/circles/3/treasury")
    assert app.back_link() == "https://fund.example.org/circles/3/treasury"
    app._remember_back("javascript:alert(1)")
    assert app.back_link() == "https://fund.example.org/circles/3/treasury"


def test_the_sandbox_command_takes_the_apps_address_for_the_link_back() -> None:
    from click.testing import CliRunner

    from oc_sandbox.cli import oc_sandbox_command

    result = CliRunner().invoke(oc_sandbox_command, ["--help"])
    assert result.exit_code == 0 and "--app-url" in result.output and "BASE_URL" in result.output
