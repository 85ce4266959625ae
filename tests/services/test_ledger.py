"""The audit ledger on each database: `flask ledger verify` catches tampering with the stored rows and names the first
bad entry; checkpoints catch history rewritten consistently; concurrent appends never fork a chain; a unit of work
that fails leaves no entries behind.

Tampering is done the way an attacker with database access would: SQL on `ledger_entries` (and `ledger_chains`),
committed, and then the command is run in a fresh app context as an operator would run it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.db import UTCDateTime, utcnow
from fundcircle.errors import ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.chain import CanonicalJSONError, EntryContent, StoredEntry, entry_hash
from fundcircle.ledger.models import LedgerChain
from fundcircle.ledger.reading import stored_entries
from fundcircle.ledger.record import record
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import RoundInput, advance_round, create_round
from tests.concurrency import all_at_once
from tests.factories import add_member, make_circle, make_round, make_user

# --- helpers -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class History:
    """A circle with some history in its chain: created, two members added, a round created and opened."""

    slug: str
    circle_id: int
    chain_id: int
    admin_id: int
    round_id: int


#: The circle's entries after `circle_history`: circle.created, member.added (admin), member.added (member),
#: round.created, round.phase_changed (to proposals), round.phase_changed (to deliberation).
HISTORY_LENGTH = 6


def circle_history(app: Flask) -> History:
    with app.app_context():
        admin = make_user(superuser=True)
        member = make_user(name="Zoë Ångström")
        circle = make_circle(admin)
        add_member(circle, member, ["member"], by=admin)
        round_ = make_round(circle, admin)
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        advance_round(admin, round_, "deliberation", utcnow())
        db.session.commit()
        chain_id = db.session.scalar(sa.select(LedgerChain.id).where(LedgerChain.circle_id == circle.id))
        assert chain_id is not None
        history = History(circle.slug, circle.id, chain_id, admin.id, round_.id)
    assert chain_state(app, history)[0] == HISTORY_LENGTH
    return history


def verify(app: Flask, *args: str) -> Result:
    """Run `flask ledger verify` outside any app context, as an operator would."""
    return app.test_cli_runner().invoke(args=["ledger", "verify", *args])


def assert_verifies(result: Result) -> None:
    assert result.exit_code == 0, result.output
    assert result.exception is None


def assert_fails_at(result: Result, label: str, seq: int, problem: str) -> None:
    """The command exited 1 by its own decision (not a crash), naming `seq` of chain `label` as the first bad entry."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    failures = [line for line in result.output.splitlines() if line.startswith(f"FAIL {label}: ")]
    assert len(failures) == 1, result.output
    assert failures[0].startswith(f"FAIL {label}: entry {seq} does not verify: "), result.output
    assert problem in failures[0], result.output


def execute(app: Flask, sql: str | sa.TextClause, **params: Any) -> int:
    """Run one statement in its own committed transaction; return the number of rows it changed."""
    statement = sa.text(sql) if isinstance(sql, str) else sql
    with app.app_context(), db.engine.begin() as connection:
        return connection.execute(statement, params).rowcount


def chain_state(app: Flask, history: History) -> tuple[int, int, str]:
    """(entries stored, head_seq, head_hash) of the circle's chain."""
    with app.app_context():
        entries = db.session.scalar(
            sa.text("SELECT count(*) FROM ledger_entries WHERE chain_id = :c"), {"c": history.chain_id}
        )
        head = db.session.execute(
            sa.select(LedgerChain.head_seq, LedgerChain.head_hash).where(LedgerChain.id == history.chain_id)
        ).one()
        db.session.rollback()
        return entries, head.head_seq, head.head_hash


def seqs_of(app: Flask, history: History) -> list[int]:
    with app.app_context():
        seqs = list(
            db.session.scalars(
                sa.text("SELECT seq FROM ledger_entries WHERE chain_id = :c ORDER BY seq"), {"c": history.chain_id}
            )
        )
        db.session.rollback()
        return seqs


def read_chain(app: Flask, history: History) -> list[StoredEntry]:
    with app.app_context():
        entries = list(stored_entries(history.chain_id))
        db.session.rollback()
        return entries


def circle_label(history: History) -> str:
    return f"circle {history.slug}"


def head_from_output(output: str, history: History) -> tuple[int, str]:
    match = re.search(rf"^ok   {re.escape(circle_label(history))}: (\d+) entries, head ([0-9a-f]{{64}})$", output, re.M)
    assert match, output
    return int(match.group(1)), match.group(2)


