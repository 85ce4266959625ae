"""The Open Collective client: every document it can send is valid for Open Collective's schema, and every way a
request can go wrong becomes one error type that says whether Open Collective acted (over real HTTP, against the
sandbox and a closed port)."""

# ruff: noqa: F811
from __future__ import annotations

import hashlib
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from graphql import GraphQLSchema, parse, validate

from fundcircle.payouts.opencollective import DOCUMENTS, OpenCollectiveClient, PayoutGatewayError
from fundcircle.payouts.outbound import AddressPolicy
from oc_sandbox.sandbox import SCHEMA_PATH, RunningSandbox
from tests.worlds.sandbox import SANDBOX_COLLECTIVE, SANDBOX_PAYEE, SANDBOX_TOKEN

#: The sandbox listens on 127.0.0.1: reachable only through the explicit loopback setting.
SANDBOX_POLICY = AddressPolicy(allow_loopback=True)

#: Open Collective's schema lives with the sandbox, a development tool (devtools/oc_sandbox), not in the product.
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "devtools" / "oc_sandbox" / "oc_sandbox" / "schema"


def test_the_schema_is_open_collectives_own_unchanged() -> None:
    source = (SCHEMA_DIR / "SOURCE.txt").read_text()
    expected = re.search(r"SHA-256:\s+([0-9a-f]{64})", source)
    assert expected is not None
    assert hashlib.sha256((SCHEMA_DIR / "schemaV2.graphql").read_bytes()).hexdigest() == expected.group(1)
    # ... and it is the very file that the sandbox and the document tests below (the `oc_schema` fixture) load.
    assert SCHEMA_PATH.resolve() == (SCHEMA_DIR / "schemaV2.graphql").resolve()


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_every_document_the_client_sends_is_valid_for_open_collective(oc_schema: GraphQLSchema, name: str) -> None:
    assert validate(oc_schema, parse(DOCUMENTS[name])) == []


def test_a_misspelt_field_would_be_caught(oc_schema: GraphQLSchema) -> None:
    broken = DOCUMENTS["expense"].replace("paidAt", "paidOn")
    errors = validate(oc_schema, parse(broken))
    assert errors and "paidOn" in errors[0].message


def _expense(**overrides: Any) -> dict[str, Any]:
    expense = {
        "type": "GRANT",
        "description": "Fund Circle grant: Seed library",
        "currency": "EUR",
        "payee": {"slug": SANDBOX_PAYEE},
        "payoutMethod": {"type": "OTHER", "data": {"content": "As agreed", "currency": "EUR"}},
        "items": [{"description": "Seed library", "amountV2": {"valueInCents": 25_000, "currency": "EUR"}}],
        "reference": "fc-key-1",
        "customData": {"fundCirclePayoutKey": "fc-key-1"},
    }
    expense.update(overrides)
    return expense


def _client(sandbox: RunningSandbox, token: str = SANDBOX_TOKEN, **options: Any) -> OpenCollectiveClient:
    options.setdefault("read_timeout", 1.0)
    options.setdefault("backoff_seconds", 0.05)
    options.setdefault("policy", SANDBOX_POLICY)
    return OpenCollectiveClient(sandbox.url, token, **options)


def test_reads_and_writes_against_the_sandbox(oc_sandbox: RunningSandbox) -> None:
    with _client(oc_sandbox) as client:
        me = client.me()
        collective = client.collective(SANDBOX_COLLECTIVE)
        assert collective.is_admin and collective.balance_minor == 500_000 and collective.balance_currency == "EUR"
        assert "GRANT" in collective.supported_expense_types and me.slug
        created = client.create_expense(SANDBOX_COLLECTIVE, _expense())
        assert created.status == "PENDING" and created.amount_minor == 25_000 and created.request_id
        found = client.find_expenses(SANDBOX_COLLECTIVE, {"fundCirclePayoutKey": "fc-key-1"})
        assert [e.id for e in found] == [created.id]
        assert client.find_expenses(SANDBOX_COLLECTIVE, {"fundCirclePayoutKey": "fc-key-2"}) == []
        fetched = client.expense(created.id)
        assert fetched is not None and fetched.custom_data == {"fundCirclePayoutKey": "fc-key-1"}
        assert client.expense("ex_missing") is None


@pytest.mark.parametrize(
    ("mode", "outcome", "created"),
    [
        ("timeout", "unknown", 1),
        ("drop_after_create", "unknown", 1),
        ("error_500_after", "unknown", 1),
        ("error_500", "unknown", 0),
        ("rate_limit", "not_sent", 0),
    ],
)
def test_a_failed_creation_says_whether_open_collective_may_have_acted(
    oc_sandbox: RunningSandbox, mode: str, outcome: str, created: int
) -> None:
    oc_sandbox.sandbox.fail_next(mode, operation="createExpense", delay=2)
    with _client(oc_sandbox) as client, pytest.raises(PayoutGatewayError) as caught:
        client.create_expense(SANDBOX_COLLECTIVE, _expense())
    assert caught.value.outcome == outcome
    assert caught.value.request_id and caught.value.request_id.startswith("fc-")
    assert len(oc_sandbox.sandbox.expenses()) == created
    assert oc_sandbox.sandbox.calls["createExpense"] == 1  # a mutation is never sent twice by the client
    if mode == "rate_limit":
        assert caught.value.status == 429 and caught.value.retry_after_seconds == 2


def test_reads_are_retried_through_transient_failures(oc_sandbox: RunningSandbox) -> None:
    oc_sandbox.sandbox.fail_next("error_500", operation="expenses", count=2)
    with _client(oc_sandbox) as client:
        assert client.find_expenses(SANDBOX_COLLECTIVE, {"fundCirclePayoutKey": "x"}) == []
    assert oc_sandbox.sandbox.calls["expenses"] == 3


def test_open_collectives_refusals_keep_its_message_and_code(oc_sandbox: RunningSandbox) -> None:
    with _client(oc_sandbox) as client:
        with pytest.raises(PayoutGatewayError) as caught:
            client.create_expense(SANDBOX_COLLECTIVE, _expense(type="FUNDING_REQUEST"))
        assert caught.value.outcome == "refused" and caught.value.code == "ValidationFailed"
        assert "FUNDING_REQUEST" in caught.value.message
        with pytest.raises(PayoutGatewayError) as caught:
            client.collective("no-such-collective")
        assert caught.value.outcome == "refused" and caught.value.code == "NotFound"


def test_a_bad_token_is_refused_and_never_repeated_in_messages(oc_sandbox: RunningSandbox) -> None:
    secret = "personal-token-that-must-not-leak"
    client = _client(oc_sandbox, token=secret)
    with client, pytest.raises(PayoutGatewayError) as caught:
        client.me()
    error = caught.value
    assert error.outcome == "refused" and error.status == 401
    assert "token" in error.message and secret not in error.message
    assert secret not in repr(client) and secret not in str(error.to_record())


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_server_means_nothing_was_sent() -> None:
    client = OpenCollectiveClient(f"http://127.0.0.1:{_closed_port()}/graphql/v2", "t", read_attempts=1,
                                  policy=SANDBOX_POLICY)  # fmt: skip
    with client, pytest.raises(PayoutGatewayError) as caught:
        client.create_expense(SANDBOX_COLLECTIVE, _expense())
    assert caught.value.outcome == "not_sent" and "could not be reached" in caught.value.message
