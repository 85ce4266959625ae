"""`make bench`: Fund Circle at the size of a large community, each figure against a baseline from the same run.

For each database (PostgreSQL on the local server, then SQLite) and each size (x1, x4, x16 of bench/seed.py's
circle) it makes a fresh database, migrates and seeds it, starts gunicorn (2 workers) on it, and measures:

1. ballot saves per second through HTTP (bench/load.py, a process of its own) against floor (a), the same save
   written as raw SQL in its minimal form (bench/minimal_save.py, served by gunicorn with as many workers, on the
   same database, with the same requests), and against an endpoint of the same app that only inserts and commits
   one row (fundcircle/auth/benchmark.py, registered only in this configuration); floor (c), the CPU per request of
   each from the kernel's accounting of the workers (and, on PostgreSQL, of the server's processes), not only wall
   time; and floor (d), saves per second in one circle against four circles at once, with 8 and with 32 clients
   (the chain's head serialises the saves of one circle, so one circle has a ceiling that more circles do not);
2. deciding the quadratic round (advance_round to decided: tally, allocation, storing the result, payouts, ledger)
   against floor (b), raw SQL reading the votes and writing the same rows in one transaction (bench/decide.py);
3. `ledger verify` over every entry against a loop that reads the same rows and hashes their bytes;
4. p50/p95 latency of the pages in bench/pages.py under concurrent clients, against a page that runs one trivial
   query, and the number of SQL queries of each (which must not change with the size);
5. the peak memory of a gunicorn worker, and of a full `ledger export` (against exporting a tiny circle);
6. notices delivered per second by the worker's delivery job (bench/notices.py) against raw SMTP sends over one
   connection to the same local server.
7. the transparency log (bench/transparency.py): an append with the Merkle tree against the chain alone, and the
   time of an inclusion and of a consistency proof (flat from x1 to x16).

    .venv/bin/python -m bench.run [--sizes 1,4,16] [--databases postgresql,sqlite] [--seconds 10]

The table goes to standard output; every figure to bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import flask_migrate
import sqlalchemy as sa
from flask import Flask

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.decide import decide_figures  # noqa: E402
from bench.notices import notice_throughput  # noqa: E402
from bench.pages import PAGES  # noqa: E402
from bench.seed import VIEWER_EMAIL, VIEWER_PASSWORD, seed  # noqa: E402
from bench.transparency import transparency_figures  # noqa: E402
from fundcircle import create_app  # noqa: E402
from fundcircle.extensions import db  # noqa: E402

SECRET_KEY = "benchmark-secret-key-" + "x" * 32
DEFAULT_POSTGRESQL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
RESULTS = ROOT / "bench" / "results" / "latest.json"


@dataclass
class Figure:
    name: str
    size: str
    value: float
    unit: str
    baseline: float | None = None
    ratio: float | None = None
    goal: str | None = None
    met: bool | None = None


def bench_config(url: str) -> dict[str, Any]:
    return {"SECRET_KEY": SECRET_KEY, "SQLALCHEMY_DATABASE_URI": url, "BENCHMARK_ENDPOINTS": True, "MAIL_SERVER": ""}


@contextmanager
def fresh_database(kind: str, size: float) -> Iterator[str]:
    """A new, empty database for one size, dropped afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="fc-bench-") as folder:
            yield f"sqlite:///{folder}/bench.sqlite"
        return
    admin_url = os.environ.get("BENCH_POSTGRESQL_URL", DEFAULT_POSTGRESQL)
    name = f"fc_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


#: The pages' p95 goals in ms, held at x16 with PAGE_CLIENTS concurrent clients (issue 22).
P95_GOAL_MS = {"round page": 250, "proposal page (1,000 comments)": 400, "results page": 300, "ledger page": 250,
               "treasury page": 200}  # fmt: skip
PAGE_CLIENTS = 4
#: `ledger verify` against reading and hashing the same rows: SQLite's floor is nearer what verify must do.
VERIFY_GOAL = {"sqlite": 1.6, "postgresql": 1.3}

#: gunicorn's sync workers, for the app and for the minimal save alike.
WORKERS = 2
#: The WSGI app of floor (a), the raw-SQL minimal ballot save.
MINIMAL_SAVE = "bench.minimal_save:app"


