"""The ledger as ground floor: replay a circle's entries into the state the tables should hold, and name the first row
that holds something else. Pure: no Flask, no database, no clock (ledger/reading.py loads both sides).

A hash chain only proves the ledger is whole; a row edited in the database beside it (a payout's amount, a member's
role, a tally's score) would go unseen. Replaying the entries gives, for each row the ledger describes, the value of
each field and the entry that set it; `reconcile` compares that with the rows as stored.

What each entry kind carries is read from its write site (every `record(...)` call). Where an older entry lacks a
field (a payout created before its entry named the payee, a step before the entry named the payout's status), the
field is not compared, or is derived from the action as the code that wrote it did: an absent fact is never taken
for a disagreement.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Every table reconciled, in the order they are compared (the first disagreement named is in the first of these).
TABLES = ("memberships", "round_tallies", "proposal_results", "ballots", "consent_rounds", "payouts")

#: The actions that say something about those tables; reading.py reads only these.
REPLAYED_ACTIONS = (
    "member.added", "member.joined", "member.roles_changed", "member.removed",
    "round.result_published",
    "ballot.cast",
    "consent_round.opened", "consent_round.closed",
    "payout.created", "payout.approval_given", "payout.approved", "payout.request_started", "payout.requested",
    "payout.expense_found", "payout.request_failed", "payout.request_not_sent", "payout.request_outcome_unknown",
    "payout.expense_updated", "payout.expense_missing", "payout.cancelled", "payout.retry_requested", "payout.held",
)  # fmt: skip

Key = tuple[int, ...]


@dataclass(frozen=True)
class ReplayEntry:
    """What replay needs of an entry: its place, its hash, who acted, on what, and what it says."""

    seq: int
    hash: str
    action: str
    actor_id: int | None
    subject_type: str | None
    subject_id: int | None
    data: Mapping[str, Any]


@dataclass
class ExpectedRow:
    """A row as the ledger says it should be: each field's value and the entry that set it."""

    fields: dict[str, tuple[Any, int]] = field(default_factory=dict)

    def set(self, name: str, value: Any, seq: int) -> None:
        self.fields[name] = (value, seq)


@dataclass(frozen=True)
class StoredRow:
    """A row as the table holds it: `label` names it for people (its id), `fields` in the ledger's terms."""

    label: str
    fields: Mapping[str, Any]


Expected = dict[str, dict[Key, ExpectedRow]]
Stored = Mapping[str, Mapping[Key, StoredRow]]


@dataclass(frozen=True)
class Mismatch:
    """The first row that disagrees: its table, which row, which field, what is stored and what the ledger says."""

    table: str
    row: str
    field: str
    stored: str
    ledger: str
    seq: int | None

    def sentence(self) -> str:
        by = f" (entry {self.seq})" if self.seq is not None else ""
        return (
            f"table {self.table}, row {self.row}, field {self.field}: stored {self.stored}, "
            f"the ledger says {self.ledger}{by}"
        )


def _payout_status_by_action(
    action: str, data: Mapping[str, Any], unknown: bool, expense_map: Mapping[str, str]
) -> str | None:
    """A payout's status after an entry that does not name it (written before entries named it), as the code that
    wrote the entry set it; None: the entry leaves the status as it was."""
    if action == "payout.created":
        return "awaiting_approval"
    if action in ("payout.approved", "payout.retry_requested"):
        return "approved"
    if action in ("payout.request_started", "payout.request_outcome_unknown"):
        return "requesting"
    if action in ("payout.request_failed", "payout.expense_missing"):
        return "failed"
    if action == "payout.cancelled":
        return "cancelled"
    if action == "payout.held":
        return "held"
    if action == "payout.request_not_sent":
        return "requesting" if unknown else "approved"
    if action == "payout.expense_updated":
        to = data.get("to")
        return to if isinstance(to, str) else None
    if action in ("payout.requested", "payout.expense_found"):
        status = expense_map.get(str(data.get("expense_status")), "requested")
        # A found expense that had already moved on is first recorded as requested; its expense_updated follows.
        return "requested" if status in ("paid", "rejected", "cancelled") else status
    return None


