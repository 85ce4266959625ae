"""The benchmark's seed keeps up with the schema and the ledger: a small seed goes in, and `ledger verify` finds the
seeded circle whole and its tables agreeing with what its ledger says. Without this, a new NOT NULL column or a
state the ledger now reconciles would first break `make bench`, which no test runs."""

from __future__ import annotations

from flask import Flask

from bench.seed import seed
from fundcircle.ledger.reading import verify_ledger


def test_a_small_benchmark_seed_goes_in_and_its_ledger_verifies(app: Flask) -> None:
    with app.app_context():
        seeded = seed(0.1)
        (report,) = verify_ledger([seeded.circle], include_site=False)
        assert report.result.ok, report
        assert seeded.ballots > 0 and seeded.ledger_entries > 0


def test_the_benchmark_seeds_four_voting_circles_whose_ledgers_verify(app: Flask) -> None:
    with app.app_context():
        seeded = seed(0.1)
        assert len({voting.circle for voting in seeded.voting}) == 4
        assert seeded.voting[0].round == seeded.quadratic_round
        assert all(voting.tokens and voting.proposal_ids for voting in seeded.voting)
        reports = verify_ledger([voting.circle for voting in seeded.voting], include_site=False)
        assert len(reports) == 4
        assert all(report.result.ok and report.mismatch is None for report in reports), reports
