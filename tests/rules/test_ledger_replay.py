"""ledger/replay.py: a circle's entries replayed into the state they describe, and the first stored row that differs
(no database). The entries are shaped as their write sites write them (every `record(...)` call)."""

from __future__ import annotations

from typing import Any

from fundcircle.ledger.replay import ReplayEntry, StoredRow, reconcile, replay

EXPENSES = {"PENDING": "requested", "DRAFT": "invited", "PAID": "paid", "APPROVED": "approved_on_oc"}


def _entry(seq: int, action: str, data: dict[str, Any], *, subject: tuple[str, int] | None = None,
           actor: int | None = 1) -> ReplayEntry:  # fmt: skip
    kind, subject_id = subject if subject is not None else (None, None)
    return ReplayEntry(seq, f"{seq:064x}", action, actor, kind, subject_id, data)


def _history() -> list[ReplayEntry]:
    return [
        _entry(1, "member.added", {"user": 1, "name": "Ana", "roles": ["member", "admin"]}, subject=("membership", 1)),
        _entry(2, "member.added", {"user": 2, "name": "Bea", "roles": ["circle"]}, subject=("membership", 2)),
        _entry(
            3,
            "member.roles_changed",
            {"user": 2, "from": ["circle"], "to": ["circle", "treasurer"]},
            subject=("membership", 2),
        ),  # fmt: skip
        _entry(4, "member.joined", {"user": 3, "roles": ["member"], "invitation": 1}, subject=("membership", 3)),
        _entry(5, "member.removed", {"user": 3, "from": ["member"], "to": []}, subject=("membership", 3)),
        _entry(6, "ballot.cast", {"round": 7, "revision": 1, "credits_spent": 4, "votes": {"5": 2}}, actor=2),
        _entry(7, "ballot.cast", {"round": 7, "revision": 2, "credits_spent": 1, "votes": {"5": 1}}, actor=2),
        _entry(
            8,
            "round.result_published",
            {
                "method": "quadratic",
                "ballots_cast": 1,
                "eligible_voters": 1,
                "quorum_percent": 0,
                "quorum_met": True,
                "budget_minor": 100_000,
                "funded_minor": 25_000,
                "currency": "EUR",
                "results": [
                    {
                        "proposal": 5,
                        "version": 1,
                        "score": 1,
                        "amount_minor": 25_000,
                        "funded": True,
                        "reason": "funded",
                    }
                ],
            },
            subject=("round", 7),
        ),  # fmt: skip
        _entry(
            9,
            "payout.created",
            {"proposal": 5, "version": 1, "amount_minor": 25_000, "currency": "EUR", "status": "awaiting_approval"},
            subject=("payout", 1),
        ),  # fmt: skip
        _entry(10, "payout.approval_given", {"proposal": 5, "approvals": 1}, subject=("payout", 1)),
        _entry(11, "payout.approved", {"proposal": 5, "request_key": "fc-1"}, subject=("payout", 1)),
        _entry(12, "payout.request_started", {"proposal": 5, "attempt": 1}, subject=("payout", 1), actor=None),
        # Written before the entries named the payout's status: derived as the code that wrote them did.
        _entry(13, "payout.request_outcome_unknown", {"proposal": 5}, subject=("payout", 1), actor=None),
        _entry(14, "payout.request_started", {"proposal": 5, "attempt": 2}, subject=("payout", 1), actor=None),
        _entry(
            15,
            "payout.expense_found",
            {"proposal": 5, "expense_id": "e1", "expense_status": "PENDING"},
            subject=("payout", 1),
            actor=None,
        ),  # fmt: skip
        _entry(
            16,
            "consent_round.opened",
            {"proposal": 6, "version": 2, "amount_minor": 30_000},
            subject=("consent_round", 4),
        ),  # fmt: skip
        _entry(
            17,
            "consent_round.closed",
            {"proposal": 6, "version": 2, "outcome": "not_consented", "reason": "1 objection open"},
            subject=("consent_round", 4),
        ),  # fmt: skip
        _entry(18, "comment.added", {"proposal": 6, "body": "hello"}, subject=("comment", 1)),
    ]


