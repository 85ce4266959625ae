"""The Open Collective sandbox, over real HTTP: schema fidelity, status rules, limits, failures, state, webhooks."""

# ruff: noqa: F811  (pytest fixtures imported from sandbox_fixtures are parameters of the tests below)

from __future__ import annotations

import json
import os
import re
import selectors
import subprocess  # nosec B404  # runs `flask oc-sandbox` as `make run` does
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from graphql import FieldNode, InlineFragmentNode, OperationDefinitionNode, SelectionSetNode, parse
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from fundcircle.payouts.opencollective import COLLECTIVE
from oc_sandbox.cli import oc_sandbox_command
from oc_sandbox.sandbox import RunningSandbox, Sandbox, SandboxError
from tests.worlds.sandbox import (  # noqa: F401  (make_sandbox, oc_sandbox, oc_schema are fixtures)
    SANDBOX_BALANCE_MINOR,
    SANDBOX_COLLECTIVE,
    SANDBOX_PAYEE,
    SANDBOX_TOKEN,
    make_sandbox,
    oc_sandbox,
    oc_schema,
)

EXAMPLES = Path(__file__).resolve().parent / "opencollective_examples"
EXAMPLE_COLLECTIVE = "example-fund-circle-collective"

CREATE = """
mutation Create($account: AccountReferenceInput!, $expense: ExpenseCreateInput!) {
  createExpense(account: $account, expense: $expense) { id legacyId status customData amountV2 { valueInCents } }
}"""
DRAFT = """
mutation Draft($account: AccountReferenceInput!, $expense: ExpenseInviteDraftInput!, $locked: [ExpenseLockableFields]) {
  draftExpenseAndInviteUser(account: $account, expense: $expense, lockedFields: $locked) { id status draftKey }
}"""
PROCESS = """
mutation Process($id: String!, $action: ExpenseProcessAction!, $params: ProcessExpensePaymentParams) {
  processExpense(expense: {id: $id}, action: $action, paymentParams: $params) { id status paidAt }
}"""
FIND = """
query Find($slug: String!, $customData: JSON!) {
  expenses(account: {slug: $slug}, customData: $customData, limit: 5) { totalCount nodes { id customData } }
}"""
BALANCE = 'query { account(slug: "%s") { stats { balance { valueInCents currency } } } }'


def post(
    running: RunningSandbox,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = SANDBOX_TOKEN,
    timeout: float = 5,
) -> requests.Response:
    headers = {"Personal-Token": token} if token else {}
    return requests.post(
        running.url, json={"query": query, "variables": variables or {}}, headers=headers, timeout=timeout
    )


def expense_input(key: str = "FC-1", *, amount: int = 25_000, payee: str = SANDBOX_PAYEE, **overrides: Any) -> dict:
    return {
        "type": "GRANT",
        "description": f"Fund Circle grant {key}",
        "currency": "EUR",
        "payee": {"slug": payee},
        "payoutMethod": {"type": "OTHER", "data": {"content": "bank transfer", "currency": "EUR"}},
        "items": [{"description": "Grant", "amountV2": {"valueInCents": amount, "currency": "EUR"}}],
        "reference": key,
        "customData": {"fundCircleKey": key},
        **overrides,
    }


def create(running: RunningSandbox, key: str = "FC-1", **overrides: Any) -> dict[str, Any]:
    response = post(
        running, CREATE, {"account": {"slug": SANDBOX_COLLECTIVE}, "expense": expense_input(key, **overrides)}
    )
    assert response.status_code == 200, response.text
    return response.json()


def draft(running: RunningSandbox, key: str = "FC-2") -> requests.Response:
    expense = expense_input(key)
    expense["payee"] = {"name": "Jane Grantee", "email": "jane@example.org", "isInvite": True}
    del expense["payoutMethod"]
    variables = {"account": {"slug": SANDBOX_COLLECTIVE}, "expense": expense, "locked": ["AMOUNT", "TYPE"]}
    return post(running, DRAFT, variables)


def process(
    running: RunningSandbox, expense_id: str, action: str, *, token: str = SANDBOX_TOKEN, **params: Any
) -> dict[str, Any]:
    variables = {"id": expense_id, "action": action, "params": params or None}
    response = post(running, PROCESS, variables, token=token)
    assert response.status_code == 200, response.text
    return response.json()


def error_of(body: dict[str, Any]) -> tuple[str, str]:
    (error,) = body["errors"]
    return error["extensions"]["code"], error["message"]


def balance(running: RunningSandbox) -> int:
    body = post(running, BALANCE % SANDBOX_COLLECTIVE).json()
    return int(body["data"]["account"]["stats"]["balance"]["valueInCents"])


# --- schema fidelity -----------------------------------------------------------------------------------------------


def assert_shape(selection_set: SelectionSetNode, data: Any) -> None:
    """Every selected field is in the answer, and the answer holds nothing that was not selected."""
    if isinstance(data, list):
        for element in data:
            assert_shape(selection_set, element)
    elif data is not None:
        assert set(data) == _selected_names(selection_set, data)


