"""A small client for Open Collective's GraphQL API v2: the few documents Fund Circle sends, and what can go wrong.

Every document is a constant here; a test (tests/services/test_client.py) validates each against Open Collective's
schema, which is kept with the local sandbox, a development tool (devtools/oc_sandbox/oc_sandbox/schema/), so a field
Open Collective does not have fails CI, not a payout. The product itself never reads that schema.

Reads are retried with backoff. A mutation is sent once: Open Collective has no idempotency key, so after a timeout,
a dropped connection or a 5xx nobody knows whether the expense exists, and the caller must look it up by its
`customData` before it may try again (see payouts/requesting.py). `PayoutGatewayError.outcome` says which case it is.
The token is sent in a header and never logged or put in an error message.
"""

from __future__ import annotations

import ipaddress
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from marshmallow import EXCLUDE, Schema, ValidationError, fields
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from fundcircle.payouts.outbound import AddressPolicy, AddressRefused, check_url, is_loopback_address, pinned_session

PRODUCTION_API_URL = "https://api.opencollective.com/graphql/v2"
STAGING_API_URL = "https://api-staging.opencollective.com/graphql/v2"
#: Hosts whose own error messages are shown to a treasurer. Any other host (a self-hosted or mistyped address)
#: gets a generic failure instead, so that the server never echoes what some other service answered.
OPEN_COLLECTIVE_HOSTS = frozenset({"api.opencollective.com", "api-staging.opencollective.com"})

ME = """
query FundCircleMe {
  me { id slug name hasTwoFactorAuth }
}
"""

COLLECTIVE = """
query FundCircleCollective($slug: String!) {
  account(slug: $slug) {
    id
    slug
    name
    currency
    isAdmin
    supportedExpenseTypes
    stats { balance { valueInCents currency } }
  }
}
"""

_EXPENSE_FIELDS = """
    id
    status
    type
    description
    amountV2 { valueInCents currency }
    customData
    reference
    paidAt
"""

EXPENSE = (
    """
query FundCircleExpense($id: String!) {
  expense(expense: { id: $id }) {"""
    + _EXPENSE_FIELDS
    + """  }
}
"""
)

#: Every status an expense of ours can have. Without a status filter Open Collective's look-up leaves SPAM out
#: (and DRAFT, but for admins): an expense marked as spam would not be found, and the payout requested again
#: (server/graphql/v2/query/collection/ExpensesCollectionQuery.ts).
LOOK_UP_STATUSES = (
    "DRAFT", "UNVERIFIED", "PENDING", "INCOMPLETE", "APPROVED", "REJECTED", "PROCESSING", "ERROR", "PAID",
    "SCHEDULED_FOR_PAYMENT", "SPAM", "CANCELED", "INVITE_DECLINED",
)  # fmt: skip

FIND_EXPENSES = (
    """
query FundCircleFindExpenses($account: AccountReferenceInput!, $customData: JSON!, $status: [ExpenseStatusFilter]) {
  expenses(account: $account, customData: $customData, status: $status, limit: 5) {
    totalCount
    nodes {"""
    + _EXPENSE_FIELDS
    + """    }
  }
}
"""
)

CREATE_EXPENSE = (
    """
mutation FundCircleCreateExpense($account: AccountReferenceInput!, $expense: ExpenseCreateInput!) {
  createExpense(account: $account, expense: $expense) {"""
    + _EXPENSE_FIELDS
    + """  }
}
"""
)

PAYEE = """
query FundCirclePayee($slug: String!) {
  account(slug: $slug, throwIfMissing: false) { id slug name isAdmin }
}
"""

DRAFT_AND_INVITE = (
    """
mutation FundCircleDraftAndInvite(
  $account: AccountReferenceInput!
  $expense: ExpenseInviteDraftInput!
  $lockedFields: [ExpenseLockableFields]
) {
  draftExpenseAndInviteUser(account: $account, expense: $expense, lockedFields: $lockedFields) {"""
    + _EXPENSE_FIELDS
    + """  }
}
"""
)

#: Every document the client can send, for the schema test.
DOCUMENTS = {
    "me": ME,
    "collective": COLLECTIVE,
    "expense": EXPENSE,
    "find_expenses": FIND_EXPENSES,
    "payee": PAYEE,
    "create_expense": CREATE_EXPENSE,
    "draft_and_invite": DRAFT_AND_INVITE,
}

#: `not_sent`: Open Collective did certainly not act (connection refused, rate limited): try again later.
#: `unknown`: it may have acted (timeout, dropped connection, 5xx, garbled answer): look up before trying again.
#: `refused`: it answered no (bad token, no permission, invalid expense): retrying will not help until someone acts.
Outcome = Literal["not_sent", "unknown", "refused"]


