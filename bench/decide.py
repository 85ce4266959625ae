"""Deciding the quadratic round against its floor (issue 22, floor (b)): raw SQL writing the same rows in one
transaction.

The app's decision is `advance_round(..., "decided")` on bench/seed.py's deciding round: lock the round, move its
phase, read the candidates and ballots, tally and allocate, store the tally and the N proposal results, create the
M payouts, append the ledger entries (the phase change, the result, one per payout) with their Merkle tree nodes,
move the chain's head, sign a checkpoint, queue the notices.

The floor does what no decision can do without, as raw DBAPI statements in one transaction: read the candidates
(id, amount) and the votes summed per proposal, move the round's phase, then write the very rows the app wrote (the
tally, N results, M payouts, every ledger entry and tree node, the head, the checkpoint), copied from an untimed
decision made first and rolled back, so their hashes and payloads are precomputed. The notices (one per circle
member for the phase change) are the one thing the floor leaves out.

Timings are medians of three runs, each in its own transaction: the app's first two and every floor run are rolled
back, the app's last decision is committed (the results page shows it).

    .venv/bin/python -m bench.decide [--sizes 1,4,16] [--databases postgresql,sqlite]

`bench.run` calls `decide_figures` on its seeded database too.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.seed import VIEWER_EMAIL, Seeded  # noqa: E402
from fundcircle.extensions import db  # noqa: E402

#: The tables a decision writes rows to (besides the round's phase and the chain's head, which it updates), with
#: the columns the floor copies. The notices are left out (see above).
WRITTEN = {
    "round_tallies": ("round_id", "ballots_cast", "eligible_voters", "quorum_percent", "quorum_met", "budget_minor",
                      "funded_minor", "currency", "decided_at", "checkpoint_seq", "checkpoint_hash"),
    "proposal_results": ("round_id", "proposal_id", "version", "title", "score", "amount_minor", "funded", "reason",
                         "rank"),
    "payouts": ("id", "proposal_id", "round_id", "circle_id", "proposal_version", "amount_minor", "currency",
                "payee_slug", "payee_name", "payee_email", "status", "created_at", "approvals_count", "attempts",
                "outcome_unknown", "unknown_outcomes"),
    "ledger_entries": ("id", "chain_id", "seq", "at", "circle_id", "actor_id", "action", "subject_type", "subject_id",
                       "data", "prev_hash", "hash"),
    "ledger_tree_nodes": ("chain_id", "level", "idx", "hash"),
    "ledger_checkpoints": ("id", "chain_id", "size", "root_hash", "made_at", "reason", "note"),
}  # fmt: skip


@dataclass
class DecideFigures:
    decide_s: float  # advance_round to decided, as the app runs it
    floor_s: float  # floor (b): raw SQL writing the same rows
    sum_s: float  # the old baseline: the raw SUM(votes) GROUP BY proposal alone
    statements: int  # statements of one decision
    results: int
    payouts: int
    ledger_entries: int
    tree_nodes: int

    @property
    def ratio(self) -> float:
        return self.decide_s / self.floor_s


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def _decide_once(round_id: int, *, commit: bool) -> None:
    from fundcircle.auth.models import User
    from fundcircle.db import utcnow
    from fundcircle.rounds.models import Round
    from fundcircle.rounds.services import advance_round

    viewer = db.session.scalar(sa.select(User).where(User.email == VIEWER_EMAIL))
    round_ = db.session.get(Round, round_id)
    assert viewer is not None and round_ is not None
    advance_round(viewer, round_, "decided", utcnow())
    if commit:
        db.session.commit()
    else:
        db.session.flush()


def _written_rows(round_id: int, chain_id: int, before_seq: int) -> dict[str, list[tuple[Any, ...]]]:
    """The rows a decision (flushed, not committed) wrote, as the database holds them (JSON as text)."""
    connection = db.session.connection()
    postgresql = connection.dialect.name == "postgresql"
    # A tree node (level, idx) is new when its last leaf is: idx >= before_seq >> level.
    new_nodes = " OR ".join(f"(level = {level} AND idx >= {before_seq >> level})" for level in range(40))
    where = {
        "round_tallies": f"round_id = {round_id}",
        "proposal_results": f"round_id = {round_id}",
        "payouts": f"round_id = {round_id}",
        "ledger_entries": f"chain_id = {chain_id} AND seq > {before_seq}",
        "ledger_tree_nodes": f"chain_id = {chain_id} AND ({new_nodes})",
        "ledger_checkpoints": f"chain_id = {chain_id} AND size > {before_seq}",
    }
    rows = {}
    for table, columns in WRITTEN.items():
        listed = ", ".join("data::text" if postgresql and column == "data" else column for column in columns)
        rows[table] = [tuple(row) for row in connection.exec_driver_sql(f"SELECT {listed} FROM {table} WHERE "
                                                                        f"{where[table]}")]  # fmt: skip
    return rows


def _floor(round_id: int, chain_id: int, rows: dict[str, list[tuple[Any, ...]]], head: tuple[Any, ...]) -> None:
    """Floor (b): read what a decision must read, then write the same rows, in one transaction (rolled back by the
    caller)."""
    connection = db.session.connection()
    mark = "%s" if connection.dialect.name == "postgresql" else "?"
    cursor = connection.connection.cursor()
    cursor.execute(
        "SELECT p.id, v.amount_minor FROM proposals p JOIN proposal_versions v ON v.proposal_id = p.id AND"
        f" v.number = p.current_version WHERE p.round_id = {mark} AND p.status = 'submitted'",
        (round_id,),
    )
    cursor.fetchall()
    cursor.execute(
        "SELECT v.proposal_id, SUM(v.votes) FROM ballot_votes v JOIN ballots b ON b.id = v.ballot_id"
        f" WHERE b.round_id = {mark} GROUP BY v.proposal_id",
        (round_id,),
    )
    cursor.fetchall()
    cursor.execute(f"UPDATE rounds SET phase = 'decided' WHERE id = {mark}", (round_id,))
    for table, columns in WRITTEN.items():
        if rows[table]:
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})",
                rows[table],
            )
    cursor.execute(
        f"UPDATE ledger_chains SET head_seq = {mark}, head_hash = {mark}, tree_frontier = {mark} WHERE id = {mark}",
        (*head, chain_id),
    )
    cursor.close()


def decide_figures(app: Flask, seeded: Seeded) -> DecideFigures:
    """Decide the seeded quadratic round (three times, the last one kept) and its floor (three times)."""
    from fundcircle.ledger.models import LedgerChain

    round_id = seeded.quadratic_round
    raw_sum = sa.text(
        "SELECT v.proposal_id, SUM(v.votes) FROM ballot_votes v JOIN ballots b ON b.id = v.ballot_id"
        " WHERE b.round_id = :r GROUP BY v.proposal_id"
    )
    with app.app_context():
        sums = [timed(lambda: db.session.execute(raw_sum, {"r": round_id}).all()) for _ in range(3)]
        db.session.rollback()
        chain = db.session.scalar(sa.select(LedgerChain).where(LedgerChain.circle_id == seeded.circle))
        assert chain is not None
        chain_id, before_seq = chain.id, chain.head_seq
        db.session.rollback()

        # An untimed decision, flushed and rolled back: the rows the floor writes, and the statements one uses.
        statements: list[str] = []

        def count(*args: Any) -> None:
            statements.append(args[2])

        engine = db.engine
        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            _decide_once(round_id, commit=False)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        rows = _written_rows(round_id, chain_id, before_seq)
        head = tuple(
            db.session.execute(
                sa.select(LedgerChain.head_seq, LedgerChain.head_hash, LedgerChain.tree_frontier).where(
                    LedgerChain.id == chain_id
                )
            ).one()
        )
        db.session.rollback()

        floors = []
        for _ in range(3):
            floors.append(timed(lambda: _floor(round_id, chain_id, rows, head)))
            db.session.rollback()

        runs = []
        for attempt in range(3):
            runs.append(timed(lambda final=attempt == 2: _decide_once(round_id, commit=final)))
            if attempt < 2:
                db.session.rollback()
        db.session.remove()
    return DecideFigures(
        decide_s=statistics.median(runs),
        floor_s=statistics.median(floors),
        sum_s=statistics.median(sums),
        statements=len(statements),
        results=len(rows["proposal_results"]),
        payouts=len(rows["payouts"]),
        ledger_entries=len(rows["ledger_entries"]),
        tree_nodes=len(rows["ledger_tree_nodes"]),
    )


def main() -> None:
    import flask_migrate

    from bench.run import bench_config, fresh_database
    from bench.seed import seed
    from fundcircle import create_app

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,4,16")
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--output", help="write the figures as JSON here too")
    args = parser.parse_args()
    report = []
    for kind in args.databases.split(","):
        for size in (float(s) for s in args.sizes.split(",")):
            with fresh_database(kind, size) as url:
                app = create_app(bench_config(url))
                with app.app_context():
                    flask_migrate.upgrade()
                    seeded = seed(size)
                    db.session.remove()
                figures = decide_figures(app, seeded)
                with app.app_context():
                    db.engine.dispose()
            line = {"database": kind, "size": f"x{size:g}", **asdict(figures), "ratio": round(figures.ratio, 3)}
            report.append(line)
            print(f"{kind} x{size:g}: decide {figures.decide_s * 1000:.0f} ms, floor (b) {figures.floor_s * 1000:.0f}"
                  f" ms, ratio {figures.ratio:.2f} (goal <= 2); {figures.statements} statements; "
                  f"{figures.results} results, {figures.payouts} payouts, {figures.ledger_entries} ledger entries, "
                  f"{figures.tree_nodes} tree nodes; SUM alone {figures.sum_s * 1000:.1f} ms", flush=True)  # fmt: skip
    if args.output:
        Path(args.output).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
