"""Profile one benchmarked operation with pyinstrument, on a freshly seeded database (in-process, Flask's client).

    .venv/bin/python -m bench.profile ballot|decide|verify|pages [--size 1] [--database postgresql|sqlite]

`ballot` saves 50 ballots through the API; `decide` decides the quadratic round; `verify` runs `ledger verify`;
`pages` views every page in bench/pages.py five times (after deciding). The text profile goes to standard output.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import flask_migrate
from pyinstrument import Profiler

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.decide import _decide_once  # noqa: E402
from bench.pages import PAGES  # noqa: E402
from bench.run import _login, bench_config, fresh_database  # noqa: E402
from bench.seed import seed  # noqa: E402
from fundcircle import create_app  # noqa: E402
from fundcircle.extensions import db  # noqa: E402
from fundcircle.ledger.reading import verify_ledger


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["ballot", "decide", "verify", "pages"])
    parser.add_argument("--size", type=float, default=1)
    parser.add_argument("--database", default="postgresql")
    args = parser.parse_args()
    with fresh_database(args.database, args.size) as url:
        app = create_app(bench_config(url))
        with app.app_context():
            flask_migrate.upgrade()
            seeded = seed(args.size)
            db.session.remove()
        profiler = Profiler(interval=0.0005)
        if args.what == "ballot":
            client = app.test_client()
            rng = random.Random(1)
            profiler.start()
            for number in range(50):
                votes = {str(pid): rng.choice([1, 2]) for pid in rng.sample(seeded.proposal_ids, 12)}
                response = client.put(
                    f"/api/v1/rounds/{seeded.quadratic_round}/ballot", data=json.dumps({"votes": votes}),
                    headers={"Authorization": f"Bearer {seeded.tokens[number % len(seeded.tokens)]}",
                             "Content-Type": "application/json"},
                )  # fmt: skip
                assert response.status_code == 200, response.get_data(as_text=True)
            profiler.stop()
        elif args.what == "decide":
            with app.app_context():
                profiler.start()
                _decide_once(seeded.quadratic_round, commit=True)
                profiler.stop()
        elif args.what == "verify":
            with app.app_context():
                profiler.start()
                assert all(report.result.ok for report in verify_ledger())
                profiler.stop()
        else:
            with app.app_context():
                _decide_once(seeded.quadratic_round, commit=True)
            client = app.test_client()
            _login(client)
            paths = [path.format(**seeded.url_ids()) for path in PAGES.values()]
            for path in paths:
                client.get(path)
            profiler.start()
            for _ in range(5):
                for path in paths:
                    assert client.get(path).status_code == 200
            profiler.stop()
        with app.app_context():
            db.engine.dispose()
    print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