class PayoutGatewayError(Exception):
    """Open Collective did not do what was asked. The message is for a treasurer to read; it never holds the token."""

    def __init__(
        self,
        message: str,
        *,
        outcome: Outcome,
        status: int | None = None,
        code: str | None = None,
        retry_after_seconds: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.outcome: Outcome = outcome
        self.status = status
        self.code = code
        self.retry_after_seconds = retry_after_seconds
        self.request_id = request_id

    def to_record(self) -> dict[str, Any]:
        """What the ledger keeps about the failure."""
        return {
            "outcome": self.outcome,
            "error": self.message,
            "http_status": self.status,
            "code": self.code,
            "request_id": self.request_id,
        }


class _MoneySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    valueInCents = fields.Integer(required=True)
    currency = fields.String(required=True)


class _ExpenseSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True)
    status = fields.String(required=True)
    type = fields.String(load_default=None)
    description = fields.String(load_default=None)
    amountV2 = fields.Nested(_MoneySchema, load_default=None)
    customData = fields.Raw(load_default=None, allow_none=True)
    reference = fields.String(load_default=None, allow_none=True)
    paidAt = fields.String(load_default=None, allow_none=True)


class _StatsSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    balance = fields.Nested(_MoneySchema, required=True)


class _CollectiveSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True)
    slug = fields.String(required=True)
    name = fields.String(required=True)
    currency = fields.String(load_default=None, allow_none=True)
    isAdmin = fields.Boolean(required=True)
    supportedExpenseTypes = fields.List(fields.String(), required=True)
    stats = fields.Nested(_StatsSchema, required=True)


class _MeSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True)
    slug = fields.String(required=True)
    name = fields.String(load_default=None, allow_none=True)
    hasTwoFactorAuth = fields.Boolean(load_default=None, allow_none=True)


@dataclass(frozen=True)
class Me:
    id: str
    slug: str
    name: str | None
    has_two_factor_auth: bool | None


@dataclass(frozen=True)
class Collective:
    id: str
    slug: str
    name: str
    currency: str | None
    is_admin: bool
    supported_expense_types: list[str]
    balance_minor: int
    balance_currency: str


@dataclass(frozen=True)
class Payee:
    """An Open Collective account named as a payee, and whether the token's user administers it."""

    slug: str
    name: str
    is_admin: bool


class _PayeeSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True)
    slug = fields.String(required=True)
    name = fields.String(load_default=None, allow_none=True)
    isAdmin = fields.Boolean(required=True)


@dataclass(frozen=True)
class Expense:
    id: str
    status: str
    amount_minor: int | None = None
    currency: str | None = None
    custom_data: dict[str, Any] = field(default_factory=dict)
    reference: str | None = None
    paid_at: str | None = None
    request_id: str | None = None


def _expense(data: Any, request_id: str | None = None) -> Expense:
    loaded = _load(_ExpenseSchema(), data, request_id)
    amount = loaded.get("amountV2") or {}
    return Expense(
        id=loaded["id"],
        status=loaded["status"],
        amount_minor=amount.get("valueInCents"),
        currency=amount.get("currency"),
        custom_data=loaded["customData"] if isinstance(loaded.get("customData"), dict) else {},
        reference=loaded.get("reference"),
        paid_at=loaded.get("paidAt"),
        request_id=request_id,
    )


def _load(schema: Schema, data: Any, request_id: str | None) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as error:
        raise PayoutGatewayError(
            f"Open Collective's answer was not in the expected shape ({error.messages}).",
            outcome="unknown",
            request_id=request_id,
        ) from None
    return loaded


def _retry_after(response: requests.Response) -> int:
    try:
        return max(1, int(response.headers.get("Retry-After", "60")))
    except ValueError:
        return 60


TWO_FACTOR_GUIDANCE = (
    " The token's account uses two-factor authentication: make a personal token with “Advanced privileges” "
    "(pre-authorised for 2FA) in its Open Collective settings (For developers → Personal tokens) and connect "
    "the circle again with it."
)
_ERROR_HINTS = {"2FA_REQUIRED": TWO_FACTOR_GUIDANCE}
#: Open Collective's words when a two-factor user's token lacks "Advanced privileges". It throws a plain Error,
#: which Apollo labels INTERNAL_SERVER_ERROR, so the message is all there is to recognise it by
#: (server/lib/two-factor-authentication/lib.ts).
TWO_FACTOR_NOT_PREAUTHORIZED = "token is not pre-authorized for 2FA"
#: The code Fund Circle gives that refusal (Open Collective gives none).
TWO_FACTOR_CODE = "2FA_NOT_PREAUTHORIZED"


