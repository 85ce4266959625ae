"""Journeys: a treasurer sets up an authenticator app, approves a payout with its code, plays the host on the Open
Collective sandbox, and watches the payout reach `paid`; and a treasurer approves three payouts of two rounds at once
with one code, on a phone. Keyboard only.

The sandbox runs in the test process (a thread, on 127.0.0.1); the app under gunicorn reaches it over HTTP, as it
would reach Open Collective. Its page is not part of the product: it is saved, not checked with axe-core.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
from flask import Flask
from playwright.sync_api import Locator, Page, expect

from fundcircle.extensions import db
from fundcircle.payouts.models import Payout
from oc_sandbox.sandbox import RunningSandbox
from tests.browser.conftest import on_browser_database
from tests.browser.support import Journey, Keys
from tests.conftest import TEST_PASSWORD
from tests.factories import add_member, connect_circle, enrol_totp, make_circle, make_funded_round, make_user
from tests.worlds.sandbox import (  # noqa: F401  (fixtures)
    SANDBOX_BALANCE_MINOR,
    SANDBOX_COLLECTIVE,
    SANDBOX_PAYEE,
    SANDBOX_TOKEN,
    make_sandbox,
    oc_sandbox,
    oc_schema,
)

pytestmark = on_browser_database

CIRCLE = "Riverside Learning Circle"
ROUND = "Winter small grants"
PROPOSAL = "Seed library"  # 250.00 EUR to the sandbox's payee account
APPROVE = "Approve 250.00 EUR"


def _wrong_code(secret: str) -> str:
    """Six digits that no step near now gives, so the server cannot accept them."""
    totp, now = pyotp.TOTP(secret), time.time()
    near = {totp.at(now + 30 * offset) for offset in range(-3, 4)}
    return next(code for code in ("000000", "111111", "222222", "333333") if code not in near)


def _to_treasury(story: Journey, page: Page, label: str) -> None:
    keys = Keys(page)
    keys.follow(page.get_by_role("link", name="My circles"))
    story.seen(page, "home")
    keys.follow(page.get_by_role("link", name=CIRCLE))
    story.seen(page, "circle")
    keys.follow(page.get_by_role("link", name="Treasury"))
    story.seen(page, label)


def _figure(page: Page, name: str) -> Locator:
    """One of the treasury's totals ("Paid: 250.00 EUR")."""
    return page.get_by_role("listitem").filter(has_text=re.compile(rf"^\s*{re.escape(name)}:"))


def _payout_row(page: Page) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=PROPOSAL))


