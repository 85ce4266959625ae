"""Pytest fixtures for the Open Collective sandbox, for every test folder (tests/conftest.py loads this module as a
plugin).

`oc_sandbox` is a running sandbox with one collective (`SANDBOX_COLLECTIVE`, admin token `SANDBOX_TOKEN`, balance
`SANDBOX_BALANCE_MINOR` in `SANDBOX_CURRENCY`, payee account `SANDBOX_PAYEE` administered by the same user);
`make_sandbox(**options)` starts one with other options (see `start_sandbox`); both stop at the end of the test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from graphql import GraphQLSchema

from oc_sandbox.sandbox import RunningSandbox, load_schema, start_sandbox

SANDBOX_COLLECTIVE = "riverside-fund"
SANDBOX_TOKEN = "sandbox-admin-token"
SANDBOX_PAYEE = "riverside-grantee"
SANDBOX_CURRENCY = "EUR"
SANDBOX_BALANCE_MINOR = 500_000


@pytest.fixture(scope="session")
def oc_schema() -> GraphQLSchema:
    """Open Collective's schema, built once (load_schema caches it for the whole process)."""
    return load_schema()


@pytest.fixture
def make_sandbox(oc_schema: GraphQLSchema) -> Iterator[Callable[..., RunningSandbox]]:
    started: list[RunningSandbox] = []

    def make(**options: Any) -> RunningSandbox:
        options.setdefault("collective", SANDBOX_COLLECTIVE)
        options.setdefault("token", SANDBOX_TOKEN)
        options.setdefault("currency", SANDBOX_CURRENCY)
        options.setdefault("balance_minor", SANDBOX_BALANCE_MINOR)
        options.setdefault("payee_accounts", [SANDBOX_PAYEE])
        running = start_sandbox(**options)
        started.append(running)
        return running

    yield make
    for running in started:
        running.stop()


@pytest.fixture
def oc_sandbox(make_sandbox: Callable[..., RunningSandbox]) -> RunningSandbox:
    return make_sandbox()