class OpenCollectiveClient:
    """`POST {api_url}` with the `Personal-Token` header and explicit connect and read timeouts.

    Connections go only where `policy` allows (payouts/outbound.py: public addresses over https, checked at every
    connect; loopback only when the policy allows it), and redirects are never followed: the token would go along.
    """

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        read_attempts: int = 3,
        backoff_seconds: float = 0.5,
        max_retry_after_seconds: int = 5,
        policy: AddressPolicy | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        self.api_url = api_url
        self.policy = policy or AddressPolicy()
        self._token = token
        self.timeout = (connect_timeout, read_timeout)
        self.read_attempts = read_attempts
        self.backoff_seconds = backoff_seconds
        self.max_retry_after_seconds = max_retry_after_seconds
        self._session = pinned_session(self.policy)
        if ca_bundle is not None:
            # Certificates to trust instead of the system's (the tests' own authority); the name is still verified.
            self._session.verify = ca_bundle
        self._messages_trusted = speaks_for_open_collective(api_url, self.policy)

    def __repr__(self) -> str:  # never show the token, even in a traceback's locals
        return f"OpenCollectiveClient({self.api_url!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> OpenCollectiveClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reads: retried -------------------------------------------------------------------------------------------

    def me(self) -> Me:
        data = self._read(ME, {})
        if data.get("me") is None:
            raise PayoutGatewayError("Open Collective did not accept the token.", outcome="refused", status=401)
        me = _load(_MeSchema(), data["me"], None)
        return Me(me["id"], me["slug"], me.get("name"), me.get("hasTwoFactorAuth"))

    def collective(self, slug: str) -> Collective:
        data = self._read(COLLECTIVE, {"slug": slug})
        if data.get("account") is None:
            raise PayoutGatewayError(f"Open Collective has no account “{slug}”.", outcome="refused", code="NotFound")
        account = _load(_CollectiveSchema(), data["account"], None)
        balance = account["stats"]["balance"]
        return Collective(
            id=account["id"],
            slug=account["slug"],
            name=account["name"],
            currency=account.get("currency"),
            is_admin=account["isAdmin"],
            supported_expense_types=list(account["supportedExpenseTypes"]),
            balance_minor=balance["valueInCents"],
            balance_currency=balance["currency"],
        )

    def expense(self, expense_id: str) -> Expense | None:
        data = self._read(EXPENSE, {"id": expense_id})
        return _expense(data["expense"]) if data.get("expense") is not None else None

    def find_expenses(self, collective_slug: str, custom_data: dict[str, Any]) -> list[Expense]:
        """Expenses of the collective whose customData holds every key and value given, in any status."""
        variables = {"account": {"slug": collective_slug}, "customData": custom_data, "status": list(LOOK_UP_STATUSES)}
        data = self._read(FIND_EXPENSES, variables)
        page = data.get("expenses") or {}
        return [_expense(node) for node in page.get("nodes") or []]

    def payee(self, slug: str) -> Payee | None:
        """The account `slug` and whether the token's user administers it (then it may be named in createExpense);
        None if Open Collective has no such account."""
        data = self._read(PAYEE, {"slug": slug})
        if data.get("account") is None:
            return None
        account = _load(_PayeeSchema(), data["account"], None)
        return Payee(account["slug"], account.get("name") or account["slug"], account["isAdmin"])

    # -- mutations: sent once ---------------------------------------------------------------------------------------

    def create_expense(self, collective_slug: str, expense: dict[str, Any]) -> Expense:
        request_id = _new_request_id()
        data = self._post(CREATE_EXPENSE, {"account": {"slug": collective_slug}, "expense": expense}, request_id)
        return _expense(data.get("createExpense"), request_id)

    def draft_and_invite(self, collective_slug: str, expense: dict[str, Any]) -> Expense:
        request_id = _new_request_id()
        variables = {
            "account": {"slug": collective_slug},
            "expense": expense,
            "lockedFields": ["AMOUNT", "TYPE", "DESCRIPTION"],
        }
        data = self._post(DRAFT_AND_INVITE, variables, request_id)
        return _expense(data.get("draftExpenseAndInviteUser"), request_id)

    # -- transport ------------------------------------------------------------------------------------------------

    def _read(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        """A query: safe to send again, so transient failures are retried with backoff."""
        attempt = 0
        while True:
            attempt += 1
            try:
                return self._post(document, variables, _new_request_id())
            except PayoutGatewayError as error:
                transient = error.outcome in ("not_sent", "unknown")
                if not transient or attempt >= self.read_attempts:
                    raise
                wait = self.backoff_seconds * 2 ** (attempt - 1)
                if error.retry_after_seconds is not None:
                    if error.retry_after_seconds > self.max_retry_after_seconds:
                        raise
                    wait = max(wait, error.retry_after_seconds)
                time.sleep(wait)

    def _post(self, document: str, variables: dict[str, Any], request_id: str) -> dict[str, Any]:
        def fail(message: str, outcome: Outcome, **details: Any) -> PayoutGatewayError:
            return PayoutGatewayError(message, outcome=outcome, request_id=request_id, **details)

        try:
            check_url(self.api_url, self.policy)
            response = self._session.post(
                self.api_url,
                json={"query": document, "variables": variables},
                headers={"Personal-Token": self._token, "X-Request-Id": request_id, "Accept": "application/json"},
                timeout=self.timeout,
                allow_redirects=False,
            )
        except AddressRefused as error:
            raise fail(str(error), "not_sent", code="AddressRefused") from None
        except requests.exceptions.ConnectTimeout:
            raise fail("Open Collective could not be reached (the connection timed out).", "not_sent") from None
        except requests.exceptions.Timeout:
            raise fail("Open Collective did not answer in time; the request may or may not have been done.",
                       "unknown") from None  # fmt: skip
        except requests.exceptions.ConnectionError as error:
            if _never_connected(error):
                raise fail("Open Collective could not be reached (no connection).", "not_sent") from None
            raise fail("The connection to Open Collective dropped before its answer; the request may or may not "
                       "have been done.", "unknown") from None  # fmt: skip
        except requests.exceptions.RequestException as error:
            raise fail(f"The request to Open Collective failed ({type(error).__name__}).", "unknown") from None

        status = response.status_code
        if 300 <= status < 400:
            # Open Collective's API never redirects; following one would carry the token somewhere else.
            raise fail(f"The API address answered with a redirect (HTTP {status}), which is not followed: give Open "
                       "Collective's API address itself.", "refused", status=status)  # fmt: skip
        if status == 429:
            seconds = _retry_after(response)
            raise fail(f"Open Collective's rate limit was reached; try again in {seconds} seconds.", "not_sent",
                       status=429, code="RateLimitExceeded", retry_after_seconds=seconds)  # fmt: skip
        if status in (401, 403):
            raise fail(f"Open Collective refused the token (HTTP {status}): it may be wrong, expired or revoked; "
                       "connect the circle again with a valid personal token.", "refused", status=status,
                       code="Unauthorized" if status == 401 else "Forbidden")  # fmt: skip
        if status >= 500:
            raise fail(f"Open Collective had an error (HTTP {status}); the request may or may not have been done.",
                       "unknown", status=status)  # fmt: skip
        try:
            body = response.json()
        except ValueError:
            outcome: Outcome = "unknown" if status < 400 else "refused"
            raise fail(f"Open Collective answered HTTP {status} with something that is not JSON.", outcome,
                       status=status) from None  # fmt: skip
        if not isinstance(body, dict):
            raise fail(f"Open Collective answered HTTP {status} with unexpected JSON.", "unknown", status=status)
        errors = body.get("errors")
        if errors:
            first = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
            code = str((first.get("extensions") or {}).get("code") or "") or None
            message = str(first.get("message") or "no message")
            if not self._messages_trusted:
                message = "the request was refused; the answer is not shown, as the address is not Open Collective's"
            elif TWO_FACTOR_NOT_PREAUTHORIZED in message:
                raise fail(f"Open Collective refused the token: {message}." + TWO_FACTOR_GUIDANCE, "refused",
                           status=status, code=TWO_FACTOR_CODE)  # fmt: skip
            if code in ("RateLimitExceeded", "RATE_LIMIT_EXCEEDED"):
                raise fail(f"Open Collective's rate limit was reached: {message}", "not_sent", status=status,
                           code=code, retry_after_seconds=60)  # fmt: skip
            if code == "INTERNAL_SERVER_ERROR":
                raise fail(f"Open Collective had an error: {message}", "unknown", status=status, code=code)
            raise fail(f"Open Collective said: {message}" + _ERROR_HINTS.get(code or "", ""), "refused",
                       status=status, code=code)  # fmt: skip
        if status >= 400:
            raise fail(f"Open Collective refused the request (HTTP {status}).", "refused", status=status)
        data = body.get("data")
        if not isinstance(data, dict):
            raise fail("Open Collective's answer had no data.", "unknown", status=status)
        return data


def speaks_for_open_collective(api_url: str, policy: AddressPolicy) -> bool:
    """Whether error messages from `api_url` are Open Collective's own (or the local sandbox's, where allowed)."""
    host = (urlsplit(api_url).hostname or "").lower()
    if host in OPEN_COLLECTIVE_HOSTS:
        return True
    if not policy.allow_loopback:
        return False
    if host == "localhost":
        return True
    try:
        return is_loopback_address(ipaddress.ip_address(host))
    except ValueError:
        return False


def _new_request_id() -> str:
    return f"fc-{uuid.uuid4()}"


def _never_connected(error: requests.exceptions.ConnectionError) -> bool:
    """Whether the connection failed before anything was sent (refused, unknown host), as opposed to dropping later."""
    reason: Any = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, (NewConnectionError, ConnectTimeoutError))
