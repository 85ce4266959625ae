"""The API's way of approving several payouts with one authenticator code, as the treasury page does:
POST /api/v1/circles/{circle_id}/payouts/approvals. All or nothing, each refused payout named with a stable code,
the circle's treasurers alone, and a code good for one use."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fundcircle.auth.models import User
from fundcircle.extensions import db
from fundcircle.payouts.models import PayoutApproval
from tests.conftest import Client
from tests.factories import make_token, totp_code
from tests.worlds.treasury import Treasury, ledger_actions


def _token(treasury: Treasury, name: str) -> str:
    with treasury.app.app_context():
        user = db.session.scalars(db.select(User).where(User.email == treasury.emails[name])).one()
        return make_token(user)


def _approve(treasury: Treasury, token: str, payout_ids: list[int], code: str, circle_id: int | None = None) -> Any:
    client: Client = treasury.app.test_client()  # type: ignore[assignment]
    circle = treasury.circle_id if circle_id is None else circle_id
    return client.json_call(
        "POST", f"/api/v1/circles/{circle}/payouts/approvals", {"payout_ids": payout_ids, "totp": code}, token=token
    )


def _approvals(treasury: Treasury) -> int:
    with treasury.app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(PayoutApproval)) or 0


def test_a_treasurer_approves_two_payouts_with_one_code_each_in_its_own_ledger_entry(treasury: Treasury) -> None:
    seed, bike = treasury.payout_ids["Seed library"], treasury.payout_ids["Bike repair"]
    response = _approve(treasury, _token(treasury, "tomas"), [bike, seed], totp_code(treasury.totp_secrets["tomas"]))

    assert response.status_code == 200, response.get_json()
    items = response.get_json()["items"]
    assert [item["id"] for item in items] == sorted([seed, bike])
    assert all(item["approvals"][0]["name"] == "Tomas" for item in items)
    with treasury.app.app_context():
        # Fully approved, then requested on Open Collective after the commit (a person is invited by e-mail).
        assert treasury.payout("Seed library").status == "requested"
        assert treasury.payout("Bike repair").status == "invited"
        actions = ledger_actions(treasury.circle_id)
        assert actions.count("payout.approval_given") == 2 and actions.count("payout.approved") == 2
    assert len(treasury.sandbox.sandbox.expenses()) == 2


def test_if_one_payout_is_refused_none_is_approved_and_the_error_names_it_with_a_stable_code(
    treasury: Treasury,
) -> None:
    # "author" is a treasurer who wrote Seed library: they may approve Bike repair, never their own proposal's payout.
    seed, bike = treasury.payout_ids["Seed library"], treasury.payout_ids["Bike repair"]
    token, code = _token(treasury, "author"), totp_code(treasury.totp_secrets["author"])

    response = _approve(treasury, token, [seed, bike], code)

    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "conflict"
    assert error["message"].startswith("None of them was approved.")
    assert error["fields"]["payout_ids"] == {
        str(seed): {
            "code": "own_proposal",
            "title": "Seed library",
            "message": "You wrote this proposal, so another treasurer must approve its payout.",
        }
    }
    assert _approvals(treasury) == 0
    with treasury.app.app_context():
        assert "payout.approval_given" not in ledger_actions(treasury.circle_id)
    assert treasury.sandbox.sandbox.expenses() == []

    # The refusal did not use the code: the same one approves the payout they may approve.
    again = _approve(treasury, token, [bike], code)
    assert again.status_code == 200, again.get_json()
    assert _approvals(treasury) == 1


def test_a_payout_no_longer_waiting_is_refused_by_its_code_and_one_of_no_circle_by_not_in_circle(
    treasury: Treasury,
) -> None:
    seed, bike = treasury.payout_ids["Seed library"], treasury.payout_ids["Bike repair"]
    token = _token(treasury, "tomas")
    assert _approve(treasury, token, [seed], totp_code(treasury.totp_secrets["tomas"])).status_code == 200

    response = _approve(treasury, token, [seed, bike], totp_code(treasury.totp_secrets["tomas"], offset_steps=1))
    assert response.status_code == 409
    refused = response.get_json()["error"]["fields"]["payout_ids"]
    assert list(refused) == [str(seed)] and refused[str(seed)]["code"] == "not_awaiting_approval"

    response = _approve(treasury, token, [bike, 987_654], totp_code(treasury.totp_secrets["tomas"], offset_steps=1))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"]["payout_ids"] == {
        "987654": {"code": "not_in_circle", "title": "", "message": "This is not a payout of this circle (any more)."}
    }
    with treasury.app.app_context():
        assert treasury.payout("Bike repair").status == "awaiting_approval"


def test_a_member_who_is_no_treasurer_is_refused_and_nothing_changes(treasury: Treasury) -> None:
    seed, bike = treasury.payout_ids["Seed library"], treasury.payout_ids["Bike repair"]
    for name in ("eli", "bea", "admin"):  # a member, a decider, the admin: none of them a treasurer
        response = _approve(treasury, _token(treasury, name), [seed, bike], "123456")
        assert response.status_code == 403, (name, response.get_json())
        assert response.get_json()["error"]["code"] == "forbidden"
    assert _approvals(treasury) == 0


def test_a_treasurer_of_another_circle_is_refused_here_and_cannot_reach_these_payouts_from_theirs(
    treasury: Treasury, treasury_factory: Callable[..., Treasury]
) -> None:
    other = treasury_factory(domain="elsewhere.example")
    seed, bike = treasury.payout_ids["Seed library"], treasury.payout_ids["Bike repair"]
    token, code = _token(other, "tomas"), totp_code(other.totp_secrets["tomas"])

    here = _approve(treasury, token, [seed, bike], code)
    assert here.status_code in (403, 404), here.get_json()  # not a member here: the circle is not even shown
    # Through their own circle, this circle's payouts are not theirs to approve.
    theirs = _approve(other, token, [seed, bike], code)
    assert theirs.status_code == 422
    refused = theirs.get_json()["error"]["fields"]["payout_ids"]
    assert {entry["code"] for entry in refused.values()} == {"not_in_circle"}
    assert _approvals(treasury) == 0


def test_a_code_used_once_is_refused_the_second_time_and_nothing_is_approved(treasury: Treasury) -> None:
    seed, bike = treasury.payout_ids["Seed library"], treasury.payout_ids["Bike repair"]
    token, code = _token(treasury, "tomas"), totp_code(treasury.totp_secrets["tomas"])
    assert _approve(treasury, token, [seed], code).status_code == 200

    reused = _approve(treasury, token, [bike], code)

    assert reused.status_code == 409
    error = reused.get_json()["error"]
    assert "already used" in error["message"] and "totp" in error["fields"]
    with treasury.app.app_context():
        assert treasury.payout("Bike repair").status == "awaiting_approval"
    assert _approvals(treasury) == 1


def test_the_body_is_checked_before_anything_and_the_operation_is_in_the_openapi_document(
    treasury: Treasury,
) -> None:
    token = _token(treasury, "tomas")
    client: Client = treasury.app.test_client()  # type: ignore[assignment]
    url = f"/api/v1/circles/{treasury.circle_id}/payouts/approvals"
    for body, field in (
        ({"payout_ids": [], "totp": "123456"}, "payout_ids"),
        ({"payout_ids": ["seven"], "totp": "123456"}, "payout_ids"),
        ({"payout_ids": [treasury.payout_ids["Seed library"]]}, "totp"),
    ):
        response = client.json_call("POST", url, body, token=token)
        assert response.status_code == 422, body
        assert field in response.get_json()["error"]["fields"], body
    assert _approvals(treasury) == 0

    document = client.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/circles/{circle_id}/payouts/approvals"]["post"]
    assert "one fresh code" in operation["summary"] and "not_in_circle" in operation["summary"]
    assert "200" in operation["responses"]
