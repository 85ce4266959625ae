"""Time to tally and allocate a quadratic round: 200 ballots over 300 proposals.

Measures the pure rule (fundcircle.voting.quadratic.tally) and the whole decision as the app runs it
(decide_quadratic: read the ballots, tally, store the result, create payouts, write the ledger), on SQLite and,
where BENCH_DATABASE_URL names an empty PostgreSQL database, on PostgreSQL.

    .venv/bin/python bench/tally.py
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROPOSALS, BALLOTS, PER_BALLOT = 300, 200, 12


def pure() -> list[float]:
    from fundcircle.voting.quadratic import Candidate, tally

    rng = random.Random(1)
    candidates = [Candidate(i, rng.randint(1_000, 40_000), i) for i in range(1, PROPOSALS + 1)]
    ballots = [
        {pid: rng.choice([1, 2, 3]) for pid in rng.sample(range(1, PROPOSALS + 1), PER_BALLOT)} for _ in range(BALLOTS)
    ]
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        tally(ballots, candidates, budget_minor=1_000_000, currency="EUR", eligible_voters=BALLOTS, quorum_percent=50)
        timings.append(time.perf_counter() - start)
    return timings


def whole(database_url: str) -> float:
    import flask_migrate
    from sqlalchemy import insert

    from fundcircle import create_app
    from fundcircle.auth.models import User
    from fundcircle.circles.models import Membership, MembershipRole
    from fundcircle.db import utcnow
    from fundcircle.extensions import db
    from fundcircle.proposals.models import Proposal, ProposalVersion
    from fundcircle.rounds.models import Round
    from fundcircle.rounds.services import advance_round
    from fundcircle.voting.models import Ballot, BallotVote
    from tests.factories import make_circle, make_round, make_user

    app = create_app({"TESTING": True, "SECRET_KEY": "x" * 40, "SQLALCHEMY_DATABASE_URI": database_url,
                      "PASSWORD_HASH_PARAMETERS": {"time_cost": 1, "memory_cost": 8, "parallelism": 1}})  # fmt: skip
    rng = random.Random(2)
    with app.app_context():
        flask_migrate.upgrade()
        admin = make_user()
        circle = make_circle(admin)
        round_ = make_round(circle, admin, categories=[], budget_minor=1_000_000, per_proposal_cap_minor=40_000)
        now = utcnow()
        users = [{"email": f"v{i}@example.org", "name": f"V{i}", "password_hash": "x"} for i in range(BALLOTS)]
        user_ids = db.session.execute(insert(User).returning(User.id), users).scalars().all()
        memberships = (
            db.session.execute(
                insert(Membership).returning(Membership.id),
                [{"circle_id": circle.id, "user_id": uid} for uid in user_ids],
            )
            .scalars()
            .all()
        )
        db.session.execute(insert(MembershipRole), [{"membership_id": m, "role": "circle"} for m in memberships])
        proposal_ids = db.session.execute(
            insert(Proposal).returning(Proposal.id),
            [{"round_id": round_.id, "author_id": admin.id, "status": "submitted", "current_version": 1,
              "submitted_at": now} for _ in range(PROPOSALS)],
        ).scalars().all()  # fmt: skip
        db.session.execute(
            insert(ProposalVersion),
            [{"proposal_id": pid, "number": 1, "title": f"P{pid}", "summary": "s", "body": "b", "body_html": "",
              "amount_minor": rng.randint(1_000, 40_000), "currency": "EUR", "payee_slug": f"p{pid}",
              "change_note": "", "created_by_id": admin.id} for pid in proposal_ids],
        )  # fmt: skip
        ballot_ids = (
            db.session.execute(
                insert(Ballot).returning(Ballot.id),
                [{"round_id": round_.id, "user_id": uid, "revision": 1, "credits_spent": 0} for uid in user_ids],
            )
            .scalars()
            .all()
        )
        db.session.execute(
            insert(BallotVote),
            [{"ballot_id": bid, "proposal_id": pid, "votes": rng.choice([1, 2, 3])}
             for bid in ballot_ids for pid in rng.sample(list(proposal_ids), PER_BALLOT)],
        )  # fmt: skip
        round_ = db.session.get(Round, round_.id)
        round_.phase = "deciding"
        db.session.commit()
        start = time.perf_counter()
        advance_round(admin, round_, "decided", utcnow())
        db.session.commit()
        elapsed = time.perf_counter() - start
        db.engine.dispose()
    return elapsed


def main() -> None:
    timings = pure()
    print(f"pure tally, {BALLOTS} ballots x {PER_BALLOT} votes over {PROPOSALS} proposals: "
          f"median {statistics.median(timings) * 1000:.2f} ms, max {max(timings) * 1000:.2f} ms (20 runs)")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        seconds = whole(f"sqlite:///{folder}/bench.sqlite")
        print(f"decide the round on SQLite (read, tally, store 300 results, payouts, ledger): {seconds * 1000:.0f} ms")
    if os.environ.get("BENCH_DATABASE_URL"):
        seconds = whole(os.environ["BENCH_DATABASE_URL"])
        print(f"decide the round on PostgreSQL: {seconds * 1000:.0f} ms")


if __name__ == "__main__":
    main()
