"""The transparency log's costs (README, "Performance"): an append with the Merkle tree against the same append
without it (the chain alone, as before the tree), and inclusion and consistency proof times, which must stay flat
as the log grows 16 times (O(log n) nodes read in one query).

    .venv/bin/python -m bench.transparency [--database sqlite|postgresql]   (x1 = 10,000 entries, x16 = 160,000)

`bench.run` calls `transparency_figures` on its seeded circle too.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from typing import Any

from flask import Flask
from sqlalchemy import insert, select, update

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.chain import EntryContent, entry_hash
from fundcircle.ledger.checkpoints import consistency_proof, inclusion_proof
from fundcircle.ledger.models import LedgerChain, LedgerEntry
from fundcircle.ledger.record import record, record_many

APPENDS = 300
PROOFS = 200


def _append_chain_only(circle_id: int, n: int) -> None:
    """`record` as it was before the tree: move the head, insert the entry, store the new head hash."""
    db.session.flush()
    head = db.session.execute(
        update(LedgerChain)
        .where(LedgerChain.circle_id == circle_id)
        .values(head_seq=LedgerChain.head_seq + 1)
        .returning(LedgerChain.id, LedgerChain.head_seq, LedgerChain.head_hash),
        execution_options={"synchronize_session": False},
    ).one()
    content = EntryContent(head.head_seq, utcnow(), circle_id, None, "bench.note", None, None, {"n": n})
    new_hash = entry_hash(head.head_hash, content)
    db.session.execute(
        insert(LedgerEntry).values(chain_id=head.id, seq=content.seq, at=content.at, circle_id=circle_id,
                                   actor_id=None, action="bench.note", subject_type=None, subject_id=None,
                                   data=content.data, prev_hash=head.head_hash, hash=new_hash)
    )  # fmt: skip
    db.session.execute(
        update(LedgerChain).where(LedgerChain.id == head.id).values(head_hash=new_hash),
        execution_options={"synchronize_session": False},
    )
    db.session.flush()


def _per_append_ms(append: Any, circle_id: int) -> float:
    """Median over 3 runs of APPENDS appends each, in a transaction rolled back afterwards."""
    runs = []
    for _ in range(3):
        started = time.perf_counter()
        for n in range(APPENDS):
            append(circle_id, n)
        runs.append((time.perf_counter() - started) * 1000 / APPENDS)
        db.session.rollback()
    return statistics.median(runs)


def transparency_figures(app: Flask, circle_id: int) -> dict[str, float]:
    """ms per append with and without the tree, and ms per inclusion and per consistency proof (random sizes)."""
    with app.app_context():
        with_tree = _per_append_ms(lambda c, n: record("bench.note", actor=None, circle_id=c, data={"n": n}), circle_id)
        without_tree = _per_append_ms(_append_chain_only, circle_id)
        size = db.session.scalar(select(LedgerChain.head_seq).where(LedgerChain.circle_id == circle_id)) or 1
        rng = random.Random(size)
        started = time.perf_counter()
        for _ in range(PROOFS):
            inclusion_proof(circle_id, rng.randrange(1, size + 1), size)
        inclusion_ms = (time.perf_counter() - started) * 1000 / PROOFS
        started = time.perf_counter()
        for _ in range(PROOFS):
            consistency_proof(circle_id, rng.randrange(1, size + 1), size)
        consistency_ms = (time.perf_counter() - started) * 1000 / PROOFS
        db.session.rollback()
    return {
        "entries": float(size),
        "append with tree ms": with_tree,
        "append without tree ms": without_tree,
        "inclusion proof ms": inclusion_ms,
        "consistency proof ms": consistency_ms,
    }


def _synthetic(app: Flask, entries: int) -> int:
    from fundcircle.auth.services import create_user
    from fundcircle.circles.services import CircleInput, create_circle

    with app.app_context():
        owner = create_user(None, email=f"o{entries}@bench.example.org", name="Owner", password="x" * 12,
                            superuser=True, via="bench")  # fmt: skip
        circle = create_circle(owner, CircleInput(name=f"Log {entries}", slug=f"log-{entries}", currency="EUR",
                                                  public=False))  # fmt: skip
        circle_id = circle.id
        db.session.commit()
        for start in range(0, entries, 5000):
            batch = [(None, {"n": n}) for n in range(start, min(entries, start + 5000))]
            record_many("bench.note", batch, actor=None, circle_id=circle_id)
            db.session.commit()
    return circle_id


def main() -> None:
    import flask_migrate

    from fundcircle import create_app

    parser = argparse.ArgumentParser()
    parser.add_argument("--database", default="sqlite", help="sqlite, or a PostgreSQL URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{os.path.join(folder, 'bench.sqlite')}" if args.database == "sqlite" else args.database
        key = "YmVuY2gtbGVkZ2VyLXNpZ25pbmcta2V5LTMyLWJ5dGU="  # a fixed bench key: no key file is written
        app = create_app({"TESTING": True, "SECRET_KEY": "bench-" * 8, "SQLALCHEMY_DATABASE_URI": url,
                          "MAIL_SERVER": "", "LEDGER_SIGNING_KEY": key})  # fmt: skip
        with app.app_context():
            flask_migrate.upgrade()
        for label, entries in (("x1", 10_000), ("x16", 160_000)):
            circle_id = _synthetic(app, entries)
            figures = transparency_figures(app, circle_id)
            print(label, {name: round(value, 3) for name, value in figures.items()})


if __name__ == "__main__":
    main()
