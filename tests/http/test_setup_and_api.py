"""Setting up: a treasurer enrols an authenticator app and connects the circle to its collective, on the pages and
through the API; and the payouts API follows the same rules as the pages."""

# ruff: noqa: F811
from __future__ import annotations

from typing import Any

import pyotp
from flask import Flask

from fundcircle.auth.models import User
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.payouts.models import OpenCollectiveConnection
from oc_sandbox.sandbox import RunningSandbox
from tests.concurrency import all_at_once
from tests.conftest import TEST_PASSWORD, Client
from tests.factories import make_token, totp_code
from tests.worlds.sandbox import SANDBOX_COLLECTIVE, SANDBOX_TOKEN
from tests.worlds.treasury import Treasury


def _client(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def _user(email: str) -> User:
    return db.session.scalars(db.select(User).where(User.email == email)).one()


# -- TOTP ----------------------------------------------------------------------------------------------------------


def test_a_treasurer_sets_up_an_authenticator_app_on_the_profile(treasury: Treasury) -> None:
    client = _client(treasury.app, treasury.emails["eli"])
    page = client.get("/profile").get_data(as_text=True)
    assert "Set up an authenticator app" in page
    wrong = client.post_form("/profile/totp", {"password": "not my password"})
    assert wrong.status_code == 422 and "That is not your password" in wrong.get_data(as_text=True)
    assert client.post_form("/profile/totp", {"password": TEST_PASSWORD}).status_code == 302
    page = client.get("/profile").get_data(as_text=True)
    assert "Scan this code" in page
    qr = client.get("/profile/totp/qr.svg")
    assert qr.status_code == 200 and qr.mimetype == "image/svg+xml" and qr.headers["Cache-Control"] == "no-store"
    with treasury.app.app_context():
        from fundcircle.auth.totp import pending_secret

        secret = pending_secret(_user(treasury.emails["eli"]))
    assert secret is not None and secret in page
    bad = client.post_form(
        "/profile/totp/confirm", {"code": "000000" if pyotp.TOTP(secret).now() != "000000" else "111111"}
    )
    assert bad.status_code == 422 and 'id="code-error"' in bad.get_data(as_text=True)
    assert client.post_form("/profile/totp/confirm", {"code": totp_code(secret)}).status_code == 302
    page = client.get("/profile").get_data(as_text=True)
    assert "Its codes confirm your approvals" in page and secret not in page
    assert client.get("/profile/totp/qr.svg").status_code == 404  # the key is never shown again
    with treasury.app.app_context():
        user = _user(treasury.emails["eli"])
        assert user.has_totp and secret not in (user.totp_secret_sealed or "")
        actions = [e.action for e in db.session.scalars(db.select(LedgerEntry).where(LedgerEntry.actor_id == user.id))]
        assert "user.totp_enabled" in actions
        entries = db.session.scalars(db.select(LedgerEntry).where(LedgerEntry.action.like("user.totp%"))).all()
        assert all(secret not in str(entry.data) for entry in entries)


def test_totp_enrolment_through_the_api(treasury: Treasury) -> None:
    with treasury.app.app_context():
        token = make_token(_user(treasury.emails["eli"]))
    client: Client = treasury.app.test_client()  # type: ignore[assignment]
    assert client.json_call("POST", "/api/v1/me/totp", {"password": "wrong"}, token=token).status_code == 422
    started = client.json_call("POST", "/api/v1/me/totp", {"password": TEST_PASSWORD}, token=token)
    assert started.status_code == 201
    body = started.get_json()
    assert body["otpauth_uri"].startswith("otpauth://totp/") and body["secret"] in body["otpauth_uri"]
    confirmed = client.json_call("POST", "/api/v1/me/totp/confirm", {"code": totp_code(body["secret"])}, token=token)
    assert confirmed.status_code == 200 and confirmed.get_json() == {"enabled": True}
    again = client.json_call("POST", "/api/v1/me/totp/confirm", {"code": totp_code(body["secret"])}, token=token)
    assert again.status_code == 409


# -- connecting ----------------------------------------------------------------------------------------------------


def _connect_form(sandbox: RunningSandbox, **overrides: str) -> dict[str, str]:
    return {"api_url": sandbox.url, "slug": SANDBOX_COLLECTIVE, "token": SANDBOX_TOKEN, "expense_type": "GRANT",
            **overrides}  # fmt: skip


def test_connecting_checks_the_token_with_open_collective_and_keeps_it_sealed(treasury_factory: Any) -> None:
    treasury: Treasury = treasury_factory(connect=False)
    client = _client(treasury.app, treasury.emails["tomas"])
    page = client.get(f"/circles/{treasury.circle_id}/treasury").get_data(as_text=True)
    assert "not connected to Open Collective yet" in page
    form = client.get(f"/circles/{treasury.circle_id}/treasury/connect").get_data(as_text=True)
    assert "https://api.opencollective.com/graphql/v2" in form

    for overrides, field, message in (
        ({"token": "wrong-token"}, "token", "refused the token"),
        ({"slug": "no-such-fund"}, "slug", "Account Not Found"),
        ({"slug": "Not A Slug"}, "slug", "lower-case letters"),
        ({"api_url": "ftp://example.org"}, "api_url", "full address"),
        ({"api_url": "http://api.example.org/graphql/v2"}, "api_url", "https://"),
    ):
        response = client.post_form(
            f"/circles/{treasury.circle_id}/treasury/connect", _connect_form(treasury.sandbox, **overrides)
        )
        text = response.get_data(as_text=True)
        assert response.status_code == 422, overrides
        assert f'id="{field}-error"' in text and message in text, overrides
        assert "wrong-token" not in text  # a token typed in is never echoed back
    with treasury.app.app_context():
        assert db.session.get(OpenCollectiveConnection, treasury.circle_id) is None

    response = client.post_form(f"/circles/{treasury.circle_id}/treasury/connect", _connect_form(treasury.sandbox))
    assert response.status_code == 302
    page = client.get(f"/circles/{treasury.circle_id}/treasury").get_data(as_text=True)
    assert "Connected to <strong>" in page and "5,000.00 EUR" in page and SANDBOX_TOKEN not in page
    with treasury.app.app_context():
        connection = db.session.get(OpenCollectiveConnection, treasury.circle_id)
        assert connection is not None and connection.expense_type == "GRANT"
        assert SANDBOX_TOKEN not in connection.token_sealed
        entry = db.session.scalars(db.select(LedgerEntry).where(LedgerEntry.action == "opencollective.connected")).one()
        assert SANDBOX_TOKEN not in str(entry.data) and entry.data["collective"] == SANDBOX_COLLECTIVE


def test_a_collective_without_grants_makes_the_treasurer_choose_a_type_it_accepts(
    app: Flask, make_sandbox: Any
) -> None:
    from tests.worlds.treasury import build_treasury

    treasury = build_treasury(app, make_sandbox(expense_types=("INVOICE", "RECEIPT")), connect=False)
    client = _client(app, treasury.emails["tomas"])
    url = f"/circles/{treasury.circle_id}/treasury/connect"
    response = client.post_form(url, _connect_form(treasury.sandbox))
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="expense_type-error"' in text
    # Receipts need a file on every item on Open Collective, which Fund Circle does not have: never offered.
    assert "does not accept GRANT expenses; it accepts INVOICE." in text
    assert 'value="RECEIPT"' not in client.get(url).get_data(as_text=True)
    receipt = client.post_form(url, _connect_form(treasury.sandbox, expense_type="RECEIPT"))
    assert receipt.status_code in (400, 422) and 'id="expense_type-error"' in receipt.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(OpenCollectiveConnection, treasury.circle_id) is None
    assert client.post_form(url, _connect_form(treasury.sandbox, expense_type="INVOICE")).status_code == 302
    with app.app_context():
        connection = db.session.get(OpenCollectiveConnection, treasury.circle_id)
        assert connection is not None and connection.expense_type == "INVOICE"


def test_a_collective_in_another_currency_is_refused(app: Flask, make_sandbox: Any) -> None:
    from tests.worlds.treasury import build_treasury

    treasury = build_treasury(app, make_sandbox(currency="USD"), connect=False)
    client = _client(app, treasury.emails["tomas"])
    response = client.post_form(f"/circles/{treasury.circle_id}/treasury/connect", _connect_form(treasury.sandbox))
    assert response.status_code == 422 and "holds USD" in response.get_data(as_text=True)


def test_connecting_through_the_api(treasury_factory: Any) -> None:
    treasury: Treasury = treasury_factory(connect=False)
    with treasury.app.app_context():
        token = make_token(_user(treasury.emails["tomas"]))
        other = make_token(_user(treasury.emails["bea"]))
    client: Client = treasury.app.test_client()  # type: ignore[assignment]
    url = f"/api/v1/circles/{treasury.circle_id}/opencollective"
    assert client.json_call("GET", url, token=token).status_code == 404
    assert client.json_call("PUT", url, _connect_form(treasury.sandbox), token=other).status_code == 403
    bad = client.json_call("PUT", url, _connect_form(treasury.sandbox, token="nope"), token=token)
    assert bad.status_code == 422 and "token" in bad.get_json()["error"]["fields"]
    unknown = client.json_call("PUT", url, {**_connect_form(treasury.sandbox), "status": "x"}, token=token)
    assert unknown.status_code == 422
    response = client.json_call("PUT", url, _connect_form(treasury.sandbox), token=token)
    assert response.status_code == 200
    body = response.get_json()
    assert body["slug"] == SANDBOX_COLLECTIVE and body["balance_minor"] == 500_000 and body["currency"] == "EUR"
    assert body["sandbox"] is True and "/hooks/opencollective/" in body["webhook_url"] and "token" not in body
    assert client.json_call("GET", url, token=token).get_json() == body


# -- the payouts API -----------------------------------------------------------------------------------------------


def test_payouts_through_the_api_follow_the_pages_rules(treasury: Treasury) -> None:
    with treasury.app.app_context():
        tokens = {name: make_token(_user(treasury.emails[name])) for name in ("tomas", "author", "bea")}
    client: Client = treasury.app.test_client()  # type: ignore[assignment]
    listing = client.json_call("GET", f"/api/v1/circles/{treasury.circle_id}/payouts", token=tokens["tomas"])
    assert listing.status_code == 200
    items = listing.get_json()["items"]
    assert sorted((p["amount_minor"], p["status"], p["approvals_needed"]) for p in items) == [
        (15_000, "awaiting_approval", 1),
        (25_000, "awaiting_approval", 1),
    ]
    assert (
        client.json_call("GET", f"/api/v1/circles/{treasury.circle_id}/payouts", token=tokens["bea"]).status_code == 403
    )

    seed = treasury.payout_ids["Seed library"]
    author_code = {"totp": totp_code(treasury.totp_secrets["author"])}
    by_author = client.json_call("POST", f"/api/v1/payouts/{seed}/approve", author_code, token=tokens["author"])
    assert by_author.status_code == 403 and "You wrote this proposal" in by_author.get_json()["error"]["message"]
    wrong = client.json_call("POST", f"/api/v1/payouts/{seed}/approve", {"totp": "12"}, token=tokens["tomas"])
    assert wrong.status_code == 422 and "totp" in wrong.get_json()["error"]["fields"]
    approved = client.json_call("POST", f"/api/v1/payouts/{seed}/approve",
                                {"totp": totp_code(treasury.totp_secrets["tomas"])}, token=tokens["tomas"])  # fmt: skip
    assert approved.status_code == 200
    body = approved.get_json()
    assert body["status"] == "requested" and body["expense_id"] and body["approvals"][0]["name"] == "Tomas"
    assert client.json_call("GET", f"/api/v1/payouts/{seed}", token=tokens["tomas"]).get_json() == body

    bike = treasury.payout_ids["Bike repair"]
    no_reason = client.json_call("POST", f"/api/v1/payouts/{bike}/cancel", {"reason": " "}, token=tokens["tomas"])
    assert no_reason.status_code == 422
    cancelled = client.json_call(
        "POST", f"/api/v1/payouts/{bike}/cancel", {"reason": "Withdrawn"}, token=tokens["tomas"]
    )
    assert cancelled.status_code == 200 and cancelled.get_json()["status"] == "cancelled"
    assert client.json_call("POST", f"/api/v1/payouts/{bike}/retry", {}, token=tokens["tomas"]).status_code == 409
    assert (
        client.json_call(
            "POST", f"/api/v1/payouts/{seed}/cancel", {"reason": "x" * 5}, token=tokens["tomas"]
        ).status_code
        == 409
    )
    assert len(treasury.sandbox.sandbox.expenses()) == 1


def test_fifty_identical_approvals_at_once_approve_once(treasury: Treasury) -> None:
    """The same request many times at once: exactly one succeeds, the others get 409."""
    with treasury.app.app_context():
        token = make_token(_user(treasury.emails["tomas"]))
    seed = treasury.payout_ids["Seed library"]
    code = totp_code(treasury.totp_secrets["tomas"])

    def approve() -> int:
        client: Client = treasury.app.test_client()  # type: ignore[assignment]
        return client.json_call("POST", f"/api/v1/payouts/{seed}/approve", {"totp": code}, token=token).status_code

    statuses = all_at_once([approve for _ in range(50)])
    assert statuses.count(200) == 1 and statuses.count(409) == 49, statuses
    assert len(treasury.sandbox.sandbox.expenses()) == 1
    with treasury.app.app_context():
        payout = treasury.payout("Seed library")
        assert payout.approvals_count == 1 and payout.status == "requested"


def test_connecting_with_a_two_factor_accounts_token_warns_about_advanced_privileges(
    app: Flask, make_sandbox: Any
) -> None:
    from tests.worlds.treasury import build_treasury

    treasury = build_treasury(app, make_sandbox(two_factor=True), connect=False)
    client = _client(app, treasury.emails["tomas"])
    url = f"/circles/{treasury.circle_id}/treasury/connect"
    response = client.post_form(url, _connect_form(treasury.sandbox))
    assert response.status_code == 302
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "uses two-factor authentication" in page and "“Advanced privileges”" in page
    with app.app_context():
        connection = db.session.get(OpenCollectiveConnection, treasury.circle_id)
        assert connection is not None and connection.token_two_factor is True
