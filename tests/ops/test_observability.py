"""Request ids, JSON logs without secrets, and Prometheus metrics behind METRICS_TOKEN."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from fundcircle import create_app
from fundcircle.extensions import db
from fundcircle.notices import OutboxNotice
from fundcircle.payouts.models import PAYOUT_STATUSES
from tests.conftest import test_config
from tests.factories import add_member, make_circle, make_funded_round, make_user

METRICS_TOKEN = "metrics-token-for-the-tests-0123456789"


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The JSON lines written to standard error since the last call; the app's log handler is removed after."""

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]

    yield lines
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "fundcircle", False):
            root.removeHandler(handler)
    root.setLevel(logging.WARNING)


def test_every_response_carries_a_fresh_request_id(app: Flask) -> None:
    client = app.test_client()
    first, second = client.get("/healthz"), client.get("/")
    for response in (first, second):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_a_proxys_request_id_is_kept_and_a_strange_one_replaced(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/healthz", headers={"X-Request-ID": "edge-4f1c.77"}).headers["X-Request-ID"] == "edge-4f1c.77"
    replaced = client.get("/healthz", headers={"X-Request-ID": "a b\tc" + "x" * 80}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", replaced)


def test_production_logs_are_json_lines_with_the_request_id(
    make_app: Callable[..., Flask], json_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    app = make_app(LOG_FORMAT="json", LOG_LEVEL="INFO")
    json_logs()
    response = app.test_client().get("/healthz?page=2")
    (line,) = [line for line in json_logs() if line["logger"] == "fundcircle.access"]
    assert line["request_id"] == response.headers["X-Request-ID"]
    assert line["message"] == "GET /healthz?page=2 200"
    assert line["method"] == "GET" and line["route"] == "/healthz" and line["status"] == 200
    assert line["level"] == "info" and isinstance(line["duration_ms"], float)


def test_the_servers_own_log_lines_during_a_request_carry_its_id(json_logs: Callable[[], list[dict[str, Any]]]) -> None:
    app = create_app(
        test_config("postgresql+psycopg://fundcircle:pw@127.0.0.1:1/nowhere", LOG_FORMAT="json", LOG_LEVEL="INFO")
    )
    json_logs()
    response = app.test_client().get("/readyz")
    lines = json_logs()
    failure = next(line for line in lines if line["message"] == "readiness check database failed")
    assert failure["level"] == "error" and "OperationalError" in failure["error"]
    assert {line["request_id"] for line in lines} == {response.headers["X-Request-ID"]}
    with app.app_context():
        db.engine.dispose()


def test_the_access_log_never_holds_the_webhook_secret_or_an_invitation_token(
    make_app: Callable[..., Flask], json_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    app = make_app(LOG_FORMAT="json", LOG_LEVEL="INFO")
    client = app.test_client()
    json_logs()
    client.post("/hooks/opencollective/webhook-secret-9f8e7d", json={"type": "collective.expense.paid"})
    client.get("/invitations/invitation-token-5a4b3c")
    client.get("/healthz?token=query-token-1a2b&page=3")
    lines = [line for line in json_logs() if line["logger"] == "fundcircle.access"]
    assert [line["path"] for line in lines] == [
        "/hooks/opencollective/[redacted]",
        "/invitations/[redacted]",
        "/healthz?token=[redacted]&page=3",
    ]
    text = json.dumps(lines)
    for secret in ("webhook-secret-9f8e7d", "invitation-token-5a4b3c", "query-token-1a2b"):
        assert secret not in text


def test_metrics_do_not_exist_without_the_setting(app: Flask) -> None:
    assert app.test_client().get("/metrics").status_code == 404


def test_metrics_need_the_token(make_app: Callable[..., Flask]) -> None:
    client = make_app(METRICS_TOKEN=METRICS_TOKEN).test_client()
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": "Bearer not-the-token"}).status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200


def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{key}="{value}"' for key, value in labels.items())
    for line in text.splitlines():
        metric, _, value = line.rpartition(" ")
        if metric == f"{name}{{{wanted}}}" or (not labels and metric == name):
            return float(value)
    return 0.0


def test_metrics_count_requests_and_latencies_per_route_and_payouts_by_status(make_app: Callable[..., Flask]) -> None:
    app = make_app(METRICS_TOKEN=METRICS_TOKEN)
    with app.app_context():
        admin, voter = make_user(), make_user()
        circle = make_circle(admin)
        circle_id = circle.id
        add_member(circle, voter, ["member", "circle"], by=admin)
        make_funded_round(
            circle, admin, voter, [{"author": admin, "title": "Seeds"}, {"author": admin, "title": "Tools"}]
        )
    client = app.test_client()
    scrape = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    before = client.get("/metrics", headers=scrape).get_data(as_text=True)
    for _ in range(3):
        client.get("/healthz")
    client.get(f"/circles/{circle_id}/nothing-here")
    after = client.get("/metrics", headers=scrape).get_data(as_text=True)

    requests = "fundcircle_http_requests_total"
    healthz = {"method": "GET", "route": "/healthz", "status": "200"}
    assert _sample(after, requests, **healthz) - _sample(before, requests, **healthz) == 3
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert _sample(after, requests, **unmatched) - _sample(before, requests, **unmatched) == 1
    latency = "fundcircle_http_request_duration_seconds_count"
    assert (
        _sample(after, latency, method="GET", route="/healthz")
        - _sample(before, latency, method="GET", route="/healthz")
        == 3
    )
    assert _sample(after, "fundcircle_payouts", status="awaiting_approval") == 2
    # The tests' app mails at once after each commit (WORKER_IMMEDIATE) and has no mail server: the round's notices
    # wait in the outbox, none has failed yet.
    with app.app_context():
        waiting = db.session.scalar(
            sa.select(sa.func.count()).where(OutboxNotice.sent_at.is_(None), OutboxNotice.delivery == "immediate")
        )
    assert waiting and _sample(after, "fundcircle_notices_waiting") == waiting
    assert _sample(after, "fundcircle_notices_failing") == 0
    for status in PAYOUT_STATUSES:
        assert f'fundcircle_payouts{{status="{status}"}}' in after