UPDATE_DATA = sa.text("UPDATE ledger_entries SET data = :data WHERE chain_id = :c AND seq = :seq").bindparams(
    sa.bindparam("data", type_=sa.JSON())
)
INSERT_ENTRY = sa.text(
    "INSERT INTO ledger_entries (chain_id, seq, at, circle_id, actor_id, action, subject_type, subject_id, data, "
    "prev_hash, hash) VALUES (:chain_id, :seq, :at, :circle_id, :actor_id, :action, :subject_type, :subject_id, "
    ":data, :prev_hash, :hash)"
).bindparams(sa.bindparam("at", type_=UTCDateTime()), sa.bindparam("data", type_=sa.JSON()))


def forged_entry(history: History, after: StoredEntry, seq: int) -> dict[str, Any]:
    """A plausible entry that follows `after`, hashed correctly by someone who knows the algorithm."""
    content = EntryContent(
        seq=seq,
        at=after.content.at + timedelta(seconds=1),
        circle_id=history.circle_id,
        actor_id=history.admin_id,
        action="round.settings_changed",
        subject_type="round",
        subject_id=history.round_id,
        data={"changes": {"budget_minor": {"from": 100_000, "to": 900_000}}},
    )
    return {
        "chain_id": history.chain_id,
        "seq": seq,
        "at": content.at,
        "circle_id": content.circle_id,
        "actor_id": content.actor_id,
        "action": content.action,
        "subject_type": content.subject_type,
        "subject_id": content.subject_id,
        "data": dict(content.data),
        "prev_hash": after.hash,
        "hash": entry_hash(after.hash, content),
    }


# --- an intact ledger --------------------------------------------------------------------------------------------


def test_an_intact_ledger_verifies_and_prints_each_chains_count_and_head(app):
    history = circle_history(app)
    entries, head_seq, head_hash = chain_state(app, history)

    result = verify(app)

    assert_verifies(result)
    assert f"ok   {circle_label(history)}: {HISTORY_LENGTH} entries, head {head_hash}" in result.output
    assert re.search(r"^ok   site: \d+ entries, head [0-9a-f]{64}$", result.output, re.M), result.output
    assert "The ledger verifies:" in result.output and "in 2 chains." in result.output
    assert entries == head_seq == HISTORY_LENGTH


def test_the_total_printed_counts_every_chain(app):
    history = circle_history(app)
    with app.app_context():
        total = db.session.scalar(sa.text("SELECT count(*) FROM ledger_entries"))

    result = verify(app)

    assert_verifies(result)
    assert f"The ledger verifies: {total} entries in 2 chains." in result.output
    assert total > HISTORY_LENGTH  # the site chain holds the accounts made by the factories
    assert head_from_output(result.output, history)[0] == HISTORY_LENGTH


def test_an_empty_ledger_verifies(app):
    result = verify(app)

    assert_verifies(result)
    assert "ok   site: 0 entries, head " + "0" * 64 in result.output
    assert "The ledger verifies: 0 entries in 1 chain." in result.output


def test_verifying_one_circle_prints_only_its_chain(app):
    history = circle_history(app)
    _, _, head_hash = chain_state(app, history)

    result = verify(app, "--circle", history.slug)

    assert_verifies(result)
    assert f"ok   {circle_label(history)}: {HISTORY_LENGTH} entries, head {head_hash}" in result.output
    assert "site" not in result.output


def test_verifying_a_circle_that_does_not_exist_says_so(app):
    result = verify(app, "--circle", "no-such-circle")

    assert result.exit_code == 1
    assert "There is no circle 'no-such-circle'." in result.output


# --- tampering ---------------------------------------------------------------------------------------------------


def test_an_edited_entry_is_named_by_its_seq(app):
    history = circle_history(app)
    round_created = read_chain(app, history)[3]
    assert round_created.content.action == "round.created"
    forged = {**round_created.content.data, "budget_minor": 900_000}

    assert execute(app, UPDATE_DATA, data=forged, c=history.chain_id, seq=4) == 1

    assert_fails_at(verify(app), circle_label(history), 4, "content does not match its hash (edited)")
    assert_fails_at(verify(app, "--circle", history.slug), circle_label(history), 4, "content does not match")


