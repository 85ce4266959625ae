"""A local stand-in for Open Collective's GraphQL API v2 (the "sandbox"), for the tests and the demo.

It answers `POST /graphql/v2` over real HTTP the way Open Collective (Apollo Server) does: every document is parsed,
validated and executed by graphql-core against Open Collective's real schema (`schema/schemaV2.graphql`), so a field
that Open Collective does not have fails here as it would there. It keeps collectives and expenses with Open
Collective's status rules, enforces its rate limits, delivers webhooks, and can be told to fail (time out, answer
500, drop the connection after doing the work, answer 429) so that the client's unknown-outcome handling is tested
against something real. `GET /` is a page where a person plays the host: approve, reject and pay. No money moves.

This is a development tool, not part of the product: it lives in its own distribution (devtools/oc_sandbox/, which
`make run` and `make test` install), the product never imports it, and a production install does not have it. Its
command (`oc_sandbox/cli.py`) is hidden from and refuses to run in an app whose config says PRODUCTION.
"""

from __future__ import annotations

import copy
import functools
import html
import ipaddress
import json
import math
import os
import secrets
import socket
import string
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    GraphQLResolveInfo,
    GraphQLSchema,
    GraphQLSyntaxError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    build_schema,
    default_field_resolver,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values
from graphql.language import DocumentNode
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from oc_sandbox import DEFAULT_EXPENSE_TYPES

SCHEMA_PATH = Path(__file__).with_name("schema") / "schemaV2.graphql"
GRAPHQL_PATH = "/graphql/v2"
FAILURE_MODES = frozenset({"timeout", "error_500", "error_500_after", "drop_after_create", "rate_limit"})
MAX_ITEMS = 300
MAX_CUSTOM_DATA_BYTES = 10 * 1024
MAX_BODY_BYTES = 2 * 1024 * 1024
LOOPBACK_HOSTS = frozenset({"localhost"})
#: Fund Circle's address in development (`make run`), for the host page's link back when nothing better is known.
DEVELOPMENT_APP_URL = "http://127.0.0.1:5000/"
PAGE_CSS_PATH = "/sandbox.css"
#: The host page's own small stylesheet (served by the sandbox, no other site): readable, and one column on a phone.
PAGE_CSS = """\
:root { --ink: #1d2433; --muted: #5b6475; --line: #d6dae3; --accent: #1f5fbf; --warn: #8a4b00; --bg: #f6f7fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
  background: var(--bg); overflow-wrap: anywhere; }
header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: center; justify-content: space-between;
  padding: .75rem 1rem; background: #fff; border-bottom: 1px solid var(--line); }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.5rem; line-height: 1.25; margin: .5rem 0 1rem; }
h2 { font-size: 1.2rem; margin: 1.5rem 0 .5rem; }
a { color: var(--accent); }
a.back { font-weight: 600; }
.badge { background: #fff3d6; color: var(--warn); border: 1px solid #e7c77a; border-radius: 999px;
  padding: .1rem .6rem; font-size: .875rem; font-weight: 600; }
.muted { color: var(--muted); }
.problem { background: #fdecec; border: 1px solid #e6a3a3; padding: .5rem .75rem; border-radius: .25rem; }
code { font-size: .875em; word-break: break-all; }
table { width: 100%; border-collapse: collapse; background: #fff; }
caption { text-align: left; font-weight: 600; padding: .25rem 0; }
th, td { text-align: left; vertical-align: top; padding: .5rem; border-bottom: 1px solid var(--line); }
.num { text-align: right; white-space: nowrap; }
.status { font-weight: 600; }
.actions { display: flex; flex-wrap: wrap; gap: .25rem; }
.actions form { margin: 0; }
button { font: inherit; padding: .35rem .8rem; border-radius: .25rem; border: 1px solid var(--accent);
  background: var(--accent); color: #fff; cursor: pointer; min-height: 2.5rem; }
button.secondary { background: #fff; color: var(--accent); }
button:focus-visible, a:focus-visible { outline: 3px solid #f0b400; outline-offset: 2px; }
@media (max-width: 40rem) {
  table.stacked, table.stacked caption, table.stacked tbody, table.stacked tr, table.stacked td {
    display: block; width: 100%; }
  table.stacked { background: none; }
  table.stacked thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  table.stacked tr { border: 1px solid var(--line); border-radius: .25rem; margin-bottom: .75rem; }
  table.stacked td { border: 0; padding: .25rem .5rem; text-align: left; white-space: normal; }
  table.stacked td::before { content: attr(data-label); display: block; font-size: .8rem; color: var(--muted); }
}
"""

#: The statuses in which a collective's admin may delete an expense (canDeleteExpense).
DELETABLE_BY_ADMIN = frozenset({"REJECTED", "SPAM", "DRAFT", "CANCELED"})

# processExpense actions and the webhook event each sends (server/constants/activities.ts).
EVENT_OF_ACTION = {
    "APPROVE": "approved",
    "REJECT": "rejected",
    "UNAPPROVE": "unapproved",
    "PAY": "paid",
    "MARK_AS_UNPAID": "unpaid",
    "MARK_AS_SPAM": "spam",
}
# The statuses each processExpense action is allowed from, and the verb of Open Collective's refusal
# (server/graphql/common/expenses.ts: canApprove, canReject, canUnapprove, canPayExpense, canMarkAsUnpaid,
# canMarkAsSpam).
PROCESS_RULES: dict[str, tuple[tuple[str, ...], str]] = {
    "APPROVE": (("PENDING", "REJECTED", "INCOMPLETE"), "approve"),
    "REJECT": (("PENDING", "UNVERIFIED", "INCOMPLETE"), "reject"),
    "UNAPPROVE": (("APPROVED", "ERROR", "INCOMPLETE"), "unapprove"),
    "PAY": (("APPROVED", "ERROR"), "pay"),
    "MARK_AS_UNPAID": (("PAID",), "mark as unpaid"),
    "MARK_AS_SPAM": (("REJECTED",), "mark as spam"),
}
# Activities whose webhook payload carries the expense (server/lib/webhooks.ts, `expenseActivities`); any other
# expense activity, such as `collective.expense.invite.drafted`, is delivered with `data: {}`.
EVENTS_WITH_EXPENSE_DATA = frozenset(
    {"created", "deleted", "updated", "rejected", "invite.declined", "approved", "reApprovalRequested",
     "unapproved", "paid", "unpaid", "processing", "error", "scheduledForPayment", "spam"}
)  # fmt: skip
TWO_FACTOR_MESSAGE = "This personal token is not pre-authorized for 2FA"
# The statuses the expenses collection query leaves out unless a status filter is given
# (server/graphql/v2/query/collection/ExpensesCollectionQuery.ts); DRAFT is shown to admins and authors.
HIDDEN_WITHOUT_STATUS_FILTER = frozenset({"DRAFT", "SPAM"})


@functools.cache
def load_schema() -> GraphQLSchema:
    """Open Collective's schema, built once per process (building it takes about a second)."""
    return build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))


class OCError(GraphQLError):
    """A resolver's refusal, shaped like Open Collective's: a GraphQL error with `extensions.code`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, extensions={"code": code})


class SandboxError(ValueError):
    """A sandbox-only action (the HTML page's buttons, `complete_invitation`) that is not possible now."""


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _random_id(prefix: str) -> str:
    alphabet = string.ascii_lowercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(8))


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------------------------
# State


@dataclass
class Account:
    """A person, a host organisation or a payee profile (collectives are `Collective`)."""

    slug: str
    name: str
    typename: str  # the GraphQL type: Individual, Host, Organization
    currency: str
    legacy_id: int
    public_id: str
    email: str | None = None


@dataclass
class Collective:
    slug: str
    name: str
    currency: str
    balance_minor: int
    expense_types: list[str]
    host_slug: str
    legacy_id: int
    public_id: str
    webhooks: list[str] = field(default_factory=list)


@dataclass
class User:
    """The person behind a personal token, and the accounts they administer.

    `two_factor`: the user has two-factor authentication; `preauthorized_2fa`: the token was made with "Advanced
    privileges". Open Collective refuses most expense mutations of a two-factor user's token that was not
    (server/lib/two-factor-authentication/lib.ts, `enforceForAccountsUserIsAdminOf`).
    """

    token: str
    slug: str
    administers: list[str]
    two_factor: bool = False
    preauthorized_2fa: bool = False


@dataclass
class Item:
    public_id: str
    description: str
    amount_minor: int
    url: str | None = None


