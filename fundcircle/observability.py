"""Logs and metrics for whoever hosts Fund Circle.

- Every request has an id: the one a proxy in front sent in `X-Request-ID` (if it looks like one), otherwise a new
  one. It is in the response's `X-Request-ID` header and on every log line written while the request is served, so
  a member's "it went wrong at 14:02" and the server's log meet.
- In production (or with LOG_FORMAT=json) every log line is one JSON object on standard error, for journald, Docker
  or a log shipper; in development lines stay readable text.
- The access log is written here, not by gunicorn (whose access log would print URLs as sent): a URL argument that
  is a secret (the Open Collective webhook's secret, an invitation's token) is logged as `[redacted]`, and so is
  the value of any query parameter whose name says it is secret.
- Prometheus metrics at /metrics when METRICS_TOKEN is set (sent as `Authorization: Bearer <token>`): requests and
  latencies per route, and gauges read from the database when scraped (payouts by status, connected by the app
  factory). Gauges of other parts (the worker's queue) join with `register_gauge_source`.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Flask, Response, abort, current_app, g, has_request_context, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from fundcircle.access import PUBLIC, requires
from fundcircle.extensions import db

access_log = logging.getLogger("fundcircle.access")

#: A request id sent by a proxy is used only if it is this plain (it goes into every log line and a header).
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
REQUEST_ID_HEADER = "X-Request-ID"

#: URL arguments whose values are secrets: whoever reads the logs must not be able to replay them.
SECRET_URL_ARGUMENTS = frozenset({"secret", "token"})
#: Query parameters are redacted when their name contains one of these.
SECRET_QUERY_WORDS = ("token", "secret", "key", "password", "code", "signature")
REDACTED = "[redacted]"
RULE_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

# The process's own metrics. Under gunicorn with several workers, PROMETHEUS_MULTIPROC_DIR (an empty directory
# writable by the app) makes prometheus-client keep them in files that a scrape of any worker adds up.
REQUEST_METRICS = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "fundcircle_http_requests",
    "Requests answered, by method, route (the URL rule, not the URL) and status code.",
    ["method", "route", "status"],
    registry=REQUEST_METRICS,
)
REQUEST_SECONDS = Histogram(
    "fundcircle_http_request_duration_seconds",
    "Time from receiving a request to answering it, by method and route.",
    ["method", "route"],
    registry=REQUEST_METRICS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)

#: A source of gauges read when /metrics is scraped (from the database, so every app server reports the same).
GaugeSource = Callable[[], Iterable[Metric]]
GAUGE_SOURCES: dict[str, GaugeSource] = {}


def register_gauge_source(name: str, source: GaugeSource) -> None:
    """Add gauges to /metrics (a later registration under the same name replaces the earlier one)."""
    GAUGE_SOURCES[name] = source


def counts_by_status(name: str, description: str, table: sa.Table, statuses: Iterable[str]) -> GaugeSource:
    """A gauge source: the rows of `table` by their `status` column, every known status listed (0 if none), so that
    a status a dashboard watches never disappears. The app factory connects the areas' tables (payouts by status)."""
    known = tuple(statuses)

    def source() -> Iterable[Metric]:
        query = sa.select(table.c.status, sa.func.count()).group_by(table.c.status)
        counts: dict[str, int] = {status: count for status, count in db.session.execute(query).all()}
        gauge = GaugeMetricFamily(name, description, labels=["status"])
        for status in known:
            gauge.add_metric([status], counts.get(status, 0))
        return [gauge]

    return source


class _GaugeSources(Collector):
    def collect(self) -> Iterable[Metric]:
        for source in GAUGE_SOURCES.values():
            yield from source()


def current_request_id() -> str:
    """The request's id, or "-" outside a request (a command, the worker)."""
    if has_request_context():
        return str(g.get("request_id", "-"))
    return "-"


class RequestIdFilter(logging.Filter):
    """Puts the request id on every record, whoever logs it (our code, SQLAlchemy, Werkzeug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, the record's `fields` and any error."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", "-"),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def configure_logging(log_format: str, level: str) -> None:
    """Send the root logger's records to standard error, as JSON lines or as text, each with its request id.
    Replaces the handler this function installed before (the app factory may run more than once)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "fundcircle", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.fundcircle = True  # type: ignore[attr-defined]
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    root.addHandler(handler)
    root.setLevel(level.upper())


def redacted_path() -> str:
    """The request's path with secret URL arguments and secret query values replaced by [redacted]."""
    rule, arguments = request.url_rule, request.view_args or {}
    if rule is not None:

        def fill(match: re.Match[str]) -> str:
            name = match.group(1)
            return REDACTED if name in SECRET_URL_ARGUMENTS else str(arguments.get(name, match.group(0)))

        path = RULE_ARGUMENT.sub(fill, rule.rule)
    else:
        path = request.path
    if request.args:
        query = "&".join(
            f"{name}={REDACTED if any(word in name.lower() for word in SECRET_QUERY_WORDS) else value}"
            for name, value in request.args.items(multi=True)
        )
        path = f"{path}?{query}"
    return path


def _route_label() -> str:
    return request.url_rule.rule if request.url_rule is not None else "unmatched"


def init_observability(app: Flask) -> None:
    """Request ids, the access log and request metrics for every request; /metrics when METRICS_TOKEN is set.
    Registered before the other request hooks, so that the access log sees the response as finally sent."""
    if app.config["LOG_FORMAT"] != "none":
        configure_logging(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])

    @app.before_request
    def start_request() -> None:
        g.request_started = time.perf_counter()
        sent = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = sent if REQUEST_ID.fullmatch(sent) else uuid.uuid4().hex

    @app.after_request
    def log_and_count(response: Response) -> Response:
        seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
        route = _route_label()
        REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        REQUEST_SECONDS.labels(request.method, route).observe(seconds)
        response.headers[REQUEST_ID_HEADER] = current_request_id()
        access_log.info(
            "%s %s %s",
            request.method,
            redacted_path(),
            response.status_code,
            extra={
                "fields": {
                    "method": request.method,
                    "path": redacted_path(),
                    "route": route,
                    "status": response.status_code,
                    "duration_ms": round(seconds * 1000, 1),
                    "client": request.remote_addr,
                }
            },
        )
        return response

    if app.config["METRICS_TOKEN"]:
        app.register_blueprint(metrics_bp)


metrics_bp = Blueprint("metrics", __name__)


@metrics_bp.get("/metrics")
@requires(PUBLIC)  # guarded by METRICS_TOKEN below, which is not a person's account
def metrics() -> Response:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    expected = current_app.config["METRICS_TOKEN"]
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        abort(404)  # to anybody without the token, there is no such page
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process_metrics = CollectorRegistry()
        MultiProcessCollector(process_metrics)  # type: ignore[no-untyped-call]  # prometheus-client is untyped here
    else:
        process_metrics = REQUEST_METRICS
    database_metrics = CollectorRegistry()
    database_metrics.register(_GaugeSources())
    body = generate_latest(process_metrics) + generate_latest(database_metrics)
    return Response(body, content_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})
