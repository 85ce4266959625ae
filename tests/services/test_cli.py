"""The command line of PRODUCT.md: user create, token create, demo, ledger verify."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from tests.conftest import Client


def test_user_create_makes_an_account_that_can_log_in(app: Flask, client: Client) -> None:
    result = app.test_cli_runner().invoke(
        args=["user", "create", "--email", "Root@Example.org", "--password", "a strong password", "--superuser"]
    )
    assert result.exit_code == 0, result.output
    assert "Created superuser root@example.org" in result.output
    client.login("root@example.org", "a strong password")
    assert client.get("/circles/new").status_code == 200


def test_user_create_refuses_a_duplicate_or_weak_password_with_a_message(app: Flask) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["user", "create", "--email", "a@example.org", "--password", "a strong password"])
    duplicate = runner.invoke(args=["user", "create", "--email", "A@example.org", "--password", "a strong password"])
    assert duplicate.exit_code != 0 and "exists already" in duplicate.output
    weak = runner.invoke(args=["user", "create", "--email", "b@example.org", "--password", "short"])
    assert weak.exit_code != 0 and "at least 10 characters" in weak.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 1


def test_token_create_prints_a_token_the_api_accepts(app: Flask, client: Client) -> None:
    runner = app.test_cli_runner()
    runner.invoke(args=["user", "create", "--email", "bot@example.org", "--password", "a strong password"])
    result = runner.invoke(args=["token", "create", "--email", "bot@example.org"])
    assert result.exit_code == 0
    token = result.output.strip()
    me = client.json_call("GET", "/api/v1/me", token=token)
    assert me.status_code == 200 and me.get_json()["email"] == "bot@example.org"
    unknown = runner.invoke(args=["token", "create", "--email", "nobody@example.org"])
    assert unknown.exit_code != 0 and "no account" in unknown.output


def test_demo_seeds_every_role_once_and_keeps_data_on_a_second_run(app: Flask, client: Client) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo"])
    assert first.exit_code == 0 and "Demo data created." in first.output
    for email in ("ana@example.org", "tomas@example.org", "bea@example.org", "eli@example.org"):
        assert email in first.output
    with app.app_context():
        entries = db.session.scalar(select(func.count()).select_from(LedgerEntry))
    second = runner.invoke(args=["demo"])
    assert second.exit_code == 0 and "nothing changed" in second.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(LedgerEntry)) == entries
        assert db.session.scalar(select(func.count()).select_from(Circle)) == 1
    client.login("tomas@example.org", "fundcircle-demo")
    home = client.get("/").get_data(as_text=True)
    assert "Riverside Learning Circle" in home and "Spring micro-grants" in home
    verify = runner.invoke(args=["ledger", "verify"])
    assert verify.exit_code == 0 and "The ledger verifies" in verify.output
    # The payouts part of the demo: a decided round's payouts await Tomás, whose authenticator is set up, in a circle
    # connected to the sandbox that `make run` starts.
    treasury = client.get("/circles/1/treasury").get_data(as_text=True)
    assert "Sandbox." in treasury and "Riverside Fund (sandbox)" in treasury
    assert "Awaiting approval: <strong>570.00 EUR</strong>" in treasury
    with app.app_context():
        from fundcircle.auth.services import find_user_by_email

        tomas = find_user_by_email("tomas@example.org")
        assert tomas is not None and tomas.has_totp