def _selected_names(selection_set: SelectionSetNode, data: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = (selection.alias or selection.name).value
            names.add(name)
            assert name in data, f"{name} missing from {data}"
            if selection.selection_set is not None:
                assert_shape(selection.selection_set, data[name])
        elif isinstance(selection, InlineFragmentNode):
            # The examples' fragments (`... on AccountWithHost`) apply to what the sandbox returns.
            names |= _selected_names(selection.selection_set, data)
    return names


def run_example(running: RunningSandbox, name: str, variables: dict[str, Any]) -> dict[str, Any]:
    query = (EXAMPLES / name).read_text()
    response = post(running, query, variables)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    operation = parse(query).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    assert_shape(operation.selection_set, body["data"])
    return body["data"]


def example_vars(name: str, expense_id: str = "") -> dict[str, Any]:
    text = (EXAMPLES / name).read_text().replace("ex_xxxxxxxx", expense_id)
    return json.loads(text)


@pytest.fixture
def example_sandbox(make_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    return make_sandbox(
        collective=EXAMPLE_COLLECTIVE, currency="USD", payee_accounts=["example-grantee"], invite_interval_seconds=0
    )


def test_every_example_document_executes_with_its_variables_and_answers_the_selected_shape(
    example_sandbox: RunningSandbox,
) -> None:
    me = run_example(example_sandbox, "01_me.graphql", {})["me"]
    assert me["slug"] == f"{EXAMPLE_COLLECTIVE}-admin"
    account = run_example(example_sandbox, "02_account_balance.graphql", {"slug": EXAMPLE_COLLECTIVE})["account"]
    assert account["isAdmin"] is True and account["type"] == "COLLECTIVE"
    assert account["stats"]["balance"]["valueInCents"] == SANDBOX_BALANCE_MINOR
    assert account["host"]["slug"] == f"{EXAMPLE_COLLECTIVE}-host"

    created = run_example(example_sandbox, "05_create_expense.graphql", example_vars("05_create_expense.vars.json"))
    expense = created["createExpense"]
    assert expense["status"] == "PENDING" and expense["id"].startswith("ex_")
    assert expense["amountV2"] == {"valueInCents": 25000, "currency": "USD"}
    fetched = run_example(example_sandbox, "03_get_expense.graphql", {"id": expense["id"]})["expense"]
    assert fetched["payee"]["slug"] == "example-grantee" and fetched["permissions"]["canApprove"] is True
    by_legacy = run_example(example_sandbox, "04_get_expense_by_legacy_id.graphql", {"legacyId": expense["legacyId"]})
    assert by_legacy["expense"]["id"] == expense["id"]
    found = run_example(
        example_sandbox, "10_find_by_custom_data.graphql", example_vars("10_find_by_custom_data.vars.json")
    )
    assert [n["id"] for n in found["expenses"]["nodes"]] == [expense["id"]]

    approved = run_example(
        example_sandbox, "08_process_expense.graphql", example_vars("08_process_expense.vars.json", expense["id"])
    )
    assert approved["processExpense"]["status"] == "APPROVED"
    paid = run_example(
        example_sandbox, "08_process_expense.graphql", example_vars("08b_process_pay.vars.json", expense["id"])
    )
    assert paid["processExpense"]["status"] == "PAID" and paid["processExpense"]["paidAt"]

    drafted = run_example(example_sandbox, "06_draft_and_invite.graphql", example_vars("06_draft_and_invite.vars.json"))
    assert drafted["draftExpenseAndInviteUser"]["status"] == "DRAFT"
    assert drafted["draftExpenseAndInviteUser"]["draftKey"]
    methods = run_example(example_sandbox, "12_payout_methods.graphql", {"slug": "example-grantee"})
    assert methods["account"]["payoutMethods"] == []


def test_a_valid_operation_that_the_sandbox_does_not_model_says_so(oc_sandbox: RunningSandbox) -> None:
    query = (EXAMPLES / "09_delete_expense.graphql").read_text()
    body = post(oc_sandbox, query, example_vars("09_delete_expense.vars.json", "ex_missing")).json()
    assert error_of(body) == ("BadRequest", "The Open Collective sandbox does not model deleteExpense")


def test_a_misspelt_field_gets_400_graphql_validation_failed(oc_sandbox: RunningSandbox) -> None:
    response = post(oc_sandbox, "query { me { id slugg } }")
    assert response.status_code == 400
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert "slugg" in error["message"] and error["locations"] == [{"line": 1, "column": 17}]
    assert oc_sandbox.sandbox.calls == {}


def test_variables_that_do_not_coerce_get_400_bad_user_input(oc_sandbox: RunningSandbox) -> None:
    response = post(oc_sandbox, PROCESS, {"id": "ex_1", "action": "SEND_MONEY"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_a_body_that_is_not_json_gets_400(oc_sandbox: RunningSandbox) -> None:
    response = requests.post(oc_sandbox.url, data=b"{not json", headers={"Personal-Token": SANDBOX_TOKEN}, timeout=5)
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


def test_syntax_error_gets_400_parse_failed(oc_sandbox: RunningSandbox) -> None:
    response = post(oc_sandbox, "query { me { id }")
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


# --- authentication ------------------------------------------------------------------------------------------------


def test_an_unknown_token_gets_a_plain_401(oc_sandbox: RunningSandbox) -> None:
    response = post(oc_sandbox, "query { me { id } }", token="not-a-token")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == 401 and response.json()["error"]["type"] == "unauthorized"


def test_without_a_token_me_is_null_and_mutations_are_unauthorized(oc_sandbox: RunningSandbox) -> None:
    assert post(oc_sandbox, "query { me { id } }", token=None).json() == {"data": {"me": None}}
    variables = {"account": {"slug": SANDBOX_COLLECTIVE}, "expense": expense_input()}
    response = post(oc_sandbox, CREATE, variables, token=None)
    assert response.status_code == 200 and error_of(response.json())[0] == "Unauthorized"
    body = post(oc_sandbox, FIND, {"slug": SANDBOX_COLLECTIVE, "customData": {"a": 1}}, token=None).json()
    assert error_of(body)[0] == "Unauthorized"
    assert oc_sandbox.sandbox.expenses() == []


# --- status rules ---------------------------------------------------------------------------------------------------


def test_create_approve_pay_and_a_second_pay_is_refused(oc_sandbox: RunningSandbox) -> None:
    expense = create(oc_sandbox, amount=30_000)["data"]["createExpense"]
    assert expense["status"] == "PENDING"
    assert error_of(process(oc_sandbox, expense["id"], "PAY")) == ("Forbidden", "Can not pay expense in current status")
    assert process(oc_sandbox, expense["id"], "APPROVE")["data"]["processExpense"]["status"] == "APPROVED"
    paid = process(oc_sandbox, expense["id"], "PAY")["data"]["processExpense"]
    assert paid["status"] == "PAID" and paid["paidAt"]
    assert balance(oc_sandbox) == SANDBOX_BALANCE_MINOR - 30_000
    code, message = error_of(process(oc_sandbox, expense["id"], "PAY"))
    assert "already been paid" in message
    assert balance(oc_sandbox) == SANDBOX_BALANCE_MINOR - 30_000


def test_reject_and_unapprove(oc_sandbox: RunningSandbox) -> None:
    first = create(oc_sandbox, "FC-A")["data"]["createExpense"]["id"]
    process(oc_sandbox, first, "APPROVE")
    assert process(oc_sandbox, first, "UNAPPROVE")["data"]["processExpense"]["status"] == "PENDING"
    assert process(oc_sandbox, first, "REJECT")["data"]["processExpense"]["status"] == "REJECTED"
    assert error_of(process(oc_sandbox, "ex_nothere", "APPROVE"))[0] == "NotFound"


# Each path drives one expense from PENDING through processExpense actions; the last step is refused with
# Open Collective's message (server/graphql/common/expenses.ts) or lands on the status named.
TRANSITIONS = [
    # canReject: only PENDING, UNVERIFIED or INCOMPLETE; an approved expense must be unapproved first.
    (["APPROVE", "REJECT"], "Can not reject expense in current status (APPROVED)"),
    # canApprove: REJECTED is approvable again.
    (["REJECT", "APPROVE"], "APPROVED"),
    (["REJECT", "APPROVE", "PAY"], "PAID"),
    (["REJECT", "MARK_AS_SPAM"], "SPAM"),
    (["APPROVE", "MARK_AS_SPAM"], "Can not mark as spam expense in current status (APPROVED)"),
    (["APPROVE", "APPROVE"], "Can not approve expense in current status (APPROVED)"),
    # canMarkAsUnpaid: PAID goes back to APPROVED (by default) and can be paid again.
    (["APPROVE", "PAY", "MARK_AS_UNPAID"], "APPROVED"),
    (["APPROVE", "PAY", "MARK_AS_UNPAID", "PAY"], "PAID"),
    (["APPROVE", "MARK_AS_UNPAID"], "Can not mark as unpaid expense in current status (APPROVED)"),
    (["APPROVE", "PAY", "REJECT"], "Can not reject expense in current status (PAID)"),
    (["APPROVE", "PAY", "UNAPPROVE"], "Can not unapprove expense in current status (PAID)"),
]


@pytest.mark.parametrize(("actions", "outcome"), TRANSITIONS, ids=["-".join(a) for a, _ in TRANSITIONS])
def test_status_transitions_are_open_collectives(oc_sandbox: RunningSandbox, actions: list[str], outcome: str) -> None:
    expense_id = create(oc_sandbox)["data"]["createExpense"]["id"]
    for action in actions[:-1]:
        assert "errors" not in process(oc_sandbox, expense_id, action)
    before = oc_sandbox.sandbox.expense(expense_id).status
    body = process(oc_sandbox, expense_id, actions[-1])
    if outcome.isupper():
        assert body["data"]["processExpense"]["status"] == outcome
    else:
        assert error_of(body) == ("Forbidden", outcome)
        assert oc_sandbox.sandbox.expense(expense_id).status == before


# canDeleteExpense: a collective's admin deletes only a rejected, spam, draft or cancelled expense.
DELETIONS = [
    ([], False),
    (["APPROVE"], False),
    (["APPROVE", "PAY"], False),
    (["APPROVE", "PAY", "MARK_AS_UNPAID"], False),
    (["REJECT"], True),
    (["REJECT", "MARK_AS_SPAM"], True),
    (["APPROVE", "PAY", "MARK_AS_UNPAID", "UNAPPROVE", "REJECT"], True),
]


@pytest.mark.parametrize(("actions", "deletable"), DELETIONS, ids=["-".join(a) or "PENDING" for a, _ in DELETIONS])
def test_the_collectives_admin_deletes_only_what_open_collective_lets_them(
    oc_sandbox: RunningSandbox, actions: list[str], deletable: bool
) -> None:
    expense_id = create(oc_sandbox)["data"]["createExpense"]["id"]
    for action in actions:
        assert "errors" not in process(oc_sandbox, expense_id, action)
    sandbox = oc_sandbox.sandbox
    if deletable:
        sandbox.delete_expense(expense_id)
        with pytest.raises(KeyError):
            sandbox.expense(expense_id)
    else:
        status = sandbox.expense(expense_id).status
        with pytest.raises(SandboxError, match=f"Can not delete expense in current status \\({status}\\)"):
            sandbox.delete_expense(expense_id)
        assert sandbox.expense(expense_id).status == status


def test_marking_a_paid_expense_unpaid_returns_the_money_and_takes_the_status_asked(
    oc_sandbox: RunningSandbox,
) -> None:
    expense_id = create(oc_sandbox, amount=40_000)["data"]["createExpense"]["id"]
    process(oc_sandbox, expense_id, "APPROVE")
    process(oc_sandbox, expense_id, "PAY")
    assert balance(oc_sandbox) == SANDBOX_BALANCE_MINOR - 40_000
    unpaid = process(oc_sandbox, expense_id, "MARK_AS_UNPAID", markAsUnPaidStatus="ERROR")["data"]["processExpense"]
    assert unpaid == {"id": expense_id, "status": "ERROR", "paidAt": None}
    assert balance(oc_sandbox) == SANDBOX_BALANCE_MINOR
    assert process(oc_sandbox, expense_id, "PAY")["data"]["processExpense"]["status"] == "PAID"


def test_paying_more_than_the_balance_is_refused(make_sandbox: Callable[..., RunningSandbox]) -> None:
    running = make_sandbox(balance_minor=100)
    expense_id = create(running, amount=101)["data"]["createExpense"]["id"]
    process(running, expense_id, "APPROVE")
    assert "does not have enough funds" in error_of(process(running, expense_id, "PAY"))[1]


def test_an_invite_draft_waits_for_the_payee_then_is_pending(make_sandbox: Callable[..., RunningSandbox]) -> None:
    running = make_sandbox(invite_interval_seconds=0)
    response = draft(running)
    drafted = response.json()["data"]["draftExpenseAndInviteUser"]
    assert drafted["status"] == "DRAFT" and drafted["draftKey"]
    stored = running.sandbox.expense(drafted["id"])
    assert stored.invitee == {"name": "Jane Grantee", "email": "jane@example.org", "isInvite": True}
    assert stored.locked_fields == ["AMOUNT", "TYPE"]
    assert error_of(process(running, drafted["id"], "APPROVE"))[0] == "Forbidden"

    completed = running.sandbox.complete_invitation(drafted["id"])
    assert completed.status == "PENDING" and completed.payee_slug and completed.payout_method
    with pytest.raises(SandboxError):
        running.sandbox.complete_invitation(drafted["id"])
    assert process(running, drafted["id"], "APPROVE")["data"]["processExpense"]["status"] == "APPROVED"


def test_the_page_lets_a_person_play_payee_and_host(make_sandbox: Callable[..., RunningSandbox]) -> None:
    running = make_sandbox(invite_interval_seconds=0)
    expense_id = draft(running).json()["data"]["draftExpenseAndInviteUser"]["id"]
    with requests.Session() as browser:
        page = browser.get(running.base_url + "/", timeout=5).text
        assert "Open Collective sandbox — no money moves" in page and expense_id in page
        # Its own stylesheet only: no script, no inline style.
        assert "<script" not in page and "<style" not in page and " style=" not in page
        token = re.search(r'name="token" value="([^"]+)"', page)
        assert token
        steps = [("complete-invitation", "PENDING"), ("reject", "REJECTED"), ("approve", "APPROVED"),
                 ("pay", "PAID"), ("mark-as-unpaid", "APPROVED"), ("pay", "PAID")]  # fmt: skip
        for action, status in steps:
            offered = f"/sandbox/expenses/{expense_id}/{action}"
            assert offered in browser.get(running.base_url + "/", timeout=5).text
            url = f"{running.base_url}/sandbox/expenses/{expense_id}/{action}"
            response = browser.post(url, data={"token": token.group(1)}, timeout=5)
            assert response.status_code == 200 and response.url == running.base_url + "/"
            assert running.sandbox.expense(expense_id).status == status
        assert browser.post(url, data={"token": token.group(1)}, timeout=5).status_code == 409
        assert browser.post(url, data={"token": "forged"}, timeout=5).status_code == 400
    assert running.sandbox.balance_minor(SANDBOX_COLLECTIVE) == SANDBOX_BALANCE_MINOR - 25_000


# --- look-ups and validation ---------------------------------------------------------------------------------------


def test_custom_data_look_up_finds_exactly_the_matching_expense(oc_sandbox: RunningSandbox) -> None:
    wanted = create(oc_sandbox, "FC-7")["data"]["createExpense"]["id"]
    create(oc_sandbox, "FC-8")
    create(oc_sandbox, "FC-70", customData={"fundCircleKey": "FC-70", "other": 1})
    body = post(oc_sandbox, FIND, {"slug": SANDBOX_COLLECTIVE, "customData": {"fundCircleKey": "FC-7"}}).json()
    assert body["data"]["expenses"]["totalCount"] == 1
    assert body["data"]["expenses"]["nodes"] == [{"id": wanted, "customData": {"fundCircleKey": "FC-7"}}]
    none = post(oc_sandbox, FIND, {"slug": SANDBOX_COLLECTIVE, "customData": {"fundCircleKey": "FC-9"}}).json()
    assert none["data"]["expenses"] == {"totalCount": 0, "nodes": []}


def test_another_collectives_admin_can_neither_search_nor_approve(oc_sandbox: RunningSandbox) -> None:
    oc_sandbox.sandbox.add_collective("other-fund", admin_token="other-token")
    expense_id = create(oc_sandbox)["data"]["createExpense"]["id"]
    body = post(
        oc_sandbox, FIND, {"slug": SANDBOX_COLLECTIVE, "customData": {"fundCircleKey": "FC-1"}}, token="other-token"
    ).json()
    assert error_of(body)[0] == "Forbidden"
    body = post(oc_sandbox, PROCESS, {"id": expense_id, "action": "APPROVE"}, token="other-token").json()
    assert error_of(body)[0] == "Forbidden"


def test_an_expense_type_the_collective_does_not_accept_is_refused(make_sandbox: Callable[..., RunningSandbox]) -> None:
    running = make_sandbox(expense_types=["INVOICE", "RECEIPT"])
    code, message = error_of(create(running))
    assert code == "ValidationFailed" and "GRANT" in message
    assert create(running, type="INVOICE")["data"]["createExpense"]["status"] == "PENDING"


def test_a_payee_the_token_does_not_administer_is_refused(oc_sandbox: RunningSandbox) -> None:
    oc_sandbox.sandbox.add_account("someone-else", name="Someone Else", token="someone-token")
    assert error_of(create(oc_sandbox, payee="someone-else")) == (
        "ValidationFailed",
        "You must be an admin of the account to submit an expense in its name",
    )
    assert error_of(create(oc_sandbox, payee="nobody-has-this-slug")) == ("NotFound", "Account Not Found")
    assert oc_sandbox.sandbox.expenses() == []


PAYEE_ADMIN = "query($slug: String!) { account(slug: $slug) { slug name isAdmin } }"


def test_an_invite_draft_names_a_payee_by_slug_and_that_accounts_admins_complete_it(
    make_sandbox: Callable[..., RunningSandbox],
) -> None:
    running = make_sandbox(invite_interval_seconds=0)
    running.sandbox.add_account("someone-else", name="Someone Else", token="someone-token")
    # Whether the token administers an account is asked as Fund Circle asks it: the account's isAdmin.
    mine = post(running, PAYEE_ADMIN, {"slug": SANDBOX_PAYEE}).json()["data"]["account"]
    theirs = post(running, PAYEE_ADMIN, {"slug": "someone-else"}).json()["data"]["account"]
    assert (mine["isAdmin"], theirs["isAdmin"], theirs["name"]) == (True, False, "Someone Else")
    expense = expense_input("FC-S", payee="someone-else")
    del expense["payoutMethod"]
    body = post(running, DRAFT, {"account": {"slug": SANDBOX_COLLECTIVE}, "expense": expense}).json()
    drafted = body["data"]["draftExpenseAndInviteUser"]
    assert drafted["status"] == "DRAFT"
    stored = running.sandbox.expense(drafted["id"])
    assert stored.payee_slug == "someone-else"
    completed = running.sandbox.complete_invitation(drafted["id"])
    assert completed.status == "PENDING" and completed.payee_slug == "someone-else"
    expense["payee"] = {"slug": "not-an-account"}
    body = post(running, DRAFT, {"account": {"slug": SANDBOX_COLLECTIVE}, "expense": expense}).json()
    assert error_of(body) == ("NotFound", "Account Not Found")


def test_a_two_factor_token_without_advanced_privileges_gets_a_plain_internal_error(
    make_sandbox: Callable[..., RunningSandbox],
) -> None:
    running = make_sandbox(two_factor=True)
    me = post(running, "query { me { slug hasTwoFactorAuth } }").json()["data"]["me"]
    assert me["hasTwoFactorAuth"] is True
    body = create(running)
    assert error_of(body) == ("INTERNAL_SERVER_ERROR", "This personal token is not pre-authorized for 2FA")
    assert running.sandbox.expenses() == []
    # Reads still work, and the invite draft enforces no 2FA (server/graphql/v2/mutation/ExpenseMutations.ts).
    assert post(running, FIND, {"slug": SANDBOX_COLLECTIVE, "customData": {"a": 1}}).json()["data"]["expenses"]
    assert draft(running).json()["data"]["draftExpenseAndInviteUser"]["status"] == "DRAFT"
    (drafted,) = running.sandbox.expenses()
    running.sandbox.complete_invitation(drafted.public_id)
    assert error_of(process(running, drafted.public_id, "APPROVE"))[0] == "INTERNAL_SERVER_ERROR"


def test_a_pre_authorised_two_factor_token_is_let_through(make_sandbox: Callable[..., RunningSandbox]) -> None:
    running = make_sandbox(two_factor=True, preauthorized_2fa=True)
    assert create(running)["data"]["createExpense"]["status"] == "PENDING"


def test_a_receipt_needs_a_file_on_every_item_and_an_invoice_takes_none(oc_sandbox: RunningSandbox) -> None:
    items = [{"description": "Printing", "amountV2": {"valueInCents": 1_000, "currency": "EUR"}}]
    assert error_of(create(oc_sandbox, type="RECEIPT", items=items)) == (
        "ValidationFailed",
        "Some items are missing a file",
    )
    with_file = [{**items[0], "url": "https://example.org/receipt.pdf"}]
    assert create(oc_sandbox, type="RECEIPT", items=with_file)["data"]["createExpense"]["status"] == "PENDING"
    code, message = error_of(create(oc_sandbox, type="INVOICE", items=with_file))
    assert code == "ValidationFailed" and message.startswith("Invoice items cannot have a file attached")
    assert len(oc_sandbox.sandbox.expenses()) == 1


FIND_WITH_STATUS = """
query Find($slug: String!, $customData: JSON!, $status: [ExpenseStatusFilter]) {
  expenses(account: {slug: $slug}, customData: $customData, status: $status, limit: 5) { totalCount nodes { id } }
}"""


def test_spam_is_hidden_from_the_look_up_unless_a_status_filter_names_it(oc_sandbox: RunningSandbox) -> None:
    expense_id = create(oc_sandbox, "FC-SPAM")["data"]["createExpense"]["id"]
    process(oc_sandbox, expense_id, "REJECT")
    process(oc_sandbox, expense_id, "MARK_AS_SPAM")
    search = {"slug": SANDBOX_COLLECTIVE, "customData": {"fundCircleKey": "FC-SPAM"}}
    assert post(oc_sandbox, FIND_WITH_STATUS, search).json()["data"]["expenses"] == {"totalCount": 0, "nodes": []}
    body = post(oc_sandbox, FIND_WITH_STATUS, {**search, "status": ["PENDING", "SPAM"]}).json()
    assert body["data"]["expenses"]["nodes"] == [{"id": expense_id}]


def test_a_collective_in_a_currency_of_the_schema_takes_expenses_in_it(
    make_sandbox: Callable[..., RunningSandbox],
) -> None:
    running = make_sandbox(currency="CNY")
    items = [{"description": "Grant", "amountV2": {"valueInCents": 12_345, "currency": "CNY"}}]
    created = create(running, currency="CNY", items=items)["data"]["createExpense"]
    assert created["amountV2"] == {"valueInCents": 12_345}
    body = post(running, CREATE, {"account": {"slug": SANDBOX_COLLECTIVE}, "expense": expense_input(currency="XYZ")})
    assert body.status_code == 400 and body.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"items": []}, "at least one item"),
        ({"amount": 0}, "above 0"),
        ({"items": [{"description": "x", "amountV2": {"valueInCents": 5, "currency": "USD"}}]}, "currency"),
        ({"items": [{"description": "x", "amountV2": {"valueInCents": 1}}] * 301}, "300"),
        ({"customData": {"blob": "x" * 11_000}}, "10kB"),
    ],
)
def test_items_and_custom_data_are_checked(oc_sandbox: RunningSandbox, overrides: dict, fragment: str) -> None:
    code, message = error_of(create(oc_sandbox, **overrides))
    assert code == "ValidationFailed" and fragment in message
    assert oc_sandbox.sandbox.expenses() == []