def _stored() -> dict[str, dict[tuple[int, ...], StoredRow]]:
    return {
        "memberships": {(1,): StoredRow("1", {"user_id": 1, "roles": ["admin", "member"]}),
                        (2,): StoredRow("2", {"user_id": 2, "roles": ["circle", "treasurer"]})},
        "round_tallies": {(7,): StoredRow("7", {"ballots_cast": 1, "eligible_voters": 1, "quorum_percent": 0,
                                                "quorum_met": True, "budget_minor": 100_000, "funded_minor": 25_000,
                                                "currency": "EUR", "checkpoint_seq": 8,
                                                "checkpoint_hash": f"{8:064x}"})},
        "proposal_results": {(7, 5): StoredRow("round 7, proposal 5", {"version": 1, "score": 1,
                                                                       "amount_minor": 25_000, "funded": True,
                                                                       "reason": "funded"})},
        "ballots": {(7, 2): StoredRow("3", {"revision": 2, "credits_spent": 1, "receipt": f"{7:064x}",
                                            "votes": {"5": 1}})},
        "consent_rounds": {(4,): StoredRow("4", {"proposal_id": 6, "version": 2, "amount_minor": 30_000,
                                                 "outcome": "not_consented", "reason": "1 objection open"})},
        "payouts": {(1,): StoredRow("1", {"proposal_id": 5, "amount_minor": 25_000, "currency": "EUR",
                                          "payee_slug": "x", "payee_name": None, "payee_email_sha256": None,
                                          "status": "requested"})},
    }  # fmt: skip


def _with(table: str, key: tuple[int, ...], **fields: Any) -> dict[str, dict[tuple[int, ...], StoredRow]]:
    stored = _stored()
    row = stored[table][key]
    stored[table][key] = StoredRow(row.label, {**row.fields, **fields})
    return stored


def test_the_state_a_history_describes_matches_the_rows_it_made() -> None:
    assert reconcile(replay(_history(), expense_statuses=EXPENSES), _stored()) is None


def test_an_edited_field_is_named_with_its_table_row_stored_value_and_what_the_ledger_says() -> None:
    expected = replay(_history(), expense_statuses=EXPENSES)
    mismatch = reconcile(expected, _with("payouts", (1,), amount_minor=99_999))
    assert mismatch is not None
    assert mismatch.sentence() == (
        "table payouts, row 1, field amount_minor: stored 99999, the ledger says 25000 (entry 9)"
    )
    # The payee was not in this older payout.created: it is not compared rather than taken for a disagreement.
    assert reconcile(expected, _with("payouts", (1,), payee_slug="mallory")) is None


def test_each_table_is_reconciled() -> None:
    expected = replay(_history(), expense_statuses=EXPENSES)
    cases = {
        ("memberships", (2,)): {"roles": ["admin", "circle", "treasurer"]},
        ("round_tallies", (7,)): {"funded_minor": 1},
        ("proposal_results", (7, 5)): {"score": 99},
        ("ballots", (7, 2)): {"receipt": "0" * 64},
        ("consent_rounds", (4,)): {"outcome": "consented"},
        ("payouts", (1,)): {"status": "approved"},
    }
    for (table, key), fields in cases.items():
        mismatch = reconcile(expected, _with(table, key, **fields))
        assert mismatch is not None and mismatch.table == table and mismatch.field == next(iter(fields)), table


def test_the_last_ballot_counts_and_a_removed_member_must_be_gone() -> None:
    expected = replay(_history(), expense_statuses=EXPENSES)
    assert expected["ballots"][(7, 2)].fields["receipt"] == (f"{7:064x}", 7)
    stored = _stored()
    stored["memberships"][(3,)] = StoredRow("3", {"user_id": 3, "roles": ["member"]})
    mismatch = reconcile(expected, stored)
    assert mismatch is not None and (mismatch.table, mismatch.row, mismatch.stored) == ("memberships", "3", "a row")


def test_a_row_the_ledger_made_but_the_table_lacks_is_named() -> None:
    stored = _stored()
    del stored["proposal_results"][(7, 5)]
    mismatch = reconcile(replay(_history(), expense_statuses=EXPENSES), stored)
    assert mismatch is not None and (mismatch.table, mismatch.row, mismatch.seq) == ("proposal_results", "7, 5", 8)


def test_payout_statuses_follow_the_entries_that_name_them_and_the_actions_that_predate_that() -> None:
    history = _history()[:12]
    assert replay(history, expense_statuses=EXPENSES)["payouts"][(1,)].fields["status"] == ("requesting", 12)
    history.append(_entry(13, "payout.request_not_sent", {"proposal": 5}, subject=("payout", 1)))
    assert replay(history, expense_statuses=EXPENSES)["payouts"][(1,)].fields["status"][0] == "approved"
    history.append(_entry(14, "payout.held", {"proposal": 5, "status": "held"}, subject=("payout", 1)))
    assert replay(history, expense_statuses=EXPENSES)["payouts"][(1,)].fields["status"][0] == "held"
    history.append(_entry(15, "payout.expense_updated", {"from": "requested", "to": "paid"}, subject=("payout", 1)))
    assert replay(history, expense_statuses=EXPENSES)["payouts"][(1,)].fields["status"][0] == "paid"
