"""Health: /healthz says the process answers; /readyz says it can serve (its checks pass), for load balancers,
container orchestrators and a host's monitoring.

Neither says anything secret: no addresses, versions of installed packages, database URLs or error texts, only
each check's name, whether it passed, and a fixed sentence about what to look at. A failing check's exception is
logged on the server, where the host can read it.

Readiness checks are a small registry: `READINESS_CHECKS` maps a name to a function of the app that returns None
when ready or a sentence saying what is wrong. The worker's heartbeat check joins it where the worker exists
(`register_readiness_check("worker", ...)`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, Flask, Response, current_app, jsonify

from fundcircle.access import PUBLIC, requires
from fundcircle.extensions import db

log = logging.getLogger(__name__)

#: A readiness check: None when ready, otherwise a sentence (no secrets) saying what is not.
ReadinessCheck = Callable[[Flask], str | None]

#: The checks /readyz runs, in order, by name.
READINESS_CHECKS: dict[str, ReadinessCheck] = {}

bp = Blueprint("health", __name__)


def register_readiness_check(name: str, check: ReadinessCheck) -> None:
    """Add a check to /readyz (a later registration under the same name replaces the earlier one)."""
    READINESS_CHECKS[name] = check


def migration_heads(app: Flask) -> set[str]:
    """The revisions the code's migrations end at (read from the package's migration scripts)."""
    config = Config()
    config.set_main_option("script_location", str(Path(app.root_path) / "migrations"))
    return set(ScriptDirectory.from_config(config).get_heads())


def database_reachable(_app: Flask) -> str | None:
    with db.engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))
    return None


def migrations_at_head(app: Flask) -> str | None:
    expected = app.extensions.setdefault("fundcircle_migration_heads", migration_heads(app))
    with db.engine.connect() as connection:
        current = set(MigrationContext.configure(connection).get_current_heads())
    if current == expected:
        return None
    if not current:
        return "the database has no schema yet: run `flask --app fundcircle db upgrade`"
    return "the database's schema is not the code's: run `flask --app fundcircle db upgrade`"


register_readiness_check("database", database_reachable)
register_readiness_check("migrations", migrations_at_head)


def run_readiness_checks(app: Flask) -> dict[str, str | None]:
    """Every registered check's outcome by name: None when it passed, else what is wrong."""
    outcomes: dict[str, str | None] = {}
    for name, check in READINESS_CHECKS.items():
        try:
            outcomes[name] = check(app)
        except Exception:
            # The exception's text may name hosts, users or paths: it goes to the server's log only.
            log.exception("readiness check %s failed", name)
            outcomes[name] = "the check failed; the server's log says why"
    return outcomes


@bp.get("/healthz")
@requires(PUBLIC)
def healthz() -> Response:
    """The process is up and answers requests; touches nothing else."""
    response = jsonify(status="ok")
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/readyz")
@requires(PUBLIC)
def readyz() -> tuple[Response, int]:
    outcomes = run_readiness_checks(current_app)
    ready = all(problem is None for problem in outcomes.values())
    checks = {
        name: {"ok": True} if problem is None else {"ok": False, "problem": problem}
        for name, problem in outcomes.items()
    }
    response = jsonify(status="ready" if ready else "not ready", checks=checks)
    response.headers["Cache-Control"] = "no-store"
    return response, 200 if ready else 503