def test_a_treasurer_enrols_approves_and_sees_the_payout_paid_on_the_sandbox(
    app: Flask,
    journey: Any,
    oc_sandbox: RunningSandbox,  # noqa: F811
) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        tomas = make_user(name="Tomas Treasurer", email="tomas@example.org")
        bea = make_user(name="Bea Circle", email="bea@example.org")
        eli = make_user(name="Eli Member", email="eli@example.org")
        circle = make_circle(admin, name=CIRCLE)
        add_member(circle, tomas, ["treasurer"], by=admin)
        add_member(circle, bea, ["member", "circle"], by=admin)
        add_member(circle, eli, ["member"], by=admin)
        _, (proposal,) = make_funded_round(
            circle, admin, bea, [{"author": eli, "title": PROPOSAL, "payee_slug": SANDBOX_PAYEE}], title=ROUND
        )
        connect_circle(circle, tomas, api_url=oc_sandbox.url, slug=SANDBOX_COLLECTIVE, token=SANDBOX_TOKEN,
                       name="Riverside Fund", balance_minor=SANDBOX_BALANCE_MINOR)  # fmt: skip
        circle_id = circle.id
        payout_id = db.session.scalars(db.select(Payout.id).where(Payout.proposal_id == proposal.id)).one()
        assert not tomas.has_totp
    story = journey("payouts")

    # 1. Tomas, a treasurer without an authenticator app, finds the payout and is told to set one up.
    page = story.log_in("tomas@example.org")
    keys = Keys(page)
    keys.follow(page.get_by_role("link", name=CIRCLE))
    story.seen(page, "circle")
    keys.follow(page.get_by_role("link", name="Treasury"))
    story.seen(page, "treasury-awaiting-approval", screenshot=True)
    expect(page.get_by_role("note")).to_contain_text("Sandbox.")
    expect(page.get_by_role("note")).to_contain_text("no money moves")
    expect(page.get_by_text("Connected to Riverside Fund")).to_be_visible()
    expect(page.get_by_text("Balance on Open Collective:")).to_contain_text("5,000.00 EUR")
    expect(_figure(page, "Awaiting approval")).to_have_text("Awaiting approval: 250.00 EUR")
    expect(_payout_row(page)).to_contain_text("Awaiting approval")
    keys.follow(page.get_by_role("link", name=PROPOSAL))
    story.seen(page, "payout-no-authenticator", screenshot=True)
    expect(page.get_by_role("heading", name=f"Payout: {PROPOSAL}")).to_be_visible()
    expect(page.get_by_role("note")).to_contain_text("no money moves")
    expect(page.get_by_text("Approving needs a code from an authenticator app.")).to_be_visible()
    expect(page.get_by_label("Code from your authenticator app")).to_have_count(0)
    keys.follow(page.get_by_role("link", name="Set one up on your profile"))
    story.seen(page, "profile", screenshot=True)
    assert page.url.endswith("/profile#second-factor")

    # 2. On the profile: the password again, then the QR code and the key; the code the app would show confirms it.
    keys.type(page.get_by_label("Your password"), TEST_PASSWORD)
    keys.follow(page.get_by_role("button", name="Set up an authenticator app"))
    story.seen(page, "profile-qr-code", screenshot=True)
    qr = page.get_by_role("img", name="QR code holding the key below")
    expect(qr).to_be_visible()
    assert qr.evaluate("img => img.complete && img.naturalWidth > 0"), "the QR code image did not load"
    secret = page.get_by_text("Key:").locator("code").inner_text().strip()
    assert len(secret) >= 16 and secret.isalnum(), secret
    keys.type(page.get_by_label("The code your app shows"), pyotp.TOTP(secret).now())
    keys.follow(page.get_by_role("button", name="Confirm"))
    story.seen(page, "profile-authenticator-set-up", screenshot=True)
    expect(page.get_by_text("Its codes confirm your approvals of payouts.")).to_be_visible()
    expect(page.get_by_role("img", name="QR code holding the key below")).to_have_count(0)

    # 3. Back on the payout: a wrong code is refused and announced, then a fresh right one approves it.
    _to_treasury(story, page, "treasury")
    keys.follow(page.get_by_role("link", name=PROPOSAL))
    story.seen(page, "payout-approve-form")
    code_field = page.get_by_label("Code from your authenticator app")
    keys.type(code_field, _wrong_code(secret))
    keys.follow(page.get_by_role("button", name=APPROVE))
    story.seen(page, "payout-wrong-code", screenshot=True)
    expect(page.get_by_role("alert").first).to_contain_text("Please correct the fields marked below.")
    expect(code_field).to_have_attribute("aria-invalid", "true")
    described_by = (code_field.get_attribute("aria-describedby") or "").split()
    error_id = code_field.evaluate("el => el.id") + "-error"
    assert error_id in described_by, described_by
    expect(page.locator(f"#{error_id}")).to_contain_text("That code does not match.")
    expect(page.locator("dl.facts")).to_contain_text("Awaiting approval")
    # A code is accepted once: the one after the code that confirmed the app (the server allows one step of drift).
    keys.replace(code_field, pyotp.TOTP(secret).at(time.time() + 30))
    keys.follow(page.get_by_role("button", name=APPROVE))
    story.seen(page, "payout-requested", screenshot=True)
    expect(page.get_by_role("status")).to_contain_text("Approved. The payout is fully approved")
    expect(page.locator("dl.facts")).to_contain_text("Requested on Open Collective")
    expect(page.locator("dl.facts")).to_contain_text("1 of 1 needed (Tomas Treasurer")
    expect(page.locator("dl.facts")).to_contain_text("waiting for the host to approve and pay it")
    expect(page.get_by_role("link", name="See this payout on Open Collective")).to_be_visible()
    # The expense's id and Open Collective's own status are folded away under "Technical details".
    details = page.locator("details.technical")
    expect(details.get_by_text("PENDING")).to_be_hidden()
    keys.space(details.locator("summary"))
    expect(details.get_by_text("PENDING")).to_be_visible()
    expect(page.get_by_role("button", name=APPROVE)).to_have_count(0)
    [expense] = oc_sandbox.sandbox.expenses()
    assert expense.status == "PENDING"

    # 4. Playing the host on the sandbox's own page (linked from the treasury's sandbox notice): approve, then pay.
    keys.follow(page.get_by_role("link", name="Treasury"))
    story.seen(page, "treasury-requested")
    expect(_payout_row(page)).to_contain_text("Requested on Open Collective")
    expect(_figure(page, "Approved, not yet paid")).to_have_text(
        "Approved, not yet paid: 250.00 EUR (left of the balance after them: 4,750.00 EUR)"
    )
    keys.follow(page.get_by_role("link", name="its page"))
    assert page.url.startswith(oc_sandbox.base_url), page.url
    story.outside(page, "sandbox-pending")
    expense_row = page.get_by_role("row").filter(has_text=expense.public_id)
    expect(expense_row).to_contain_text("PENDING")
    keys.follow(expense_row.get_by_role("button", name="Approve"))
    story.outside(page, "sandbox-approved")
    expect(expense_row).to_contain_text("APPROVED")
    keys.follow(expense_row.get_by_role("button", name="Pay"))
    story.outside(page, "sandbox-paid")
    expect(expense_row).to_contain_text("PAID")
    expect(page.get_by_role("listitem").filter(has_text=SANDBOX_COLLECTIVE)).to_contain_text("4,750.00 EUR")

    # 5. Back in the treasury by the sandbox's own link: Open Collective is asked, and the payout is paid.
    keys.follow(page.get_by_role("link", name="Back to Fund Circle"))
    assert page.url.endswith(f"/circles/{circle_id}/treasury"), page.url
    story.seen(page, "treasury-before-check")
    expect(_payout_row(page)).to_contain_text("Requested on Open Collective")
    keys.follow(page.get_by_role("button", name="Check Open Collective now"))
    story.seen(page, "treasury-paid", screenshot=True)
    expect(page.get_by_role("status")).to_contain_text("Checked Open Collective: 1 payout(s) changed.")
    expect(_payout_row(page)).to_contain_text("Paid")
    expect(_figure(page, "Paid")).to_have_text("Paid: 250.00 EUR")
    expect(_figure(page, "Approved, not yet paid")).to_have_text(
        "Approved, not yet paid: 0.00 EUR (left of the balance after them: 4,750.00 EUR)"
    )
    expect(page.get_by_text("Balance on Open Collective:")).to_contain_text("4,750.00 EUR")
    keys.follow(page.get_by_role("link", name=PROPOSAL))
    story.seen(page, "payout-paid", screenshot=True)
    expect(page.locator("dl.facts")).to_contain_text("Paid: Open Collective says the money has gone to the payee.")
    expect(page.get_by_text("PAID", exact=True)).to_be_hidden()  # Open Collective's word, in the technical details
    keys.follow(page.get_by_role("link", name=CIRCLE))
    story.seen(page, "circle")
    keys.follow(page.get_by_role("link", name=ROUND, exact=True))
    story.seen(page, "round")
    keys.follow(page.get_by_role("link", name="See the results"))
    story.seen(page, "results-paid", screenshot=True)
    results = page.get_by_role("table", name="Every proposal, in the order the budget was walked")
    expect(results.get_by_role("row").filter(has_text=PROPOSAL)).to_contain_text("Payout: paid")

    # Open Collective (the sandbox) holds exactly one expense for it, paid, and the circle's balance went down.
    [expense] = oc_sandbox.sandbox.expenses()
    assert expense.status == "PAID"
    assert expense.amount_minor == 25_000
    assert oc_sandbox.sandbox.balance_minor(SANDBOX_COLLECTIVE) == SANDBOX_BALANCE_MINOR - 25_000
    with app.app_context():
        payout = db.session.get(Payout, payout_id)
        assert payout is not None and payout.status == "paid" and payout.expense_id == expense.public_id