def test_an_edited_timestamp_is_named_by_its_seq(app):
    """On SQLite `ledger verify` hashes the timestamp's stored text as it is: moving it by a second is caught."""
    history = circle_history(app)
    entry = read_chain(app, history)[2]
    moved: Any = entry.content.at + timedelta(seconds=1)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        moved = moved.replace(tzinfo=None).isoformat(" ", "microseconds")  # the form SQLAlchemy stores there
    assert execute(app, "UPDATE ledger_entries SET at = :at WHERE chain_id = :c AND seq = 3", at=moved,
                   c=history.chain_id) == 1  # fmt: skip

    assert_fails_at(verify(app), circle_label(history), 3, "content does not match its hash (edited)")


def test_an_edited_actor_is_named_by_its_seq(app):
    history = circle_history(app)
    with app.app_context():
        intruder_id = make_user().id

    execute(
        app,
        "UPDATE ledger_entries SET actor_id = :a WHERE chain_id = :c AND seq = 2",
        a=intruder_id,
        c=history.chain_id,
    )

    assert_fails_at(verify(app), circle_label(history), 2, "content does not match its hash (edited)")


def test_tampering_with_one_circle_leaves_the_other_chains_verified(app):
    history = circle_history(app)
    execute(app, "DELETE FROM ledger_entries WHERE chain_id = :c AND seq = 5", c=history.chain_id)

    result = verify(app)

    assert result.exit_code == 1
    assert re.search(r"^ok   site: \d+ entries", result.output, re.M), result.output
    assert "The ledger verifies" not in result.output


def test_a_deleted_middle_entry_is_caught_at_the_gap(app):
    history = circle_history(app)

    assert execute(app, "DELETE FROM ledger_entries WHERE chain_id = :c AND seq = 3", c=history.chain_id) == 1

    assert_fails_at(verify(app), circle_label(history), 4, "expected entry 3, found entry 4 (missing or reordered)")


def test_a_forged_entry_inserted_in_the_middle_is_caught_at_the_entry_after_it(app):
    """The forger renumbers the later entries and hashes the forged one correctly; its successor no longer links."""
    history = circle_history(app)
    entries = read_chain(app, history)
    # Two steps, so that no statement ever holds two rows with the same (chain_id, seq).
    execute(app, "UPDATE ledger_entries SET seq = seq + 1000 WHERE chain_id = :c AND seq >= 3", c=history.chain_id)
    execute(app, "UPDATE ledger_entries SET seq = seq - 999 WHERE chain_id = :c AND seq > 1000", c=history.chain_id)
    execute(app, INSERT_ENTRY, **forged_entry(history, after=entries[1], seq=3))
    execute(app, "UPDATE ledger_chains SET head_seq = head_seq + 1 WHERE id = :c", c=history.chain_id)

    assert seqs_of(app, history) == list(range(1, HISTORY_LENGTH + 2))
    assert_fails_at(verify(app), circle_label(history), 4, "prev_hash does not name the entry before it")


def test_a_forged_entry_with_an_invented_hash_is_named_by_its_seq(app):
    history = circle_history(app)
    entries = read_chain(app, history)
    execute(app, "UPDATE ledger_entries SET seq = seq + 1000 WHERE chain_id = :c AND seq >= 3", c=history.chain_id)
    execute(app, "UPDATE ledger_entries SET seq = seq - 999 WHERE chain_id = :c AND seq > 1000", c=history.chain_id)
    execute(app, INSERT_ENTRY, **{**forged_entry(history, after=entries[1], seq=3), "hash": "e" * 64})

    assert_fails_at(verify(app), circle_label(history), 3, "content does not match its hash (edited)")


def test_a_forged_entry_appended_past_the_head_is_caught_by_the_head_record(app):
    history = circle_history(app)
    entries = read_chain(app, history)

    execute(app, INSERT_ENTRY, **forged_entry(history, after=entries[-1], seq=HISTORY_LENGTH + 1))

    assert_fails_at(
        verify(app),
        circle_label(history),
        HISTORY_LENGTH + 1,
        f"entries were added after the head record's entry {HISTORY_LENGTH}",
    )


def test_two_entries_with_swapped_seq_values_are_caught_at_the_lower_one(app):
    history = circle_history(app)
    swap = "UPDATE ledger_entries SET seq = :to WHERE chain_id = :c AND seq = :seq"
    # Through a temporary seq: UNIQUE (chain_id, seq) forbids two rows with the same seq even for a moment.
    execute(app, swap, c=history.chain_id, seq=2, to=1000)
    execute(app, swap, c=history.chain_id, seq=3, to=2)
    execute(app, swap, c=history.chain_id, seq=1000, to=3)

    assert seqs_of(app, history) == list(range(1, HISTORY_LENGTH + 1))
    assert_fails_at(verify(app), circle_label(history), 2, "prev_hash does not name the entry before it")


