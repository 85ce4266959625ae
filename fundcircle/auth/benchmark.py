"""Endpoints for `make bench` only: the floor of the HTTP stack that the benchmark compares the app against.

Registered by `create_app` only when the configuration says `BENCHMARK_ENDPOINTS = True` (which nothing sets but
the benchmark's own gunicorn command line); never in development or production.
"""

from __future__ import annotations

from flask import Blueprint
from sqlalchemy import insert, text

from fundcircle.access import PUBLIC, requires
from fundcircle.auth.models import ThrottleEvent
from fundcircle.db import utcnow
from fundcircle.extensions import db

# Under /api/ so that, like an API call with a bearer token, no CSRF token is asked for.
bp = Blueprint("benchmark", __name__)


@bp.route("/api/_bench/insert", methods=["POST"])
@requires(PUBLIC)
def insert_one() -> tuple[str, int]:
    """Insert one row (the request boundary commits it): what any write request costs at least on this stack. The
    row weighs nothing in log-in throttling (weight 0)."""
    db.session.execute(insert(ThrottleEvent).values(key="benchmark", at=utcnow(), weight=0))
    return "ok", 200


@bp.route("/api/_bench/ping")
@requires(PUBLIC)
def ping() -> tuple[str, int]:
    """One trivial query: what any page costs at least on this stack."""
    db.session.execute(text("SELECT 1"))
    return "ok", 200