@dataclass
class Expense:
    public_id: str
    legacy_id: int
    collective_slug: str
    type: str
    status: str
    description: str
    currency: str
    items: list[Item]
    created_by: str
    created_at: str
    payee_slug: str | None = None
    invitee: dict[str, Any] | None = None  # {name, email} of a payee invited by e-mail
    payout_method: dict[str, Any] | None = None
    long_description: str | None = None
    reference: str | None = None
    custom_data: Any = None
    tags: list[str] = field(default_factory=list)
    locked_fields: list[str] = field(default_factory=list)
    draft_key: str | None = None
    recipient_note: str | None = None
    paid_at: str | None = None
    approved_by: list[str] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)

    @property
    def amount_minor(self) -> int:
        return sum(item.amount_minor for item in self.items)


@dataclass(frozen=True)
class Viewer:
    """Who a request acts as: a token's user, nobody (anonymous), or the sandbox's host-admin controls."""

    slug: str | None
    administers: frozenset[str]
    everything: bool = False
    #: The token's user has 2FA and the token was not pre-authorised for it.
    lacks_2fa_preauthorization: bool = False

    def admin_of(self, slug: str | None) -> bool:
        return self.everything or (slug is not None and slug in self.administers)


ANONYMOUS = Viewer(None, frozenset())
HOST_CONTROLS = Viewer("sandbox-host-controls", frozenset(), everything=True)


@dataclass
class Failure:
    mode: str
    operation: str | None
    remaining: int
    delay: float | None


@dataclass(frozen=True)
class Limit:
    allowed: bool
    limit: int
    remaining: int
    reset_after: float

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(math.ceil(time.time() + self.reset_after)),
        }