# --- rate limits -----------------------------------------------------------------------------------------------------


def test_over_the_rate_limit_answers_429_with_retry_after(make_sandbox: Callable[..., RunningSandbox]) -> None:
    running = make_sandbox(rate_limit_per_minute=3)
    remaining = [post(running, "query { me { id } }").headers["X-RateLimit-Remaining"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    response = post(running, "query { me { id } }")
    assert response.status_code == 429
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert response.headers["X-RateLimit-Limit"] == "3"


def test_invitations_are_limited_to_one_per_interval(oc_sandbox: RunningSandbox) -> None:
    assert draft(oc_sandbox, "FC-1").json()["data"]["draftExpenseAndInviteUser"]["status"] == "DRAFT"
    assert error_of(draft(oc_sandbox, "FC-2").json()) == ("RateLimitExceeded", "Rate limit exceeded")
    assert len(oc_sandbox.sandbox.expenses()) == 1


def test_a_refused_invitation_counts_against_the_interval_too(make_sandbox: Callable[..., RunningSandbox]) -> None:
    running = make_sandbox(invite_interval_seconds=0.5)
    expense = expense_input("FC-X", payee="not-an-account")
    del expense["payoutMethod"]
    refused = post(running, DRAFT, {"account": {"slug": SANDBOX_COLLECTIVE}, "expense": expense}).json()
    assert error_of(refused)[0] == "NotFound"
    assert error_of(draft(running, "FC-Y").json())[0] == "RateLimitExceeded"
    time.sleep(0.6)
    assert draft(running, "FC-Z").json()["data"]["draftExpenseAndInviteUser"]["status"] == "DRAFT"


# --- injected failures -----------------------------------------------------------------------------------------------


def test_timeout_does_the_work_and_answers_too_late(oc_sandbox: RunningSandbox) -> None:
    oc_sandbox.sandbox.fail_next("timeout", operation="createExpense", delay=2.0)
    with pytest.raises(requests.Timeout):
        post(oc_sandbox, CREATE, {"account": {"slug": SANDBOX_COLLECTIVE}, "expense": expense_input()}, timeout=0.3)
    (expense,) = oc_sandbox.sandbox.expenses()
    assert expense.status == "PENDING" and expense.custom_data == {"fundCircleKey": "FC-1"}


def test_drop_after_create_closes_the_connection_after_the_work(oc_sandbox: RunningSandbox) -> None:
    oc_sandbox.sandbox.fail_next("drop_after_create", operation="createExpense")
    with pytest.raises(requests.ConnectionError):
        create(oc_sandbox)
    assert len(oc_sandbox.sandbox.expenses()) == 1
    assert create(oc_sandbox, "FC-2")["data"]["createExpense"]["status"] == "PENDING"


def test_error_500_before_does_nothing_and_only_hits_the_named_operation(oc_sandbox: RunningSandbox) -> None:
    oc_sandbox.sandbox.fail_next("error_500", operation="createExpense")
    look_up = post(oc_sandbox, FIND, {"slug": SANDBOX_COLLECTIVE, "customData": {"fundCircleKey": "FC-1"}})
    assert look_up.status_code == 200
    variables = {"account": {"slug": SANDBOX_COLLECTIVE}, "expense": expense_input()}
    assert post(oc_sandbox, CREATE, variables).status_code == 500
    assert oc_sandbox.sandbox.expenses() == []
    assert post(oc_sandbox, CREATE, variables).status_code == 200
    assert oc_sandbox.sandbox.calls == {"expenses": 1, "createExpense": 2}


def test_error_500_after_does_the_work(oc_sandbox: RunningSandbox) -> None:
    oc_sandbox.sandbox.fail_next("error_500_after", count=2)
    variables = {"account": {"slug": SANDBOX_COLLECTIVE}, "expense": expense_input()}
    assert [post(oc_sandbox, CREATE, variables).status_code for _ in range(3)] == [500, 500, 200]
    assert len(oc_sandbox.sandbox.expenses()) == 3


def test_injected_rate_limit_answers_429_without_doing_anything(oc_sandbox: RunningSandbox) -> None:
    oc_sandbox.sandbox.fail_next("rate_limit", delay=7)
    response = post(oc_sandbox, CREATE, {"account": {"slug": SANDBOX_COLLECTIVE}, "expense": expense_input()})
    assert response.status_code == 429 and response.headers["Retry-After"] == "7"
    assert oc_sandbox.sandbox.expenses() == []


def test_an_unknown_failure_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown failure mode"):
        Sandbox().fail_next("explode")


# --- state file and webhooks --------------------------------------------------------------------------------


def test_the_state_file_survives_a_restart(make_sandbox: Callable[..., RunningSandbox], tmp_path: Path) -> None:
    state = tmp_path / "sandbox.json"
    first = make_sandbox(state_file=state)
    expense_id = create(first, amount=1_000)["data"]["createExpense"]["id"]
    process(first, expense_id, "APPROVE")
    process(first, expense_id, "PAY")
    first.stop()
    assert not list(tmp_path.glob(".*.tmp"))

    second = make_sandbox(state_file=state, balance_minor=999)  # the file's balance wins over the option
    assert second.sandbox.expense(expense_id).status == "PAID"
    assert balance(second) == SANDBOX_BALANCE_MINOR - 1_000
    body = post(second, FIND, {"slug": SANDBOX_COLLECTIVE, "customData": {"fundCircleKey": "FC-1"}}).json()
    assert [node["id"] for node in body["data"]["expenses"]["nodes"]] == [expense_id]


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    @Request.application  # type: ignore[arg-type]
    def receive(request: Request) -> Response:
        received.append(json.loads(request.get_data()))
        return Response("ok")

    server = make_server("127.0.0.1", 0, receive, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hooks/opencollective/secret", received
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_status_changes_are_delivered_to_webhooks(
    make_sandbox: Callable[..., RunningSandbox], webhook_receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook_receiver
    running = make_sandbox(webhooks=[url])
    expense_id = create(running)["data"]["createExpense"]["id"]
    running.sandbox.wait_for_webhooks()  # deliveries come from threads, in no guaranteed order
    process(running, expense_id, "APPROVE")
    running.sandbox.wait_for_webhooks()
    process(running, expense_id, "PAY")
    running.sandbox.wait_for_webhooks()
    assert [delivery["type"] for delivery in received] == [
        "collective.expense.created",
        "collective.expense.approved",
        "collective.expense.paid",
    ]
    last = received[-1]
    assert set(last) == {"createdAt", "id", "type", "CollectiveId", "data"}
    assert isinstance(last["CollectiveId"], int)
    # server/lib/webhooks.ts: the expense's idV2 (its GraphQL id), its integer database id, and no status.
    stored = running.sandbox.expense(expense_id)
    assert last["data"]["expense"] == {
        "idV2": expense_id,
        "id": stored.legacy_id,
        "description": stored.description,
        "amount": 25_000,
        "currency": "EUR",
        "publicId": expense_id,
    }
    assert last["data"]["collective"]["slug"] == SANDBOX_COLLECTIVE
    assert last["data"]["fromCollective"]["slug"] == SANDBOX_PAYEE
    assert [d.get("status") for d in running.sandbox.webhook_deliveries] == [200, 200, 200]


def test_an_invite_drafted_event_comes_with_empty_data(
    make_sandbox: Callable[..., RunningSandbox], webhook_receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    url, received = webhook_receiver
    running = make_sandbox(webhooks=[url])
    draft(running)
    running.sandbox.wait_for_webhooks()
    (delivery,) = received
    assert delivery["type"] == "collective.expense.invite.drafted" and delivery["data"] == {}


def test_a_failing_webhook_is_dropped_and_changes_nothing(make_sandbox: Callable[..., RunningSandbox]) -> None:
    running = make_sandbox(webhooks=["http://127.0.0.1:9/nobody-listens"], webhook_timeout_seconds=0.5)
    assert create(running)["data"]["createExpense"]["status"] == "PENDING"
    running.sandbox.wait_for_webhooks()
    assert running.sandbox.webhook_deliveries[0]["error"] == "ConnectionError"


def test_webhooks_must_be_on_loopback() -> None:
    sandbox = Sandbox()
    sandbox.add_collective("fund", admin_token="t")
    with pytest.raises(ValueError, match="loopback"):
        sandbox.add_webhook("fund", "https://example.org/hook")


# --- the command ------------------------------------------------------------------------------------------


def test_the_command_refuses_to_run_in_production() -> None:
    app = Flask("sandbox-cli-test")
    app.config["PRODUCTION"] = True
    app.cli.add_command(oc_sandbox_command)
    result = app.test_cli_runner().invoke(
        args=["oc-sandbox", "--port", "0", "--collective", "fund", "--token", "t", "--balance-minor", "100"]
    )
    assert result.exit_code == 1
    assert "Refusing to run the Open Collective sandbox: FUNDCIRCLE_ENV is production" in result.output


def test_flask_finds_the_command_through_the_sandboxs_entry_point_and_it_serves(tmp_path: Path) -> None:
    """`flask --app fundcircle oc-sandbox ...` as `make run` starts it. The product registers no such command: Flask
    finds it through the `flask.commands` entry point of the sandbox's distribution (devtools/oc_sandbox)."""
    state = tmp_path / "oc-sandbox.json"
    env = {
        **{name: value for name, value in os.environ.items() if name not in {"FLASK_APP", "SECRET_KEY"}},
        "FUNDCIRCLE_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'app.sqlite'}",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable, "-m", "flask", "--app", "fundcircle", "oc-sandbox", "--port", "0",
        "--collective", SANDBOX_COLLECTIVE, "--token", SANDBOX_TOKEN, "--name", "Riverside Fund (sandbox)",
        "--balance-minor", "123456", "--currency", "eur", "--payee-account", SANDBOX_PAYEE, "--state", str(state),
    ]  # fmt: skip
    process = subprocess.Popen(  # nosec B603  # a fixed command on loopback
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=60), "the sandbox printed nothing within 60 s"
        first_line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+/graphql/v2", first_line)
        assert url is not None, first_line + (process.stderr.read() if process.poll() is not None else "")
        response = requests.post(
            url.group(0),
            json={"query": COLLECTIVE, "variables": {"slug": SANDBOX_COLLECTIVE}},
            headers={"Personal-Token": SANDBOX_TOKEN},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        account = response.json()["data"]["account"]
        assert (account["slug"], account["name"], account["currency"], account["isAdmin"]) == (
            SANDBOX_COLLECTIVE, "Riverside Fund (sandbox)", "EUR", True,
        )  # fmt: skip
        assert account["stats"]["balance"] == {"valueInCents": 123456, "currency": "EUR"}
        assert SANDBOX_COLLECTIVE in state.read_text()  # the state is kept where --state says
    finally:
        process.terminate()
        process.communicate(timeout=30)