def test_a_deleted_last_entry_is_caught_by_the_head_record(app):
    history = circle_history(app)

    execute(app, "DELETE FROM ledger_entries WHERE chain_id = :c AND seq = :s", c=history.chain_id, s=HISTORY_LENGTH)

    assert_fails_at(
        verify(app),
        circle_label(history),
        HISTORY_LENGTH,
        f"the head record says entry {HISTORY_LENGTH}: entries were removed from the end",
    )


def test_an_altered_head_record_is_caught(app):
    history = circle_history(app)

    execute(app, "UPDATE ledger_chains SET head_hash = :h WHERE id = :c", h="d" * 64, c=history.chain_id)

    assert_fails_at(
        verify(app), circle_label(history), HISTORY_LENGTH, "the last entry's hash differs from the head record"
    )


# --- checkpoints -------------------------------------------------------------------------------------------------


def advance_history(app: Flask, history: History, to: str) -> None:
    with app.app_context():
        admin = db.session.get(User, history.admin_id)
        round_ = db.session.get(Round, history.round_id)
        advance_round(admin, round_, to, utcnow())
        db.session.commit()


def rewrite_history(app: Flask, history: History, seq: int, data: dict[str, Any]) -> None:
    """Change entry `seq`'s data and recompute every hash after it, and the head: a consistent forgery."""
    entries = read_chain(app, history)
    entries[seq - 1] = replace(entries[seq - 1], content=replace(entries[seq - 1].content, data=data))
    rewrite = sa.text(
        "UPDATE ledger_entries SET data = :data, prev_hash = :prev, hash = :hash WHERE chain_id = :c AND seq = :seq"
    ).bindparams(sa.bindparam("data", type_=sa.JSON()))
    head = entries[seq - 2].hash if seq > 1 else "0" * 64
    with app.app_context(), db.engine.begin() as connection:
        for entry in entries[seq - 1 :]:
            new_hash = entry_hash(head, entry.content)
            connection.execute(
                rewrite,
                {
                    "data": dict(entry.content.data),
                    "prev": head,
                    "hash": new_hash,
                    "c": history.chain_id,
                    "seq": entry.content.seq,
                },
            )
            head = new_hash
        connection.execute(
            sa.text("UPDATE ledger_chains SET head_hash = :h WHERE id = :c"), {"h": head, "c": history.chain_id}
        )


def test_a_circle_still_passes_through_a_checkpoint_taken_earlier(app):
    history = circle_history(app)
    count, head = head_from_output(verify(app, "--circle", history.slug).output, history)
    advance_history(app, history, "deciding")

    result = verify(app, "--circle", history.slug, "--checkpoint", f"{count}:{head}")

    assert_verifies(result)
    assert f"{HISTORY_LENGTH + 1} entries" in result.output


def test_history_rewritten_consistently_passes_without_a_checkpoint_and_fails_with_one(app):
    history = circle_history(app)
    count, head = head_from_output(verify(app, "--circle", history.slug).output, history)
    advance_history(app, history, "deciding")
    round_created = read_chain(app, history)[3].content
    assert round_created.action == "round.created"

    rewrite_history(app, history, 4, {**round_created.data, "budget_minor": 900_000})

    assert_verifies(verify(app, "--circle", history.slug))
    assert_fails_at(
        verify(app, "--circle", history.slug, "--checkpoint", f"{count}:{head}"),
        circle_label(history),
        count,
        "the chain no longer passes through the checkpoint",
    )


def test_a_checkpoint_past_the_end_of_the_chain_fails(app):
    history = circle_history(app)

    result = verify(app, "--circle", history.slug, "--checkpoint", "999:" + "a" * 64)

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert f"the chain has {HISTORY_LENGTH} entries, fewer than the checkpoint's 999" in result.output


@pytest.mark.parametrize(
    "checkpoint",
    ["nonsense", "12", "12:", "12:abc", "x:" + "a" * 64, "-1:" + "a" * 64, "12:" + "g" * 64, "12:" + "a" * 65],
)
def test_a_malformed_checkpoint_is_a_usage_error(app, checkpoint):
    history = circle_history(app)

    result = verify(app, "--circle", history.slug, "--checkpoint", checkpoint)

    assert result.exit_code == 2
    assert "COUNT:HASH" in result.output
    assert "does not verify" not in result.output