class Server:
    """gunicorn with WORKERS sync workers serving the app in the benchmark configuration, or, given `wsgi`
    (MINIMAL_SAVE), that app instead on the same database."""

    def __init__(self, url: str, wsgi: str | None = None) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        factory = wsgi or f"fundcircle:create_app(test_config={bench_config(url)!r})"
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "gunicorn"), "--workers", str(WORKERS), "--bind",
             f"127.0.0.1:{self.port}", "--timeout", "600", "--log-level", "warning", "--chdir", str(ROOT), factory],
            env={**os.environ, "FUNDCIRCLE_ENV": "development", "BENCH_MINIMAL_DATABASE_URL": url},
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # up when both workers have answered the ping
            try:
                answered = 0
                for _ in range(4):
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
                    connection.request("GET", "/api/_bench/ping")
                    answered += connection.getresponse().status == 200
                    connection.close()
                if answered == 4:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        else:
            raise RuntimeError("gunicorn did not start")

    def workers(self) -> list[int]:
        return _children(self.process.pid)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU the processes have used so far, from the kernel's own accounting."""
    ticks = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile: a PostgreSQL backend of a closed connection
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return ticks / os.sysconf("SC_CLK_TCK")


def _postgres_pids() -> list[int]:
    """The local PostgreSQL server's processes (its backends do the database's work of every request)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@dataclass
class CpuPerRequest:
    """Milliseconds of CPU per answered request during a load phase: the app's workers, and the database server's
    processes (PostgreSQL only; SQLite's work is inside the workers)."""

    app_ms: float
    database_ms: float | None


def load_with_cpu(server: Server, job: dict[str, Any], kind: str, page: str) -> tuple[dict[str, Any], CpuPerRequest]:
    """`load`, with the CPU the workers and the database used per request of `page` while it ran. Backends that
    start during the phase count from zero, which is what they used; those that end during it are not counted."""
    workers = server.workers()
    database = _postgres_pids() if kind == "postgresql" else []
    app_before, database_before = _cpu_seconds(workers), _cpu_seconds(database)
    report = load(job)
    app_used = _cpu_seconds(workers) - app_before
    database_used = _cpu_seconds(_postgres_pids()) - database_before if database else None
    stats = report["pages"].get(page, {})
    # Every request of the phase used CPU, warm-up included: divide by all of them, not only the measured ones.
    answered = max(1, report.get("answered", {}).get(page, stats.get("count", 0)))
    return report, CpuPerRequest(
        1000 * app_used / answered, None if database_used is None else 1000 * database_used / answered
    )


def load(job: dict[str, Any]) -> dict[str, Any]:
    """Run bench/load.py in a process of its own and return its report."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "load.py")], input=json.dumps(job), capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"the load generator failed:\n{out.stderr}")
    report: dict[str, Any] = json.loads(out.stdout)
    if report["errors"]:
        print(f"    errors during {job['mode']}: {report['errors']}", file=sys.stderr)
    return report


def timed(action: Callable[[], Any]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def verify(app: Flask) -> tuple[float, float, int]:
    """(seconds of `ledger verify` over every chain, seconds to read the same rows and hash their bytes, entries)."""
    import hashlib

    from fundcircle.ledger.reading import verify_ledger

    with app.app_context():
        reports: list[Any] = []
        seconds = timed(lambda: reports.extend(verify_ledger()))
        assert all(report.result.ok for report in reports), [r.result for r in reports if not r.result.ok]
        count = sum(report.result.count for report in reports)
        chains = [report.chain_id for report in reports]
        db.session.remove()
        postgresql = db.engine.dialect.name == "postgresql"
        data = "data::text" if postgresql else "data"

        def read_and_hash() -> None:
            connection = db.engine.raw_connection()
            try:
                for chain_id in chains:
                    cursor = connection.cursor(name="baseline") if postgresql else connection.cursor()  # type: ignore[call-arg]
                    if postgresql:
                        cursor.itersize = 2000
                    cursor.execute(
                        f"SELECT seq, at, circle_id, actor_id, action, subject_type, subject_id, {data}, prev_hash,"
                        f" hash FROM ledger_entries WHERE chain_id = {int(chain_id)} ORDER BY seq"
                    )
                    for row in cursor:
                        hashlib.sha256(b"|".join(str(value).encode() for value in row)).hexdigest()
                    cursor.close()
                connection.rollback()
            finally:
                connection.close()

        baseline = timed(read_and_hash)
    return seconds, baseline, count


def export_memory_kb(url: str, slug: str) -> int:
    """Peak resident memory of `flask ledger export` of one circle (its output thrown away)."""
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": SECRET_KEY, "FUNDCIRCLE_ENV": "development"}
    # The command runs in a fresh interpreter that reports its own VmHWM: a child's ru_maxrss would include the
    # memory of this (large) process it was forked from.
    script = (
        "import sys\nfrom flask.cli import main\n"
        f"sys.argv = ['flask', '--app', 'fundcircle', 'ledger', 'export', '--circle', {slug!r}, '--format', 'jsonl']\n"
        "try:\n    main()\nexcept SystemExit as stop:\n    assert not stop.code, stop.code\n"
        "print([l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1], file=sys.stderr)\n"
    )
    with open(os.devnull, "w") as sink:
        out = subprocess.run([sys.executable, "-c", script], stdout=sink, stderr=subprocess.PIPE, text=True, env=env,
                             cwd=ROOT)  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"ledger export failed ({out.returncode}): {out.stderr[-2000:]}")
    return int(out.stderr.strip().splitlines()[-1])


def _login(client: Any) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page)
    assert token
    response = client.post("/login", data={"csrf_token": token.group(1), "email": VIEWER_EMAIL,
                                           "password": VIEWER_PASSWORD})  # fmt: skip
    assert response.status_code == 302, response.status_code


def query_counts(app: Flask, pages: dict[str, str]) -> dict[str, int]:
    """How many SQL statements each page runs (its second view, signed in as the viewer)."""
    client = app.test_client()
    _login(client)
    counts = {}
    with app.app_context():
        engine = db.engine
    for name, path in pages.items():
        assert client.get(path).status_code == 200, (name, path)
        statements: list[str] = []

        def count(*args: Any, seen: list[str] = statements) -> None:
            seen.append(args[2])

        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            status = client.get(path).status_code
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        assert status == 200, (name, path, status)
        counts[name] = len(statements)
    return counts


def at_most(limit: float) -> Callable[[float], bool]:
    return lambda value: value <= limit


def measure(kind: str, size: float, seconds: float, clients: int) -> list[Figure]:
    label = f"x{size:g}"
    figures: list[Figure] = []

    def add(name: str, value: float, unit: str, baseline: float | None = None, goal: str | None = None,
            check: Callable[[float], bool] | None = None, *, of_value: bool = False) -> None:  # fmt: skip
        """`check` is given the ratio to the baseline, or the value itself where there is none or `of_value`."""
        ratio = value / baseline if baseline else None
        met = check(value if of_value or ratio is None else ratio) if check is not None else None
        figures.append(Figure(f"{kind}: {name}", label, round(value, 4), unit,
                              None if baseline is None else round(baseline, 4),
                              None if ratio is None else round(ratio, 3), goal, met))  # fmt: skip

    with fresh_database(kind, size) as url:
        app = create_app(bench_config(url))
        with app.app_context():
            flask_migrate.upgrade()
            started = time.perf_counter()
            seeded = seed(size)
            seeding = time.perf_counter() - started
            db.session.remove()
        print(f"  {kind} {label}: seeded {seeded.ledger_entries:,} ledger entries, {seeded.ballots:,} ballots"
              f" in {seeding:.1f} s", file=sys.stderr)  # fmt: skip
        add("seeding time", seeding, "s")

        server = Server(url)
        try:
            common = {"base": server.base, "clients": clients, "seconds": seconds, "warmup": 1.0}
            base_report, insert_cpu = load_with_cpu(server, {**common, "mode": "baseline"}, kind, "baseline")
            idle_kb = max(_status_kb(pid, "VmRSS") for pid in server.workers())
            one_circle = {"mode": "ballots", "targets": [asdict(seeded.voting[0])]}
            four_circles = {"mode": "ballots", "targets": [asdict(voting) for voting in seeded.voting]}
            ballot_report, save_cpu = load_with_cpu(server, {**common, **one_circle}, kind, "ballot")
            saves = ballot_report["pages"].get("ballot", {}).get("per_second", 0.0)
            inserts = base_report["pages"]["baseline"]["per_second"]
            # Floor (a): the same requests against the raw-SQL minimal save, on the same database, alone on the
            # machine (the app's workers stay idle meanwhile).
            minimal = Server(url, MINIMAL_SAVE)
            try:
                minimal_report, minimal_cpu = load_with_cpu(minimal, {**common, **one_circle, "base": minimal.base},
                                                            kind, "ballot")  # fmt: skip
            finally:
                minimal.stop()
            minimal_saves = minimal_report["pages"].get("ballot", {}).get("per_second", 0.0)
            add("ballot saves (HTTP) vs the raw-SQL minimal save", saves, "per s", minimal_saves, ">= 0.5",
                lambda r: r >= 0.5)  # fmt: skip
            add("ballot saves (HTTP) vs a one-row insert", saves, "per s", inserts)
            add("app CPU per ballot save", save_cpu.app_ms, "ms", insert_cpu.app_ms, "<= 3", lambda r: r <= 3)
            if save_cpu.database_ms is not None and insert_cpu.database_ms is not None:
                add("database CPU per ballot save", save_cpu.database_ms, "ms", insert_cpu.database_ms)
            add("minimal save: saves (HTTP)", minimal_saves, "per s", inserts)
            add("minimal save: app CPU per save", minimal_cpu.app_ms, "ms", insert_cpu.app_ms)
            if minimal_cpu.database_ms is not None and insert_cpu.database_ms is not None:
                add("minimal save: database CPU per save", minimal_cpu.database_ms, "ms", insert_cpu.database_ms)

            # Floor (d): one circle's ceiling. Each 4-circle figure's baseline is one circle with as many clients.
            per_circle: dict[tuple[int, int], float] = {}
            for many in (8, 32):
                for targets, circles in ((one_circle, 1), (four_circles, 4)):
                    if circles == 1 and many == clients:
                        per_circle[(1, many)] = saves  # the run above is this one
                        continue
                    report = load({**common, **targets, "clients": many})
                    per_circle[(circles, many)] = report["pages"].get("ballot", {}).get("per_second", 0.0)
            for many in (8, 32):
                add(f"ballot saves, 1 circle, {many} clients", per_circle[(1, many)], "per s")
                add(f"ballot saves, 4 circles, {many} clients", per_circle[(4, many)], "per s", per_circle[(1, many)])

            decided = decide_figures(app, seeded)
            # Floor (b): raw SQL writing the same rows in one transaction (bench/decide.py).
            add("decide quadratic round", decided.decide_s, "s", decided.floor_s, "<= 2", lambda r: r <= 2)
            add("decide: raw SUM of the votes alone", decided.sum_s, "s")
            # Not held to "same at every size": batched INSERTs go out 1,000 rows a statement (SQLAlchemy's
            # insertmanyvalues), so x16's 8,000 results take a few more statements than x1's 500.
            add("decide SQL statements", decided.statements, "statements")

            ids = seeded.url_ids()
            pages = {name: path.format(**ids) for name, path in PAGES.items()}
            page_clients = max(2, clients // 2)
            page_report = load({**common, "mode": "pages", "clients": page_clients,
                                "pages": {**pages, "ping": "/api/_bench/ping"}, "email": VIEWER_EMAIL,
                                "password": VIEWER_PASSWORD})["pages"]  # fmt: skip
            ping = page_report["ping"]
            for name in pages:
                stats = page_report.get(name, {"p50": float("nan"), "p95": float("nan")})
                add(f"{name} p50", stats["p50"] * 1000, "ms", ping["p50"] * 1000)
                # The goal is the p95 at x16 with PAGE_CLIENTS clients; smaller sizes show the trend.
                limit = P95_GOAL_MS[name] if size == 16 and page_clients == PAGE_CLIENTS else None
                add(f"{name} p95", stats["p95"] * 1000, "ms", ping["p95"] * 1000,
                    None if limit is None else f"<= {limit} ms at x16",
                    None if limit is None else at_most(limit), of_value=True)  # fmt: skip
            worker_peak_kb = max(_status_kb(pid, "VmHWM") for pid in server.workers())
            add("gunicorn worker peak memory", worker_peak_kb / 1024, "MiB", idle_kb / 1024)
        finally:
            server.stop()

        for name, count in query_counts(app, pages).items():
            add(f"{name} SQL queries", count, "queries")

        tlog = transparency_figures(app, seeded.circle)
        add("ledger append with the Merkle tree", tlog["append with tree ms"], "ms", tlog["append without tree ms"])
        add("inclusion proof", tlog["inclusion proof ms"], "ms")
        add("consistency proof", tlog["consistency proof ms"], "ms")

        verify_s, read_s, entries = verify(app)
        verify_goal = VERIFY_GOAL[kind]
        add("ledger verify", verify_s, "s", read_s, f"<= {verify_goal:g}", lambda r: r <= verify_goal)
        small_kb = export_memory_kb(url, seeded.small_circle_slug)
        full_kb = export_memory_kb(url, seeded.circle_slug)
        add("ledger export peak memory", full_kb / 1024, "MiB", small_kb / 1024, "<= 1.25", lambda r: r <= 1.25)
        delivered, raw_sends = notice_throughput(app, 300)
        add("notices delivered by the worker", delivered, "per s", raw_sends, ">= 0.1", lambda r: r >= 0.1)
        with app.app_context():
            db.engine.dispose()
    return figures


def finish_query_goals(figures: list[Figure]) -> None:
    """A page's query count must be the same at every size: the smallest size's count is its baseline."""
    first: dict[str, float] = {}
    for figure in figures:
        if figure.unit == "queries":
            first.setdefault(figure.name, figure.value)
            figure.baseline = first[figure.name]
            figure.ratio = round(figure.value / figure.baseline, 3) if figure.baseline else None
            figure.goal, figure.met = "same at every size", figure.value == figure.baseline


def table(figures: list[Figure]) -> str:
    sizes = list(dict.fromkeys(f.size for f in figures))
    names = list(dict.fromkeys(f.name for f in figures))
    by = {(f.name, f.size): f for f in figures}
    head = ["figure", "unit"] + [f"{s} (ratio)" for s in sizes] + [f"growth {sizes[0]}→{sizes[-1]}", "goal", "met"]
    rows = [head]
    for name in names:
        row = [name, by.get((name, sizes[0]), next(f for f in figures if f.name == name)).unit]
        for size in sizes:
            f = by.get((name, size))
            row.append("" if f is None else f"{f.value:,.4g}" + (f" ({f.ratio:.3g})" if f.ratio is not None else ""))
        first, last = by.get((name, sizes[0])), by.get((name, sizes[-1]))
        growth = last.value / first.value if first and last and first.value else None
        row.append(f"{growth:.2f}x" if growth is not None and len(sizes) > 1 else "")
        row.append(next((f.goal for f in figures if f.name == name and f.goal), "") or "")
        mets = [f.met for f in figures if f.name == name and f.met is not None]
        row.append("" if not mets else ("yes" if all(mets) else "NO"))
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["| " + " | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) + " |" for r in rows]
    lines.insert(1, "|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,4,16")
    parser.add_argument("--databases", default="postgresql,sqlite")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds of each load phase")
    parser.add_argument("--clients", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    figures: list[Figure] = []
    for kind in args.databases.split(","):
        for size in (float(s) for s in args.sizes.split(",")):
            figures += measure(kind, size, args.seconds, args.clients)
    finish_query_goals(figures)
    print(table(figures))
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps([asdict(f) for f in figures], indent=1) + "\n")
    missed = [f"{f.name} at {f.size}" for f in figures if f.met is False]
    print(f"\n{len(figures)} figures written to {args.output}; goals missed: {', '.join(missed) or 'none'}")


if __name__ == "__main__":
    main()