class RateLimiter:
    """A fixed window per key, as Open Collective counts requests: `limit` calls per `window` seconds."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._windows: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> Limit:
        now = time.monotonic()
        with self._lock:
            start, count = self._windows.get(key, (now, 0))
            if now - start >= self.window:
                start, count = now, 0
            allowed = count < self.limit
            if allowed:
                count += 1
            self._windows[key] = (start, count)
        return Limit(allowed, self.limit, self.limit - count, start + self.window - now)


class Sandbox:
    """The sandbox's state and rules: collectives, tokens, expenses, limits, webhooks and injected failures.

    Every change happens under one lock and, with `state_file`, is written to that JSON file atomically, so the
    demo survives a restart. Times and ids are made here; the HTTP side is `SandboxApp`.
    """

    def __init__(
        self,
        *,
        state_file: Path | str | None = None,
        rate_limit_per_minute: int = 100,
        anonymous_rate_limit_per_minute: int = 10,
        invite_interval_seconds: float = 10.0,
        timeout_delay_seconds: float = 60.0,
        webhook_timeout_seconds: float = 5.0,
    ) -> None:
        self.state_file = Path(state_file) if state_file is not None else None
        self.token_limiter = RateLimiter(rate_limit_per_minute)
        self.anonymous_limiter = RateLimiter(anonymous_rate_limit_per_minute)
        self.invite_interval_seconds = invite_interval_seconds
        self.timeout_delay_seconds = timeout_delay_seconds
        self.webhook_timeout_seconds = webhook_timeout_seconds
        self.stopping = threading.Event()
        self._lock = threading.RLock()
        self._collectives: dict[str, Collective] = {}
        self._accounts: dict[str, Account] = {}
        self._users: dict[str, User] = {}
        self._expenses: dict[str, Expense] = {}
        self._next_legacy_id = 1001
        self._last_invite: dict[str, float] = {}
        self._failures: list[Failure] = []
        self._calls: Counter[str] = Counter()
        self._webhook_threads: list[threading.Thread] = []
        self.webhook_deliveries: list[dict[str, Any]] = []
        if self.state_file is not None and self.state_file.exists():
            self._load(self.state_file)

    # --- set-up ------------------------------------------------------------------------------------------------

    def add_collective(
        self,
        slug: str,
        *,
        admin_token: str,
        name: str | None = None,
        currency: str = "EUR",
        balance_minor: int = 0,
        expense_types: Iterable[str] = DEFAULT_EXPENSE_TYPES,
        admin_slug: str | None = None,
        admin_name: str | None = None,
        payee_accounts: Iterable[str] = (),
        webhooks: Iterable[str] = (),
        two_factor: bool = False,
        preauthorized_2fa: bool = False,
        other_accounts: Iterable[str] = (),
    ) -> None:
        """Add a collective, its host and the admin token's user (admin of both), unless the collective exists.

        When the collective is already there (loaded from the state file), its balance and expenses are kept; the
        token, payee accounts and webhooks are added to it. `two_factor` and `preauthorized_2fa` describe the token's
        user and token (see `User`). `other_accounts` are individuals' accounts that somebody else administers: a
        payee there gets an invite draft, which its admins complete (the host page plays them).
        """
        with self._lock:
            if slug not in self._collectives:
                host = self._add_account(f"{slug}-host", f"{name or slug} (host)", "Host", currency)
                self._collectives[slug] = Collective(
                    slug=slug,
                    name=name or slug,
                    currency=currency,
                    balance_minor=balance_minor,
                    expense_types=[t.strip().upper() for t in expense_types if t.strip()],
                    host_slug=host.slug,
                    legacy_id=self._legacy_id(),
                    public_id=_random_id("acc_"),
                )
            collective = self._collectives[slug]
            user_slug = admin_slug or f"{slug}-admin"
            if user_slug not in self._accounts:
                self._add_account(user_slug, admin_name or f"Admin of {collective.name}", "Individual", currency)
            user = self._users.setdefault(admin_token, User(admin_token, user_slug, [user_slug]))
            user.two_factor, user.preauthorized_2fa = two_factor, preauthorized_2fa
            for administered in (slug, collective.host_slug, *payee_accounts):
                if administered not in self._accounts and administered not in self._collectives:
                    self._add_account(administered, administered, "Individual", currency)
                if administered not in user.administers:
                    user.administers.append(administered)
            for url in webhooks:
                self._check_webhook_url(url)
                if url not in collective.webhooks:
                    collective.webhooks.append(url)
            for slug in other_accounts:
                if slug not in self._accounts and slug not in self._collectives:
                    self._add_account(slug, slug, "Individual", currency)
            self._changed()

    def add_account(
        self, slug: str, *, name: str | None = None, token: str | None = None, currency: str = "EUR"
    ) -> None:
        """An individual's account that some other person administers (with `token`, their own personal token): a
        payee that the collective's token does not administer. Nothing happens if the slug exists."""
        with self._lock:
            if slug not in self._accounts and slug not in self._collectives:
                self._add_account(slug, name or slug, "Individual", currency)
            if token is not None:
                user = self._users.setdefault(token, User(token, slug, [slug]))
                if slug not in user.administers:
                    user.administers.append(slug)
            self._changed()

    def add_webhook(self, collective_slug: str, url: str) -> None:
        """Deliver this collective's expense events to `url` (loopback only: the sandbox talks to nothing else)."""
        self._check_webhook_url(url)
        with self._lock:
            webhooks = self._collectives[collective_slug].webhooks
            if url not in webhooks:
                webhooks.append(url)
            self._changed()

    # --- inspection (copies, so a test cannot change state behind the lock) --------------------------------------

    @property
    def calls(self) -> Counter[str]:
        """How many GraphQL requests named each root field (counted once valid, injected failures included)."""
        with self._lock:
            return Counter(self._calls)

    def expenses(self, collective_slug: str | None = None) -> list[Expense]:
        with self._lock:
            return [
                copy.deepcopy(e)
                for e in self._expenses.values()
                if collective_slug is None or e.collective_slug == collective_slug
            ]

    def expense(self, expense_id: str) -> Expense:
        """:raises KeyError: no expense has that public id."""
        with self._lock:
            return copy.deepcopy(self._expenses[expense_id])

    def balance_minor(self, collective_slug: str) -> int:
        with self._lock:
            return self._collectives[collective_slug].balance_minor

    def collectives(self) -> list[Collective]:
        with self._lock:
            return [copy.deepcopy(c) for c in self._collectives.values()]

    # --- failure injection ---------------------------------------------------------------------------------------

    def fail_next(self, mode: str, *, operation: str | None = None, count: int = 1, delay: float | None = None) -> None:
        """Make the next `count` requests (naming root field `operation`, if given) fail in this way.

        `delay` is the sleep for "timeout" (default `timeout_delay_seconds`) and the Retry-After for "rate_limit".

        :raises ValueError: an unknown mode.
        """
        if mode not in FAILURE_MODES:
            raise ValueError(f"unknown failure mode {mode!r}; one of {sorted(FAILURE_MODES)}")
        with self._lock:
            self._failures.append(Failure(mode, operation, count, delay))

    def take_failure(self, root_fields: list[str]) -> Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.operation is None or failure.operation in root_fields:
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    return failure
        return None

    def count_call(self, root_fields: list[str]) -> None:
        with self._lock:
            self._calls.update(root_fields)

    # --- authentication ------------------------------------------------------------------------------------------

    def viewer_for_token(self, token: str | None) -> Viewer | None:
        """The viewer of a request: anonymous without a token, None for a token the sandbox does not know."""
        if not token:
            return ANONYMOUS
        with self._lock:
            user = self._users.get(token)
            if user is None:
                return None
            return Viewer(
                user.slug,
                frozenset(user.administers),
                lacks_2fa_preauthorization=user.two_factor and not user.preauthorized_2fa,
            )

    # --- sandbox-only actions (on Open Collective a person does these in a browser) ------------------------------

    def complete_invitation(self, expense_id: str, *, payout_method: dict[str, Any] | None = None) -> Expense:
        """The invited payee adds payout details and submits: DRAFT → PENDING, under a new account for them.

        :raises SandboxError: no such expense, or it is not a draft.
        """
        with self._lock:
            expense = self._expenses.get(expense_id)
            if expense is None or expense.status != "DRAFT":
                raise SandboxError(f"{expense_id} is not a draft waiting for its payee")
            invitee = expense.invitee or {}
            if expense.payee_slug is None:
                name = str(invitee.get("name") or "Invited payee")
                base = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-") or "payee"
                slug = f"{base}-{secrets.token_hex(3)}"
                self._add_account(slug, name, "Individual", expense.currency, email=invitee.get("email"))
                expense.payee_slug = slug
            expense.payout_method = expense.payout_method or _payout_method(
                payout_method or {"type": "OTHER", "data": {"content": "Added by the payee in the sandbox"}}
            )
            self._set_status(expense, "PENDING", "created", actor=expense.payee_slug)
            return copy.deepcopy(expense)

    def process_as_host(self, expense_id: str, action: str) -> Expense:
        """A processExpense action (APPROVE, REJECT, UNAPPROVE, PAY, MARK_AS_UNPAID, MARK_AS_SPAM) as the host's
        admin (the HTML page's buttons).

        :raises SandboxError: the rules refuse it (the message is Open Collective's).
        """
        try:
            with self._lock:
                return copy.deepcopy(self._process(HOST_CONTROLS, {"id": expense_id}, action))
        except OCError as error:
            raise SandboxError(error.message) from error

    def delete_expense(self, expense_id: str) -> None:
        """The collective's admin deletes an expense on the site. Open Collective lets an admin delete only a
        rejected, spam, draft or cancelled expense (server/graphql/common/expenses.ts, canDeleteExpense; a draft or
        pending one also by its owner, which Fund Circle never does): an expense waiting for approval, approved or
        paid is rejected first, and a paid one marked unpaid before that.

        :raises SandboxError: no such expense, or its status does not allow it (the message is Open Collective's).
        """
        with self._lock:
            expense = self._expenses.get(expense_id)
            if expense is None:
                raise SandboxError(f"{expense_id} cannot be deleted: no such expense")
            if expense.status not in DELETABLE_BY_ADMIN:
                raise SandboxError(f"Can not delete expense in current status ({expense.status})")
            del self._expenses[expense_id]
            self._changed()

    # --- GraphQL ---------------------------------------------------------------------------------------------------

    def execute(
        self, document: DocumentNode, variables: dict[str, Any] | None, operation_name: str | None, viewer: Viewer
    ) -> ExecutionResult:
        """Execute a validated document; resolvers run under the lock, so each request sees and leaves a whole state."""
        root: dict[str, Callable[..., Any]] = {
            "me": lambda info, **_: self._me(viewer),
            "loggedInAccount": lambda info, **_: self._me(viewer),
            "account": lambda info, **args: self._account(viewer, args),
            "collective": lambda info, **args: self._account(viewer, args),
            "host": lambda info, **args: self._account(viewer, args),
            "individual": lambda info, **args: self._account(viewer, args),
            "expense": lambda info, **args: self._expense_query(viewer, args),
            "expenses": lambda info, **args: self._expenses_query(viewer, args),
            "createExpense": lambda info, **args: self._create_expense(viewer, args),
            "draftExpenseAndInviteUser": lambda info, **args: self._draft_expense(viewer, args),
            "processExpense": lambda info, **args: self._expense_view(
                self._process(viewer, args["expense"], args["action"], args.get("paymentParams")), viewer
            ),
        }
        with self._lock:
            result = execute(
                load_schema(),
                document,
                root_value=root,
                variable_values=variables,
                operation_name=operation_name,
                field_resolver=_resolve_field,
            )
        assert isinstance(result, ExecutionResult), "resolvers are synchronous"  # nosec B101  # type narrowing
        return result

    def _me(self, viewer: Viewer) -> dict[str, Any] | None:
        if viewer.slug is None or viewer.slug not in self._accounts:
            return None
        return self._account_view(viewer.slug, viewer)

    def _account(self, viewer: Viewer, args: dict[str, Any]) -> dict[str, Any] | None:
        slug = self._find_account_slug(args)
        if slug is None:
            if args.get("throwIfMissing", True):
                raise OCError("NotFound", "Account Not Found")
            return None
        return self._account_view(slug, viewer)

    def _expense_query(self, viewer: Viewer, args: dict[str, Any]) -> dict[str, Any] | None:
        reference = args.get("expense") or ({"id": args["id"]} if args.get("id") else None)
        expense = None
        if reference:
            expense = self._find_expense(reference)
        elif args.get("draftKey"):
            expense = next((e for e in self._expenses.values() if e.draft_key == args["draftKey"]), None)
        return self._expense_view(expense, viewer) if expense else None

    def _expenses_query(self, viewer: Viewer, args: dict[str, Any]) -> dict[str, Any]:
        if viewer.slug is None:
            raise OCError("Unauthorized", "You need to be logged in to search expenses")
        account = args.get("account")
        collective = self._collective_of(account) if account else None
        custom_data = args.get("customData")
        if custom_data is not None:
            if collective is None or not self._admin_of_collective(viewer, collective):
                raise OCError("Forbidden", "You need to be an admin of the account or its host to search by customData")
            if not isinstance(custom_data, dict):
                raise OCError("BadRequest", "customData must be a JSON object")
        statuses = set(args.get("status") or [])
        types = set(args.get("types") or []) | ({args["type"]} if args.get("type") else set())
        sees_drafts = collective is not None and self._admin_of_collective(viewer, collective)

        def shown(expense: Expense) -> bool:
            if statuses:
                return expense.status in statuses
            # server/graphql/v2/query/collection/ExpensesCollectionQuery.ts: without a status filter, SPAM is
            # never returned and DRAFT only to admins of the accounts (or the draft's author). Soft-deleted
            # expenses are never returned (the sandbox removes them).
            if expense.status == "SPAM":
                return False
            return expense.status != "DRAFT" or sees_drafts or expense.created_by == viewer.slug

        found = [
            e
            for e in sorted(self._expenses.values(), key=lambda e: e.legacy_id, reverse=True)
            if (collective is None or e.collective_slug == collective.slug)
            and shown(e)
            and (not types or e.type in types)
            and (custom_data is None or _contains(e.custom_data, custom_data))
        ]
        offset, limit = max(args.get("offset", 0), 0), max(args.get("limit", 10), 0)
        return {
            "offset": offset,
            "limit": limit,
            "totalCount": len(found),
            "nodes": [self._expense_view(e, viewer) for e in found[offset : offset + limit]],
            "payees": {"offset": 0, "limit": limit, "totalCount": 0, "nodes": []},
        }

    def _create_expense(self, viewer: Viewer, args: dict[str, Any]) -> dict[str, Any]:
        if viewer.slug is None:
            raise OCError("Unauthorized", "You need to be logged in to create an expense")
        data = args["expense"]
        payee_slug = self._find_account_slug(data["payee"])
        if payee_slug is None:
            raise OCError("NotFound", "Account Not Found")
        collective = self._collective_for_new_expense(args["account"])
        # server/graphql/v2/mutation/ExpenseMutations.ts (createExpense): 2FA is enforced for the payee, the
        # collective and its host, before anything else is checked.
        self._enforce_2fa(viewer, [payee_slug, collective.slug, collective.host_slug])
        currency = data.get("currency") or collective.currency
        self._check_type_and_currency(collective, data["type"], currency)
        # server/graphql/common/expenses.ts (checkFromCollective): the token's user must administer the payee
        # (vendors of the host aside, which the sandbox does not model); draftExpenseAndInviteUser is the way to
        # name a payee somebody else administers.
        if not viewer.admin_of(payee_slug):
            raise OCError("ValidationFailed", "You must be an admin of the account to submit an expense in its name")
        if not data["description"].strip():
            raise OCError("ValidationFailed", "The expense needs a description")
        items = self._items(data.get("items") or [], currency, expense_type=data["type"])
        expense = self._new_expense(viewer, collective, data, currency, items, status="PENDING")
        expense.payee_slug = payee_slug
        expense.payout_method = _payout_method(data["payoutMethod"])
        self._set_status(expense, "PENDING", "created", actor=viewer.slug)
        return self._expense_view(expense, viewer)

    def _draft_expense(self, viewer: Viewer, args: dict[str, Any]) -> dict[str, Any]:
        if viewer.slug is None:
            raise OCError("Unauthorized", "You need to be logged in to draft an expense")
        # server/graphql/v2/mutation/ExpenseMutations.ts (draftExpenseAndInviteUser): `RateLimit("draft_expense_"
        # + user, 1, 10, true).registerCall()` before anything else is checked, so a refused draft still counts:
        # one call per user per 10 seconds. No 2FA is enforced on this mutation.
        now = time.monotonic()
        last = self._last_invite.get(viewer.slug)
        self._last_invite[viewer.slug] = now
        if last is not None and now - last < self.invite_interval_seconds:
            raise OCError("RateLimitExceeded", "Rate limit exceeded")
        collective = self._collective_for_new_expense(args["account"])
        data = args["expense"]
        currency = data.get("currency") or collective.currency
        self._check_type_and_currency(collective, data["type"], currency)
        payee = data["payee"]
        # server/graphql/v2/mutation/ExpenseMutations.ts: the invitee is an existing account (`slug`, `legacyId`),
        # whose admins complete the draft, or a person named by e-mail.
        named_account = bool(payee.get("slug") or payee.get("legacyId") is not None)
        payee_slug = self._find_account_slug(payee) if named_account else None
        if named_account and payee_slug is None:
            raise OCError("NotFound", "Account Not Found")
        if payee_slug is None and not payee.get("email"):
            raise OCError("ValidationFailed", "An invited payee needs an email address")
        items = self._items([_item_input(i) for i in data.get("items") or []], currency)
        expense = self._new_expense(viewer, collective, data, currency, items, status="DRAFT")
        expense.payee_slug = payee_slug
        expense.invitee = {k: payee.get(k) for k in ("name", "email", "isInvite")}
        expense.payout_method = _payout_method(data["payoutMethod"]) if data.get("payoutMethod") else None
        expense.locked_fields = [f for f in args.get("lockedFields") or [] if f]
        expense.draft_key = secrets.token_urlsafe(16)
        expense.recipient_note = data.get("recipientNote")
        self._set_status(expense, "DRAFT", "invite.drafted", actor=viewer.slug)
        return self._expense_view(expense, viewer)

    def _process(
        self,
        viewer: Viewer,
        reference: dict[str, Any],
        action: str,
        payment_params: dict[str, Any] | None = None,
    ) -> Expense:
        """processExpense, with the status rules of server/graphql/common/expenses.ts: `canApprove` (from PENDING,
        REJECTED or INCOMPLETE; INCOMPLETE by host admins only), `canReject` (PENDING, UNVERIFIED, INCOMPLETE),
        `canUnapprove` (APPROVED, ERROR, INCOMPLETE), `canPayExpense` (APPROVED or ERROR, host admins),
        `canMarkAsUnpaid` (PAID, host admins; back to APPROVED, INCOMPLETE or ERROR, and the money returns) and
        `canMarkAsSpam` (REJECTED). So REJECTED and PAID are not final there."""
        if viewer.slug is None:
            raise OCError("Unauthorized", "You need to be logged in to process an expense")
        expense = self._find_expense(reference)
        if expense is None:
            raise OCError("NotFound", "Expense not found")
        collective = self._collectives[expense.collective_slug]
        # server/graphql/v2/mutation/ExpenseMutations.ts (processExpense): 2FA for every action but PAY.
        if action != "PAY":
            self._enforce_2fa(viewer, [collective.host_slug, collective.slug])
        status = expense.status
        host_admin = viewer.admin_of(collective.host_slug)
        if action not in PROCESS_RULES:
            raise OCError("BadRequest", f"The sandbox does not model the {action} action")
        allowed_from, verb = PROCESS_RULES[action]
        if action == "PAY" and status == "PAID":
            raise OCError("Forbidden", "Expense has already been paid")
        if status not in allowed_from:
            message = (
                "Can not pay expense in current status"
                if action == "PAY"
                else (f"Can not {verb} expense in current status ({status})")
            )
            raise OCError("Forbidden", message)
        if action in ("PAY", "MARK_AS_UNPAID") or status == "INCOMPLETE":
            if not host_admin:
                raise OCError("Forbidden", "You are authenticated but forbidden to perform this action")
        elif not self._admin_of_collective(viewer, collective):
            raise OCError("Forbidden", "You are authenticated but forbidden to perform this action")
        if action == "PAY":
            if expense.currency == collective.currency and collective.balance_minor < expense.amount_minor:
                raise OCError(
                    "BadRequest",
                    "Collective does not have enough funds to pay this expense. "
                    f"Current balance: {_money(collective.balance_minor, collective.currency)}, "
                    f"Expense amount: {_money(expense.amount_minor, expense.currency)}",
                )
            collective.balance_minor -= expense.amount_minor
            expense.paid_at = _now_iso()
            new_status = "PAID"
        elif action == "MARK_AS_UNPAID":
            # The payment's transaction is refunded: the money is back in the collective.
            new_status = str((payment_params or {}).get("markAsUnPaidStatus") or "APPROVED")
            collective.balance_minor += expense.amount_minor
            expense.paid_at = None
        else:
            if action == "APPROVE":
                expense.approved_by.append(viewer.slug)
            new_status = {"APPROVE": "APPROVED", "REJECT": "REJECTED", "UNAPPROVE": "PENDING", "MARK_AS_SPAM": "SPAM"}[
                action
            ]
        self._set_status(expense, new_status, EVENT_OF_ACTION[action], actor=viewer.slug)
        return expense

    def _enforce_2fa(self, viewer: Viewer, accounts: Iterable[str]) -> None:
        """server/lib/two-factor-authentication/lib.ts: a token of a user with 2FA who administers one of `accounts`
        must be pre-authorised ("Advanced privileges"). It throws a plain `Error`, which Apollo answers as
        INTERNAL_SERVER_ERROR with HTTP 200: the message is all there is to recognise it by."""
        if viewer.lacks_2fa_preauthorization and any(viewer.admin_of(slug) for slug in accounts):
            raise OCError("INTERNAL_SERVER_ERROR", TWO_FACTOR_MESSAGE)

    # --- rules -----------------------------------------------------------------------------------------------------

    def _collective_for_new_expense(self, reference: dict[str, Any]) -> Collective:
        collective = self._collective_of(reference)
        if collective is None:
            raise OCError("NotFound", "Account not found")
        return collective

    def _check_type_and_currency(self, collective: Collective, expense_type: str, currency: str) -> None:
        if expense_type not in collective.expense_types:
            raise OCError("ValidationFailed", f"Expenses of type {expense_type} are not allowed by {collective.name}")
        if currency != collective.currency:
            # Open Collective converts between currencies; the sandbox keeps one currency per collective.
            raise OCError("ValidationFailed", f"The sandbox accepts expenses in {collective.currency} only")

    def _items(self, items: list[dict[str, Any]], currency: str, *, expense_type: str | None = None) -> list[Item]:
        if not items:
            raise OCError("ValidationFailed", "Your expense needs to have at least one item")
        if len(items) > MAX_ITEMS:
            raise OCError("ValidationFailed", f"Expenses cannot have more than {MAX_ITEMS} items")
        result = []
        for item in items:
            amount = item.get("amountV2") or {}
            value = amount.get("valueInCents", item.get("amount"))
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise OCError("ValidationFailed", "Each item needs an amount in cents (amountV2.valueInCents >= 0)")
            if (amount.get("currency") or currency) != currency:
                raise OCError("ValidationFailed", "Item currency must match expense currency")
            description = item.get("description")
            if not isinstance(description, str) or not description.strip():
                raise OCError("ValidationFailed", "Each item needs a description")
            result.append(Item(_random_id("ei_"), description, value, item.get("url")))
        if sum(i.amount_minor for i in result) <= 0:
            raise OCError("ValidationFailed", "The sum of all items must be above 0")
        # server/graphql/common/expenses.ts (checkExpenseItems): a RECEIPT needs a file on every item, an INVOICE's
        # items take none.
        if expense_type == "RECEIPT" and any(not item.get("url") for item in items):
            raise OCError("ValidationFailed", "Some items are missing a file")
        if expense_type == "INVOICE" and any(item.get("url") for item in items):
            raise OCError(
                "ValidationFailed",
                "Invoice items cannot have a file attached. To attach documentation. please use `attachedFiles` "
                "on the expense instead.",
            )
        return result

    def _new_expense(
        self,
        viewer: Viewer,
        collective: Collective,
        data: dict[str, Any],
        currency: str,
        items: list[Item],
        status: str,
    ) -> Expense:
        custom_data = data.get("customData")
        if custom_data is not None and len(json.dumps(custom_data).encode()) > MAX_CUSTOM_DATA_BYTES:
            raise OCError("ValidationFailed", "customData cannot be larger than 10kB")
        public_id = _random_id("ex_")
        while public_id in self._expenses:
            public_id = _random_id("ex_")
        expense = Expense(
            public_id=public_id,
            legacy_id=self._legacy_id(),
            collective_slug=collective.slug,
            type=data["type"],
            status=status,
            description=str(data.get("description") or ""),
            currency=currency,
            items=items,
            created_by=viewer.slug or "",
            created_at=_now_iso(),
            long_description=data.get("longDescription"),
            reference=data.get("reference"),
            custom_data=custom_data,
            tags=[t for t in data.get("tags") or [] if t],
        )
        self._expenses[public_id] = expense
        return expense

    def _set_status(self, expense: Expense, status: str, event: str, *, actor: str | None) -> None:
        expense.status = status
        expense.history.append({"at": _now_iso(), "status": status, "event": event, "by": actor})
        self._changed()
        self._send_webhooks(expense, event)

    def _admin_of_collective(self, viewer: Viewer, collective: Collective) -> bool:
        return viewer.admin_of(collective.slug) or viewer.admin_of(collective.host_slug)

    # --- look-ups --------------------------------------------------------------------------------------------------

    def _find_account_slug(self, reference: dict[str, Any]) -> str | None:
        slug, public_id, legacy_id = reference.get("slug"), reference.get("id"), reference.get("legacyId")
        candidates: list[Collective | Account] = [*self._collectives.values(), *self._accounts.values()]
        for candidate in candidates:
            if (
                (slug and candidate.slug == slug)
                or (public_id and candidate.public_id == public_id)
                or (legacy_id is not None and candidate.legacy_id == legacy_id)
            ):
                return candidate.slug
        return None

    def _collective_of(self, reference: dict[str, Any]) -> Collective | None:
        slug = self._find_account_slug(reference)
        return self._collectives.get(slug) if slug else None

    def _find_expense(self, reference: dict[str, Any]) -> Expense | None:
        if reference.get("id"):
            return self._expenses.get(reference["id"])
        if reference.get("legacyId") is not None:
            return next((e for e in self._expenses.values() if e.legacy_id == reference["legacyId"]), None)
        raise OCError("BadRequest", "Please provide an id or a legacyId")

    # --- GraphQL views: plain dicts that graphql-core's default resolver reads ---------------------------------------

    def _account_view(self, slug: str, viewer: Viewer) -> dict[str, Any]:
        collective = self._collectives.get(slug)
        if collective is not None:
            return self._collective_view(collective, viewer)
        account = self._accounts[slug]
        is_host = account.typename == "Host"
        view = _account_base(
            account.slug, account.name, account.typename, account.currency, account.legacy_id, account.public_id
        )
        view.update(
            type="ORGANIZATION" if is_host else "INDIVIDUAL",
            isAdmin=viewer.admin_of(slug),
            isHost=is_host,
            email=account.email if viewer.admin_of(slug) else None,
            hasTwoFactorAuth=any(u.two_factor for u in self._users.values() if u.slug == slug),
            supportedExpenseTypes=["INVOICE", "RECEIPT"],
            stats=_stats(0, account.currency),
        )
        return view

    def _collective_view(self, collective: Collective, viewer: Viewer) -> dict[str, Any]:
        view = _account_base(
            collective.slug,
            collective.name,
            "Collective",
            collective.currency,
            collective.legacy_id,
            collective.public_id,
        )
        view.update(
            type="COLLECTIVE",
            isAdmin=viewer.admin_of(collective.slug),
            isApproved=True,
            supportedExpenseTypes=list(collective.expense_types),
            stats=_stats(collective.balance_minor, collective.currency),
            host=self._account_view(collective.host_slug, viewer),
            platformFeePercent=0.0,
            hostFeePercent=0.0,
        )
        return view

    def _expense_view(self, expense: Expense, viewer: Viewer) -> dict[str, Any]:
        collective = self._collectives[expense.collective_slug]
        is_admin = self._admin_of_collective(viewer, collective)
        # Open Collective shows customData, drafts and payout details only to those who manage the expense.
        may_see = is_admin or viewer.admin_of(expense.payee_slug) or viewer.slug == expense.created_by
        amount = _amount(expense.amount_minor, expense.currency)
        payee = self._account_view(expense.payee_slug, viewer) if expense.payee_slug else self._invitee_view(expense)
        return {
            "__typename": "Expense",
            "id": expense.public_id,
            "publicId": expense.public_id,
            "legacyId": expense.legacy_id,
            "description": expense.description,
            "longDescription": expense.long_description,
            "reference": expense.reference,
            "amount": expense.amount_minor,
            "amountV2": amount,
            "amountInAccountCurrency": amount,
            "accountCurrencyFxRate": 1.0,
            "taxes": [],
            "createdAt": expense.created_at,
            "incurredAt": expense.created_at,
            "currency": expense.currency,
            "type": expense.type,
            "status": expense.status,
            "approvedBy": [self._account_view(s, viewer) for s in expense.approved_by if s in self._accounts],
            "paidBy": self._account_view(collective.host_slug, viewer) if expense.paid_at else None,
            "paidAt": expense.paid_at,
            "onHold": False,
            "account": self._collective_view(collective, viewer),
            "payee": payee,
            "createdByAccount": self._account_view(expense.created_by, viewer)
            if expense.created_by in self._accounts
            else None,
            "host": self._account_view(collective.host_slug, viewer),
            "payoutMethod": expense.payout_method if may_see else None,
            "items": [
                {
                    "id": item.public_id,
                    "publicId": item.public_id,
                    "amount": item.amount_minor,
                    "amountV2": _amount(item.amount_minor, expense.currency),
                    "createdAt": expense.created_at,
                    "updatedAt": expense.created_at,
                    "incurredAt": expense.created_at,
                    "description": item.description,
                    "url": item.url,
                }
                for item in expense.items
            ],
            "attachedFiles": [],
            "feesPayer": "COLLECTIVE",
            "permissions": self._permissions_view(expense, viewer, is_admin),
            "activities": [],
            "tags": list(expense.tags),
            "draft": self._draft_view(expense) if may_see and expense.status == "DRAFT" else None,
            "draftKey": expense.draft_key if may_see else None,
            "customData": copy.deepcopy(expense.custom_data) if may_see else None,
            "lockedFields": list(expense.locked_fields),
        }

    def _invitee_view(self, expense: Expense) -> dict[str, Any]:
        # Until the invited payee submits, there is no account of theirs; show who was invited.
        invitee = expense.invitee or {}
        name = str(invitee.get("name") or invitee.get("email") or "Invited payee")
        view = _account_base(f"invited-{expense.public_id}", name, "Individual", expense.currency, 0, "acc_invited")
        view.update(type="INDIVIDUAL", isAdmin=False, supportedExpenseTypes=[], stats=_stats(0, expense.currency))
        return view

    def _draft_view(self, expense: Expense) -> dict[str, Any]:
        return {
            "payee": dict(expense.invitee or {}),
            "recipientNote": expense.recipient_note,
            "items": [{"description": i.description, "amount": i.amount_minor} for i in expense.items],
        }

    def _permissions_view(self, expense: Expense, viewer: Viewer, is_admin: bool) -> dict[str, Any]:
        collective = self._collectives[expense.collective_slug]
        host_admin = viewer.admin_of(collective.host_slug)
        author = viewer.slug is not None and viewer.slug == expense.created_by
        status = expense.status
        granted = {
            "canEdit": (author or is_admin) and status in ("DRAFT", "PENDING", "INCOMPLETE"),
            "canDelete": (author or is_admin) and status in ("DRAFT", "REJECTED", "SPAM", "CANCELED"),
            "canApprove": (host_admin if status == "INCOMPLETE" else is_admin)
            and status in PROCESS_RULES["APPROVE"][0],
            "canUnapprove": (host_admin if status == "INCOMPLETE" else is_admin)
            and status in PROCESS_RULES["UNAPPROVE"][0],
            "canReject": is_admin and status in PROCESS_RULES["REJECT"][0],
            "canPay": host_admin and status in PROCESS_RULES["PAY"][0],
            "canMarkAsUnpaid": host_admin and status in PROCESS_RULES["MARK_AS_UNPAID"][0],
            "canMarkAsSpam": is_admin and status in PROCESS_RULES["MARK_AS_SPAM"][0],
            "canComment": viewer.slug is not None,
        }
        view: dict[str, Any] = {"id": f"{expense.public_id}-permissions", "publicId": f"{expense.public_id}-p"}
        object_type = load_schema().type_map["ExpensePermissions"]
        assert isinstance(object_type, GraphQLObjectType)  # nosec B101  # type narrowing
        for name in object_type.fields:
            if name.startswith("can"):
                view[name] = bool(granted.get(name, False))
        for name in object_type.fields:
            if name not in view:
                allowed = bool(granted.get("can" + name[0].upper() + name[1:], False))
                view[name] = {"allowed": allowed, "reason": None}
        return view

    # --- persistence and webhooks ------------------------------------------------------------------------------------

    def _legacy_id(self) -> int:
        self._next_legacy_id += 1
        return self._next_legacy_id - 1

    def _add_account(self, slug: str, name: str, typename: str, currency: str, *, email: str | None = None) -> Account:
        account = Account(slug, name, typename, currency, self._legacy_id(), _random_id("acc_"), email)
        self._accounts[slug] = account
        return account

    def _changed(self) -> None:
        """Write the whole state to the state file, atomically: a crash leaves the old file or the new one."""
        if self.state_file is None:
            return
        state = {
            "version": 1,
            "next_legacy_id": self._next_legacy_id,
            "collectives": [asdict(c) for c in self._collectives.values()],
            "accounts": [asdict(a) for a in self._accounts.values()],
            "users": [asdict(u) for u in self._users.values()],
            "expenses": [asdict(e) for e in self._expenses.values()],
        }
        directory = self.state_file.parent
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, prefix=f".{self.state_file.name}.", suffix=".tmp")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as out:
                json.dump(state, out, indent=1, sort_keys=True)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, self.state_file)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def _load(self, path: Path) -> None:
        state = json.loads(path.read_text(encoding="utf-8"))
        self._next_legacy_id = state["next_legacy_id"]
        self._collectives = {c["slug"]: Collective(**c) for c in state["collectives"]}
        self._accounts = {a["slug"]: Account(**a) for a in state["accounts"]}
        self._users = {u["token"]: User(**u) for u in state["users"]}
        self._expenses = {}
        for data in state["expenses"]:
            expense = Expense(**{**data, "items": [Item(**i) for i in data["items"]]})
            self._expenses[expense.public_id] = expense

    @staticmethod
    def _check_webhook_url(url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or not is_loopback(parts.hostname):
            raise ValueError(f"webhook URLs must be http(s) on a loopback address, not {url!r}")

    def _send_webhooks(self, expense: Expense, event: str) -> None:
        """Deliver the activity as server/lib/webhooks.ts (`sanitizeActivityForWebhookPayload`) shapes it: the
        activity's `createdAt`, `id`, `type` and `CollectiveId`, and for the expense activities `data` with the
        expense's `idV2` (its GraphQL id), `id` (the integer database id), `description`, `amount`, `currency` and
        `publicId`, and the two accounts; every other activity (e.g. `invite.drafted`) has `data: {}`."""
        collective = self._collectives[expense.collective_slug]
        if not collective.webhooks:
            return
        data: dict[str, Any] = {}
        if event in EVENTS_WITH_EXPENSE_DATA:
            data = {
                "expense": {
                    "idV2": expense.public_id,
                    "id": expense.legacy_id,
                    "description": expense.description,
                    "amount": expense.amount_minor,
                    "currency": expense.currency,
                    "publicId": expense.public_id,
                },
                "fromCollective": self._webhook_account(expense.payee_slug),
                "collective": self._webhook_account(collective.slug),
            }
        payload = {
            "createdAt": _now_iso(),
            "id": self._legacy_id(),
            "type": f"collective.expense.{event}",
            "CollectiveId": collective.legacy_id,
            "data": data,
        }
        for url in collective.webhooks:
            # One POST in the background, no retry, failures dropped: what Open Collective does.
            thread = threading.Thread(target=self._deliver, args=(url, payload), name="oc-sandbox-webhook", daemon=True)
            self._webhook_threads = [t for t in self._webhook_threads if t.is_alive()] + [thread]
            thread.start()

    def _webhook_account(self, slug: str | None) -> dict[str, Any] | None:
        account: Collective | Account | None = (
            (self._collectives.get(slug) or self._accounts.get(slug)) if slug else None
        )
        if account is None:
            return None
        kind = "COLLECTIVE" if isinstance(account, Collective) else account.typename.upper()
        return {"idV2": account.public_id, "publicId": account.public_id, "id": account.legacy_id, "type": kind,
                "slug": account.slug, "name": account.name}  # fmt: skip

    def _deliver(self, url: str, payload: dict[str, Any]) -> None:
        expense = payload["data"].get("expense") or {}
        outcome: dict[str, Any] = {"url": url, "type": payload["type"], "expense": expense.get("idV2")}
        try:
            with requests.post(url, json=payload, timeout=self.webhook_timeout_seconds) as response:
                outcome["status"] = response.status_code
        except requests.RequestException as error:
            outcome["error"] = type(error).__name__
        with self._lock:
            self.webhook_deliveries.append(outcome)

    def wait_for_webhooks(self, timeout: float = 5.0) -> None:
        """Wait until the deliveries started so far are done (tests, and a clean stop)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            threads = list(self._webhook_threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))


def _resolve_field(source: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
    """graphql-core's default resolver, except that a root field the sandbox does not model says so."""
    if info.path.prev is None and isinstance(source, dict) and info.field_name not in source:
        raise OCError("BadRequest", f"The Open Collective sandbox does not model {info.field_name}")
    return default_field_resolver(source, info, **args)


def _contains(data: Any, wanted: dict[str, Any]) -> bool:
    """An expense matches a customData search when every key of the search has an equal value in its customData."""
    return isinstance(data, dict) and all(key in data and data[key] == value for key, value in wanted.items())


def _item_input(raw: Any) -> dict[str, Any]:
    # draftExpenseAndInviteUser takes its items as untyped JSON; anything that is not an object is refused.
    if not isinstance(raw, dict):
        raise OCError("ValidationFailed", "Each item must be an object with a description and amountV2")
    return raw


def _payout_method(data: dict[str, Any]) -> dict[str, Any]:
    public_id = data.get("id") or data.get("publicId") or _random_id("pm_")
    now = _now_iso()
    return {
        "id": public_id,
        "publicId": public_id,
        "type": data.get("type") or "OTHER",
        "name": data.get("name"),
        "data": data.get("data"),
        "currency": data.get("currency"),
        "isSaved": bool(data.get("isSaved")),
        "createdAt": now,
        "updatedAt": now,
    }


def _amount(minor: int, currency: str) -> dict[str, Any]:
    return {"valueInCents": minor, "value": minor / 100, "currency": currency}


def _money(minor: int, currency: str) -> str:
    return f"{minor / 100:,.2f} {currency}"


def _stats(balance_minor: int, currency: str) -> dict[str, Any]:
    amount = _amount(balance_minor, currency)
    return {"id": None, "publicId": "stats", "balance": amount, "balanceWithBlockedFunds": amount}


def _account_base(slug: str, name: str, typename: str, currency: str, legacy_id: int, public_id: str) -> dict[str, Any]:
    """The fields every Account has that the sandbox can answer truthfully; the rest resolve to null."""
    return {
        "__typename": typename,
        "id": public_id,
        "publicId": public_id,
        "legacyId": legacy_id,
        "slug": slug,
        "name": name,
        "currency": currency,
        "isVerified": True,
        "isIncognito": False,
        "isPrivate": False,
        "isArchived": False,
        "isFrozen": False,
        "isSuspended": False,
        "isActive": True,
        "isHost": False,
        "isGuest": False,
        "socialLinks": [],
        "categories": [],
        "settings": {},
        "tags": [],
        "payoutMethods": [],
        "createdAt": "2024-01-01T00:00:00.000Z",
    }


# ---------------------------------------------------------------------------------------------------------------
# HTTP


def _as_javascript_numbers(value: Any) -> Any:
    """Write 25000.0 as 25000, as Open Collective's JavaScript does (graphql-core makes every Float a float)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _as_javascript_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_javascript_numbers(item) for item in value]
    return value


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(_as_javascript_numbers(body))
    return Response(text, status=status, headers=headers, content_type="application/json")


def _graphql_errors(status: int, code: str, errors: Sequence[GraphQLError | str]) -> Response:
    formatted = []
    for error in errors:
        item = error.formatted if isinstance(error, GraphQLError) else {"message": error}
        formatted.append({**item, "extensions": {"code": code}})
    return _json(status, {"errors": formatted})


def _root_fields(document: DocumentNode, operation: OperationDefinitionNode) -> list[str]:
    """The names of the fields at the root of the operation, through fragments; aliases do not hide them."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    names: list[str] = []

    def walk(selection_set: SelectionSetNode) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value != "__typename":
                    names.append(selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value in fragments:
                walk(fragments[selection.name.value].selection_set)

    walk(operation.selection_set)
    return names


#: The host page's buttons: every processExpense action the sandbox models, offered where Open Collective allows it.
HOST_PAGE_ACTIONS = {
    "approve": "APPROVE",
    "reject": "REJECT",
    "unapprove": "UNAPPROVE",
    "pay": "PAY",
    "mark-as-unpaid": "MARK_AS_UNPAID",
    "mark-as-spam": "MARK_AS_SPAM",
}
#: Host actions that undo or refuse, drawn as outlined buttons beside the main ones.
SECONDARY_ACTIONS = frozenset({"reject", "unapprove", "mark-as-unpaid", "mark-as-spam"})
SECONDARY_CLASS = ' class="secondary"'
HOST_PAGE_LABELS = {
    "approve": "Approve",
    "reject": "Reject",
    "unapprove": "Unapprove",
    "pay": "Pay",
    "mark-as-unpaid": "Mark as unpaid",
    "mark-as-spam": "Mark as spam",
}


class SandboxApp:
    """The WSGI application in front of a `Sandbox`."""

    def __init__(self, sandbox: Sandbox, *, app_url: str | None = None) -> None:
        self.sandbox = sandbox
        # The control forms carry this value, so that another page in the browser cannot press the buttons.
        self.form_token = secrets.token_urlsafe(16)
        #: Fund Circle's address, for the page's link back (`--app-url`, or the app's BASE_URL from the command).
        self.app_url = app_url
        #: The page Fund Circle linked here from (its treasury), kept so the link back survives the buttons.
        self.back_url: str | None = None

    def _remember_back(self, back: str | None) -> None:
        """Keep `back` for the link back only if it points at Fund Circle: the app's own address, or this machine
        (the sandbox is a development tool on loopback); any other address is ignored, so that no link to another
        site can be planted in the page."""
        if not back or len(back) > 2000:
            return
        parts = urlsplit(back)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return
        app_host = urlsplit(self.app_url).hostname if self.app_url else None
        if is_loopback(parts.hostname) or parts.hostname == app_host:
            self.back_url = back

    def back_link(self) -> str:
        """Where the page's "Back to Fund Circle" goes: the page that linked here, else the app's address, else
        Fund Circle's development address (`make run` serves it there)."""
        return self.back_url or self.app_url or DEVELOPMENT_APP_URL

    @staticmethod
    def _html(body: str, status: int = 200) -> Response:
        response = Response(body, status=status, content_type="text/html; charset=utf-8")
        # Its own stylesheet and forms only: no script, no other site.
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; style-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )
        return response

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path == GRAPHQL_PATH:
            if request.method != "POST":
                response = _json(405, {"error": {"code": 405, "message": "POST a GraphQL request"}})
                response.headers["Allow"] = "POST"
            else:
                response = self._graphql(request)
        elif request.path == "/" and request.method in ("GET", "HEAD"):
            self._remember_back(request.args.get("back"))
            response = self._html(self._page())
        elif request.path == PAGE_CSS_PATH and request.method in ("GET", "HEAD"):
            response = Response(PAGE_CSS, content_type="text/css; charset=utf-8")
            response.headers["Cache-Control"] = "no-cache"
        elif request.path.startswith("/sandbox/expenses/") and request.method == "POST":
            response = self._control(request)
        else:
            response = _json(404, {"error": {"code": 404, "message": "Not found"}})
        return response(environ, start_response)

    def _graphql(self, request: Request) -> Response:
        viewer = self.sandbox.viewer_for_token(request.headers.get("Personal-Token"))
        if viewer is None:
            return _json(
                401,
                {"error": {"code": 401, "type": "unauthorized", "message": "Invalid personal token"}},
            )
        token = request.headers.get("Personal-Token")
        if token:
            limit = self.sandbox.token_limiter.hit(token)
        else:
            limit = self.sandbox.anonymous_limiter.hit(f"ip:{request.remote_addr}")
        if not limit.allowed:
            return self._too_many(limit.headers(), limit.reset_after)
        response = self._graphql_request(request, viewer)
        response.headers.update(limit.headers())
        return response

    def _graphql_request(self, request: Request, viewer: Viewer) -> Response:
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return _graphql_errors(413, "BAD_REQUEST", ["Request entity too large"])
        try:
            body = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            return _graphql_errors(400, "BAD_REQUEST", ["The request body is not valid JSON"])
        if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
            return _graphql_errors(
                400, "BAD_REQUEST", ["GraphQL operations must contain a non-empty `query` or a `persistedQuery`"]
            )
        variables = body.get("variables")
        operation_name = body.get("operationName")
        if variables is not None and not isinstance(variables, dict):
            return _graphql_errors(400, "BAD_REQUEST", ["`variables` must be an object"])
        if operation_name is not None and not isinstance(operation_name, str):
            return _graphql_errors(400, "BAD_REQUEST", ["`operationName` must be a string"])
        try:
            document = parse(body["query"])
        except GraphQLSyntaxError as error:
            return _graphql_errors(400, "GRAPHQL_PARSE_FAILED", [error])
        schema = load_schema()
        errors = validate(schema, document)
        if errors:
            return _graphql_errors(400, "GRAPHQL_VALIDATION_FAILED", errors)
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            message = (
                f'Unknown operation named "{operation_name}".'
                if operation_name
                else ("Must provide operation name if query contains multiple operations.")
            )
            return _graphql_errors(400, "BAD_REQUEST", [message])
        coerced = get_variable_values(schema, operation.variable_definitions or [], variables or {})
        if isinstance(coerced, list):
            return _graphql_errors(400, "BAD_USER_INPUT", coerced)
        root_fields = _root_fields(document, operation)
        self.sandbox.count_call(root_fields)
        return self._execute(request, document, variables, operation_name, viewer, root_fields)

    def _execute(
        self,
        request: Request,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        operation_name: str | None,
        viewer: Viewer,
        root_fields: list[str],
    ) -> Response:
        failure = self.sandbox.take_failure(root_fields)
        mode = failure.mode if failure else None
        if mode == "error_500":
            return self._internal_error()
        if mode == "rate_limit":
            retry_after = failure.delay if failure and failure.delay is not None else 1.0
            return self._too_many({}, retry_after)
        result = self.sandbox.execute(document, variables, operation_name, viewer)
        body: dict[str, Any] = {"data": result.data}
        if result.errors:
            body["errors"] = [error.formatted for error in result.errors]
        if mode == "timeout":
            delay = failure.delay if failure and failure.delay is not None else self.sandbox.timeout_delay_seconds
            # The work is done; the answer comes too late for the client. Stopping the sandbox cuts the wait short.
            self.sandbox.stopping.wait(delay)
        elif mode == "error_500_after":
            return self._internal_error()
        elif mode == "drop_after_create":
            return self._drop(request)
        return _json(200, body)

    @staticmethod
    def _internal_error() -> Response:
        return _graphql_errors(500, "INTERNAL_SERVER_ERROR", ["Internal server error (injected by the sandbox)"])

    @staticmethod
    def _too_many(headers: dict[str, str], retry_after: float) -> Response:
        body = {"error": {"code": 429, "type": "too_many_requests", "message": "Rate limit exceeded"}}
        return _json(429, body, {**headers, "Retry-After": str(max(1, math.ceil(retry_after)))})

    @staticmethod
    def _drop(request: Request) -> Response:
        """Close the connection without a byte of response, as when a proxy or the network fails after the work."""
        connection = request.environ.get("werkzeug.socket")
        if connection is not None:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        # werkzeug's attempt to write this fails on the closed socket, and it treats that as a dropped connection.
        return Response(b"", status=500)

    # --- the page ----------------------------------------------------------------------------------------------------

    def _control(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")  # sandbox, expenses, <id>, <action>
        if len(parts) != 4 or request.form.get("token") != self.form_token:
            return Response("Unknown action or stale form: reload the page.", status=400, content_type="text/plain")
        expense_id, action = parts[2], parts[3]
        try:
            if action == "complete-invitation":
                self.sandbox.complete_invitation(expense_id)
            elif action in HOST_PAGE_ACTIONS:
                self.sandbox.process_as_host(expense_id, HOST_PAGE_ACTIONS[action])
            else:
                return Response("Unknown action.", status=404, content_type="text/plain")
        except SandboxError as error:
            return self._html(self._page(str(error)), status=409)
        return Response(status=303, headers={"Location": "/"})

    def _page(self, message: str | None = None) -> str:
        e = html.escape
        rows = []
        for expense in sorted(self.sandbox.expenses(), key=lambda x: x.legacy_id, reverse=True):
            payee = expense.payee_slug or f"invited: {(expense.invitee or {}).get('name')}"
            actions = [("complete-invitation", "Payee completes invitation")] if expense.status == "DRAFT" else []
            actions += [
                (path, label)
                for path, label in HOST_PAGE_LABELS.items()
                if expense.status in PROCESS_RULES[HOST_PAGE_ACTIONS[path]][0]
            ]
            forms = "".join(
                f'<form method="post" action="/sandbox/expenses/{e(expense.public_id)}/{path}">'
                f'<input type="hidden" name="token" value="{e(self.form_token)}">'
                f"<button{SECONDARY_CLASS if path in SECONDARY_ACTIONS else ''}>{e(label)}</button></form>"
                for path, label in actions
            )
            custom = e(json.dumps(expense.custom_data)) if expense.custom_data is not None else ""
            rows.append(
                f'<tr id="expense-{e(expense.public_id)}">'
                f'<td data-label="Expense"><code>{e(expense.public_id)}</code></td>'
                f'<td data-label="Description">{e(expense.description)}</td>'
                f'<td data-label="Amount" class="num">{e(_money(expense.amount_minor, expense.currency))}</td>'
                f'<td data-label="Status"><span class="status">{e(expense.status)}</span></td>'
                f'<td data-label="Payee">{e(payee)}</td>'
                f'<td data-label="Reference"><code>{e(expense.reference or "")}</code>'
                f"{'<br><code>' + custom + '</code>' if custom else ''}</td>"
                f'<td data-label="Act as the host"><div class="actions">{forms}</div></td></tr>'
            )
        collectives = "".join(
            f"<li><strong>{e(c.name)}</strong> ({e(c.slug)}): balance {e(_money(c.balance_minor, c.currency))}; "
            f"accepts {e(', '.join(c.expense_types))}</li>"
            for c in self.sandbox.collectives()
        )
        notice = f'<p class="problem" role="alert"><strong>{e(message)}</strong></p>' if message else ""
        table = (
            '<table class="stacked"><caption>Expenses, newest first</caption><thead><tr><th scope="col">Expense</th>'
            '<th scope="col">Description</th><th scope="col" class="num">Amount</th><th scope="col">Status</th>'
            '<th scope="col">Payee</th><th scope="col">Reference</th><th scope="col">Act as the host</th></tr></thead>'
            "<tbody>" + "".join(rows) + "</tbody></table>"
            if rows
            else '<p class="empty">No expenses yet: they appear here when Fund Circle requests an approved payout.</p>'
        )
        return (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<title>Open Collective sandbox</title><link rel="stylesheet" href="{PAGE_CSS_PATH}"></head>'
            f'<body><header><a class="back" href="{e(self.back_link())}">← Back to Fund Circle</a>'
            '<span class="badge">Sandbox</span></header>'
            "<main><h1>Open Collective sandbox — no money moves</h1>"
            "<p>A local stand-in for Open Collective's API, for tests and the demo. Nothing here is real: "
            "paying an expense only lowers the balance shown below. The buttons act as the collective's host.</p>"
            f"{notice}<h2>Collectives</h2><ul>{collectives}</ul><h2>Expenses</h2>{table}"
            f'<p class="muted">GraphQL endpoint: <code>{GRAPHQL_PATH}</code></p></main></body></html>'
        )


# ---------------------------------------------------------------------------------------------------------------
# Running it


class _QuietHandler(WSGIRequestHandler):
    """No access log line per request: the tests make hundreds."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


@dataclass
class RunningSandbox:
    """A sandbox served in a background thread; `url` is its GraphQL endpoint."""

    sandbox: Sandbox
    server: BaseWSGIServer
    thread: threading.Thread
    base_url: str
    stopped: bool = False

    @property
    def url(self) -> str:
        return self.base_url + GRAPHQL_PATH

    def stop(self) -> None:
        """Stop serving, wake any request sleeping in an injected timeout, and wait for webhook deliveries."""
        if self.stopped:
            return
        self.stopped = True
        self.sandbox.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
        self.sandbox.wait_for_webhooks()


def serve(
    sandbox: Sandbox, *, host: str = "127.0.0.1", port: int = 0, quiet: bool = True, app_url: str | None = None
) -> BaseWSGIServer:
    """A threaded werkzeug server for the sandbox, bound but not yet serving (port 0: a free port). `app_url` is
    Fund Circle's address, for the host page's link back."""
    handler = _QuietHandler if quiet else WSGIRequestHandler
    return make_server(host, port, SandboxApp(sandbox, app_url=app_url), threaded=True, request_handler=handler)


def start_sandbox(
    sandbox: Sandbox | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    collective: str = "fund-circle-test",
    token: str = "sandbox-token",
    balance_minor: int = 1_000_000,
    currency: str = "EUR",
    name: str | None = None,
    expense_types: Iterable[str] = DEFAULT_EXPENSE_TYPES,
    payee_accounts: Iterable[str] = (),
    webhooks: Iterable[str] = (),
    two_factor: bool = False,
    preauthorized_2fa: bool = False,
    other_accounts: Iterable[str] = (),
    **options: Any,
) -> RunningSandbox:
    """Serve a sandbox in a thread on `host` (a free port by default) and return it running.

    Without `sandbox`, makes one (`options` go to `Sandbox(...)`, e.g. `rate_limit_per_minute`, `state_file`) with
    one collective whose admin holds `token`. Call `.stop()` when done.
    """
    if sandbox is None:
        sandbox = Sandbox(**options)
        sandbox.add_collective(
            collective,
            admin_token=token,
            name=name,
            currency=currency,
            balance_minor=balance_minor,
            expense_types=expense_types,
            payee_accounts=payee_accounts,
            webhooks=webhooks,
            two_factor=two_factor,
            preauthorized_2fa=preauthorized_2fa,
            other_accounts=other_accounts,
        )
    sandbox.stopping.clear()
    server = serve(sandbox, host=host, port=port)
    # A short poll interval makes stop() quick: shutdown() waits for the serving loop's next poll.
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="oc-sandbox", daemon=True
    )
    thread.start()
    return RunningSandbox(sandbox, server, thread, f"http://{host}:{server.server_port}")