def test_a_checkpoint_without_a_circle_is_a_usage_error(app):
    result = verify(app, "--checkpoint", "1:" + "a" * 64)

    assert result.exit_code == 2
    assert "give --circle or --file as well" in result.output


# --- concurrent appends ------------------------------------------------------------------------------------------

THREADS = 8
APPENDS_PER_THREAD = 25


def test_concurrent_appends_to_one_chain_take_consecutive_seqs_and_never_fork(app):
    history = circle_history(app)

    def append(worker: int) -> None:
        for number in range(APPENDS_PER_THREAD):
            record(
                "test.concurrent_append",
                actor=None,
                circle_id=history.circle_id,
                data={"worker": worker, "number": number},
            )
            db.session.commit()

    all_at_once([lambda worker=worker: append(worker) for worker in range(THREADS)], app=app, timeout=300, reraise=True)

    total = HISTORY_LENGTH + THREADS * APPENDS_PER_THREAD
    assert seqs_of(app, history) == list(range(1, total + 1))
    assert chain_state(app, history)[:2] == (total, total)
    appended = [
        (entry.content.data["worker"], entry.content.data["number"])
        for entry in read_chain(app, history)
        if entry.content.action == "test.concurrent_append"
    ]
    assert sorted(appended) == [(w, n) for w in range(THREADS) for n in range(APPENDS_PER_THREAD)]
    result = verify(app, "--circle", history.slug)
    assert_verifies(result)
    assert f"{total} entries" in result.output


# --- a unit of work that fails -----------------------------------------------------------------------------------


def test_a_failed_unit_of_work_leaves_no_ledger_entries_behind(app):
    history = circle_history(app)
    before = chain_state(app, history)

    with app.app_context():
        admin = db.session.get(User, history.admin_id)
        circle = db.session.get(Circle, history.circle_id)
        round_ = create_round(
            admin, circle, RoundInput(title="Doomed", budget_minor=5000, per_proposal_cap_minor=5000, method="consent")
        )
        advance_round(admin, round_, "proposals", utcnow())  # records round.phase_changed
        with pytest.raises(ValidationFailed):
            advance_round(admin, round_, "decided", utcnow())
        db.session.rollback()

    assert chain_state(app, history) == before
    assert_verifies(verify(app))


def test_a_record_refused_for_a_float_is_rolled_back_with_its_transaction(app):
    history = circle_history(app)
    before = chain_state(app, history)

    with app.app_context():
        record("test.first", actor=None, circle_id=history.circle_id, data={"fine": 1})
        with pytest.raises(CanonicalJSONError):
            record("test.second", actor=None, circle_id=history.circle_id, data={"amount": 12.5})
        db.session.rollback()

    assert chain_state(app, history) == before
    with app.app_context():
        entry = record("test.after", actor=None, circle_id=history.circle_id, data={})
        db.session.commit()
        assert entry.seq == HISTORY_LENGTH + 1
    assert_verifies(verify(app))


def test_a_record_refused_for_a_float_leaves_the_chain_head_as_it_was(app):
    """`record` raises CanonicalJSONError for a float; the caller's transaction must not be left with a head that
    names an entry that was never written, or committing the rest of the unit of work breaks the whole chain."""
    history = circle_history(app)
    before = chain_state(app, history)

    with app.app_context():
        with pytest.raises(CanonicalJSONError):
            record("test.refused", actor=None, circle_id=history.circle_id, data={"amount": 12.5})
        head_seq = db.session.scalar(sa.select(LedgerChain.head_seq).where(LedgerChain.id == history.chain_id))
        db.session.rollback()

    assert head_seq == before[1]
    assert chain_state(app, history) == before


def test_ledger_data_is_stored_as_its_canonical_json_text(ctx: Flask) -> None:
    """So that `ledger verify` can hash each entry's data as read, without parsing and re-serialising it."""
    from sqlalchemy import Text, cast, select

    from fundcircle.ledger.chain import json_text
    from fundcircle.ledger.models import LedgerEntry
    from fundcircle.ledger.record import record

    record("test.stored", actor=None, circle_id=None, data={"zeta": 1, "alpha": ["é", {"b": 2, "a": None}]})
    db.session.commit()
    stored = db.session.execute(
        select(cast(LedgerEntry.data, Text), LedgerEntry.data).where(LedgerEntry.action == "test.stored")
    ).one()
    assert stored[0] == json_text(stored[1]) == '{"alpha":["é",{"a":null,"b":2}],"zeta":1}'