def replay(entries: Iterable[ReplayEntry], *, expense_statuses: Mapping[str, str]) -> Expected:
    """The state the ledger describes, from a circle's entries in `seq` order. `expense_statuses` is where an Open
    Collective expense status puts a payout (payouts/services.py), for entries that predate naming the status."""
    expected: Expected = {table: {} for table in TABLES}
    unknown_outcome: dict[int, bool] = {}
    for entry in entries:
        action, data, seq, subject = entry.action, entry.data, entry.seq, entry.subject_id
        if action.startswith("member.") and subject is not None:
            memberships = expected["memberships"]
            if action == "member.removed":
                memberships.pop((subject,), None)
                continue
            row = memberships.setdefault((subject,), ExpectedRow())
            if isinstance(data.get("user"), int):
                row.set("user_id", data["user"], seq)
            roles = data.get("to") if action == "member.roles_changed" else data.get("roles")
            if isinstance(roles, list):
                row.set("roles", sorted(set(roles)), seq)
        elif action == "round.result_published" and subject is not None:
            tally = expected["round_tallies"].setdefault((subject,), ExpectedRow())
            for name in ("ballots_cast", "eligible_voters", "quorum_percent", "quorum_met", "budget_minor",
                         "funded_minor", "currency"):  # fmt: skip
                if name in data:
                    tally.set(name, data[name], seq)
            # The tally's checkpoint is this very entry: where the result was published.
            tally.set("checkpoint_seq", seq, seq)
            tally.set("checkpoint_hash", entry.hash, seq)
            for result in data.get("results", []):
                row = expected["proposal_results"].setdefault((subject, result["proposal"]), ExpectedRow())
                for name in ("version", "score", "amount_minor", "funded", "reason"):
                    if name in result:
                        row.set(name, result[name], seq)
        elif action == "ballot.cast" and entry.actor_id is not None and isinstance(data.get("round"), int):
            row = expected["ballots"].setdefault((data["round"], entry.actor_id), ExpectedRow())
            row.fields.clear()  # a ballot is replaced whole: the last entry counts
            row.set("revision", data.get("revision"), seq)
            row.set("credits_spent", data.get("credits_spent"), seq)
            row.set("receipt", entry.hash, seq)
            if "votes" in data:
                row.set("votes", dict(data["votes"]), seq)
            if "commitment" in data:
                row.set("commitment", data["commitment"], seq)
        elif action == "consent_round.opened" and subject is not None:
            row = expected["consent_rounds"].setdefault((subject,), ExpectedRow())
            row.set("proposal_id", data.get("proposal"), seq)
            row.set("version", data.get("version"), seq)
            row.set("amount_minor", data.get("amount_minor"), seq)
            row.set("outcome", None, seq)
        elif action == "consent_round.closed" and subject is not None:
            row = expected["consent_rounds"].setdefault((subject,), ExpectedRow())
            row.set("outcome", data.get("outcome"), seq)
            if "reason" in data:
                row.set("reason", data["reason"], seq)
        elif action.startswith("payout.") and subject is not None:
            row = expected["payouts"].setdefault((subject,), ExpectedRow())
            if action == "payout.created":
                row.set("proposal_id", data.get("proposal"), seq)
                for name in ("amount_minor", "currency"):
                    if name in data:
                        row.set(name, data[name], seq)
                if any(name in data for name in ("payee_slug", "payee_name", "payee_email_sha256")):
                    row.set("payee_slug", data.get("payee_slug"), seq)
                    row.set("payee_name", data.get("payee_name"), seq)
                    row.set("payee_email_sha256", data.get("payee_email_sha256"), seq)
            if action == "payout.request_outcome_unknown":
                unknown_outcome[subject] = True
            status = data.get("status")
            if not isinstance(status, str):
                status = _payout_status_by_action(action, data, unknown_outcome.get(subject, False), expense_statuses)
            if status is not None:
                row.set("status", status, seq)
            if action in ("payout.requested", "payout.expense_found", "payout.retry_requested"):
                unknown_outcome[subject] = False
    return expected


def _show(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def reconcile(expected: Expected, stored: Stored) -> Mismatch | None:
    """The first row, table by table (in `TABLES` order) and key by key, whose stored fields differ from what the
    ledger says, or that only one side has. Fields the ledger does not state are not compared."""
    for table in TABLES:
        wanted, held = expected.get(table, {}), stored.get(table, {})
        for key in sorted(set(wanted) | set(held)):
            row, stored_row = wanted.get(key), held.get(key)
            if stored_row is None:
                assert row is not None  # nosec B101  # type narrowing: the key came from one side
                seq = min((s for _, s in row.fields.values()), default=None)
                label = ", ".join(str(part) for part in key)
                return Mismatch(table, label, "(row)", "no such row", "it exists", seq)
            if row is None:
                return Mismatch(table, stored_row.label, "(row)", "a row", "no entry made it", None)
            for name in sorted(row.fields):
                value, seq = row.fields[name]
                if name not in stored_row.fields:
                    continue
                if stored_row.fields[name] != value:
                    return Mismatch(table, stored_row.label, name, _show(stored_row.fields[name]), _show(value), seq)
    return None