def test_a_treasurer_approves_three_payouts_of_two_rounds_with_one_code_on_a_phone(
    app: Flask,
    journey: Any,
    oc_sandbox: RunningSandbox,  # noqa: F811
) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        tomas = make_user(name="Tomas Treasurer", email="tomas@example.org")
        bea = make_user(name="Bea Circle", email="bea@example.org")
        eli = make_user(name="Eli Member", email="eli@example.org")
        circle = make_circle(admin, name=CIRCLE)
        add_member(circle, tomas, ["treasurer"], by=admin)
        add_member(circle, bea, ["member", "circle"], by=admin)
        add_member(circle, eli, ["member"], by=admin)
        make_funded_round(
            circle, admin, bea,
            [{"author": eli, "title": PROPOSAL, "payee_slug": SANDBOX_PAYEE},
             {"author": eli, "title": "Bike repair", "amount_minor": 15_000, "payee_slug": SANDBOX_PAYEE}],
            title=ROUND,
        )  # fmt: skip
        make_funded_round(
            circle, admin, bea, [{"author": eli, "title": "Tool shed", "amount_minor": 8_000,
                                  "payee_slug": SANDBOX_PAYEE}], title="Spring repairs",
        )  # fmt: skip
        connect_circle(circle, tomas, api_url=oc_sandbox.url, slug=SANDBOX_COLLECTIVE, token=SANDBOX_TOKEN,
                       name="Riverside Fund", balance_minor=SANDBOX_BALANCE_MINOR)  # fmt: skip
        secret = enrol_totp(tomas)
        circle_id = circle.id
    story = journey("payouts-at-once")
    page = story.log_in("tomas@example.org")
    page.set_viewport_size({"width": 390, "height": 844})
    keys = Keys(page)
    _to_treasury(story, page, "treasury-three-awaiting")
    titles = (PROPOSAL, "Bike repair", "Tool shed")
    for title in titles:
        expect(_row_of(page, title).locator('td[data-label="Status"]')).to_have_text("Awaiting approval")
    expect(_row_of(page, "Tool shed").locator('td[data-label="Round"]')).to_have_text("Spring repairs")
    expect(_row_of(page, PROPOSAL).locator('td[data-label="Round"]')).to_have_text(ROUND)
    story.screenshot(page, "treasury-round-column")

    # The filter shows one round's payouts (a plain GET form: no script needed).
    keys.choose(page.get_by_label("Round", exact=True), "Spring repairs")
    keys.follow(page.get_by_role("button", name="Show these payouts"))
    story.seen(page, "treasury-one-round")
    expect(_row_of(page, "Tool shed")).to_be_visible()
    expect(page.get_by_role("link", name=PROPOSAL)).to_have_count(0)
    keys.follow(page.get_by_role("link", name="Show every payout"))
    story.seen(page, "treasury-every-round")

    # Tick all three, give a wrong code: nothing is approved, the ticks stay, the code field says why.
    for title in titles:
        keys.space(page.get_by_role("checkbox", name=f"Approve “{title}”"))
    code_field = page.get_by_label("Code from your authenticator app")
    keys.type(code_field, _wrong_code(secret))
    keys.follow(page.get_by_role("button", name="Approve the ticked payouts"))
    story.seen(page, "treasury-approve-wrong-code", screenshot=True)
    expect(code_field).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#{code_field.evaluate('el => el.id')}-error")).to_contain_text("That code does not match.")
    for title in titles:
        expect(page.get_by_role("checkbox", name=f"Approve “{title}”")).to_be_checked()
        expect(_row_of(page, title).locator('td[data-label="Status"]')).to_have_text("Awaiting approval")

    # One right code approves the three: each goes to Open Collective.
    keys.replace(code_field, pyotp.TOTP(secret).now())
    keys.follow(page.get_by_role("button", name="Approve the ticked payouts"))
    story.seen(page, "treasury-three-approved", screenshot=True)
    expect(page.get_by_role("status")).to_contain_text("Approved 3 payout(s). 3 fully approved")
    for title in titles:
        expect(_row_of(page, title).locator('td[data-label="Status"]')).to_have_text("Requested on Open Collective")
    expect(page.get_by_role("checkbox")).to_have_count(0)
    assert len(oc_sandbox.sandbox.expenses()) == 3
    with app.app_context():
        statuses = db.session.scalars(db.select(Payout.status).where(Payout.circle_id == circle_id)).all()
        assert sorted(statuses) == ["requested"] * 3


def _row_of(page: Page, title: str) -> Locator:
    return page.get_by_role("row").filter(has=page.get_by_role("link", name=title, exact=True))
