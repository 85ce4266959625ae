"""Fund Circle: a community gives out a shared micro-fund together."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Flask, request, session
from flask_babel import gettext
from flask_login import current_user
from huey import crontab
from werkzeug.exceptions import BadRequest
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from fundcircle import health, unit_of_work
from fundcircle.attachments import api as attachments_api
from fundcircle.attachments import views as attachments_views
from fundcircle.auth import api as auth_api
from fundcircle.auth import benchmark
from fundcircle.auth import cli as auth_cli
from fundcircle.auth import views as auth_views
from fundcircle.auth.services import user_for_session
from fundcircle.auth.tokens import authenticate_bearer
from fundcircle.backup import backup_command, restore_command
from fundcircle.circles import api as circles_api
from fundcircle.circles import views as circles_views
from fundcircle.circles.models import ROLE_LABELS, ROLES
from fundcircle.circles.rotation import draw_due_calls
from fundcircle.config import engine_options, load_config
from fundcircle.consent import api as consent_api
from fundcircle.consent import views as consent_views
from fundcircle.db import configure_sqlite, utcnow
from fundcircle.deliberation import api as deliberation_api
from fundcircle.deliberation import views as deliberation_views
from fundcircle.demo import demo_command
from fundcircle.errors import error_response, is_api_request, register_error_handlers
from fundcircle.extensions import csrf, db, login_manager, migrate
from fundcircle.i18n import init_i18n, translated
from fundcircle.inbox import api as inbox_api
from fundcircle.inbox import cli as inbox_cli  # noqa: F401  # adds `rounds remind` to the rounds commands
from fundcircle.inbox import views as inbox_views
from fundcircle.inbox.notifications import unread_count
from fundcircle.inbox.services import send_deadline_reminders
from fundcircle.input_limits import NUL_MESSAGE, UNNAMED_PART_MESSAGE, InputRefused, check_json, contains_nul
from fundcircle.learning import api as learning_api
from fundcircle.learning import views as learning_views
from fundcircle.learning.reminders import send_report_reminders
from fundcircle.ledger import api as ledger_api
from fundcircle.ledger import cli as ledger_cli
from fundcircle.ledger import views as ledger_views
from fundcircle.ledger.checkpoints import make_due_checkpoints
from fundcircle.mail import init_mail
from fundcircle.notices import checkpoint_of
from fundcircle.observability import counts_by_status, init_observability, register_gauge_source
from fundcircle.openapi import init_api
from fundcircle.payouts import api as payouts_api
from fundcircle.payouts import cli as payouts_cli
from fundcircle.payouts import views as payouts_views
from fundcircle.payouts.models import PAYOUT_STATUSES, Payout
from fundcircle.payouts.requesting import submit_due_payouts, sync_open_payouts
from fundcircle.phrases import N_
from fundcircle.proposals import api as proposals_api
from fundcircle.proposals import views as proposals_views
from fundcircle.rounds import api as rounds_api
from fundcircle.rounds import cli as rounds_cli
from fundcircle.rounds import views as rounds_views
from fundcircle.rounds.phases import EFFECTIVE_PHASES, PHASES
from fundcircle.rounds.services import advance_due_rounds
from fundcircle.rounds.words import PHASE_NAMES, phase_word
from fundcircle.unit_of_work import SAFE_METHODS
from fundcircle.voting import api as voting_api
from fundcircle.voting import views as voting_views
from fundcircle.worker import (
    init_worker,
    notices_cli,
    queue_gauges,
    register_periodic_job,
    worker_alive,
    worker_command,
)

log = logging.getLogger(__name__)


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app. `test_config` overrides the configuration that the environment gives."""
    # Templates, static files and migrations are package data (fundcircle/templates, static, migrations), so an
    # installed wheel has them as the checkout does.
    app = Flask(__name__, instance_relative_config=True, template_folder="templates", static_folder="static")
    # Ids in URLs fit the database's integer columns; a larger number is a 404, never an overflow.
    app.url_map.converters["int"] = BoundedIntConverter
    secret_key_given = bool(test_config and test_config.get("SECRET_KEY"))
    app.config.from_mapping(load_config(Path(app.instance_path), secret_key_given=secret_key_given))
    if test_config:
        app.config.from_mapping(test_config)

    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(
        app.config["SQLALCHEMY_DATABASE_URI"], app.config["SQLALCHEMY_ENGINE_OPTIONS"]
    )

    if app.config["PROXY_COUNT"]:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]

    db.init_app(app)
    migrate.init_app(app, db, directory=str(Path(app.root_path) / "migrations"), compare_type=True)
    csrf.init_app(app)
    init_mail(app)
    init_worker(app)
    _init_login(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)

    register_error_handlers(app)
    # First, so that its after-request hook runs last and logs and counts the response as sent.
    init_observability(app)
    _register_request_hooks(app)
    _register_blueprints(app)
    _register_cli(app)
    _register_template_helpers(app)
    init_i18n(app)  # after the helpers: its money and datetime filters are the pages' own
    return app


# /metrics' gauges read from the database (so that every app server reports the same numbers).
register_gauge_source(
    "payouts",
    counts_by_status("fundcircle_payouts", "Payouts by status, in all circles.", Payout.__table__, PAYOUT_STATUSES),
)
register_gauge_source("notices", queue_gauges)


# The worker's periodic jobs from the areas (fundcircle/worker.py runs them; each is also a `flask` command).
def _tick_rounds(now: datetime) -> str:
    moved = advance_due_rounds(now)
    unit_of_work.commit()
    return f"{len(moved)} round(s) moved on"


def _tick_rotation(now: datetime) -> str:
    drawn = draw_due_calls(now)
    unit_of_work.commit()
    return f"{drawn} call(s) for volunteers drawn"


def _submit_payouts(now: datetime) -> str:
    return f"{len(submit_due_payouts(now))} payout(s) handled"


def _sync_payouts(now: datetime) -> str:
    changed, problems = sync_open_payouts(now)
    return f"{changed} payout(s) changed, {len(problems)} problem(s)"


def _remind_deadlines(now: datetime) -> str:
    return f"{send_deadline_reminders(now)} reminder(s) sent"


def _remind_reports(now: datetime) -> str:
    return f"{send_report_reminders(now)} learning report reminder(s) sent"


def _sign_checkpoints(now: datetime) -> str:
    return f"{make_due_checkpoints(now)} ledger checkpoint(s) signed"


register_periodic_job("rounds tick", crontab(minute="*"), _tick_rounds)
# Rotating circles: draws the calls for volunteers that have closed, and ends the terms that are up.
register_periodic_job("rotation tick", crontab(minute="*"), _tick_rotation)
register_periodic_job("payouts submit", crontab(minute="*"), _submit_payouts)
register_periodic_job("payouts sync", crontab(minute="*/10"), _sync_payouts)
register_periodic_job("rounds remind", crontab(minute="*/5"), _remind_deadlines)
# Learning reports of paid proposals: once before each is due, once when it is overdue (issue 19).
register_periodic_job("reports remind", crontab(minute="7"), _remind_reports)
# Signs a checkpoint of each log that grew, at most once a day per log (and sends them to the witnesses).
register_periodic_job("ledger checkpoint", crontab(minute="17"), _sign_checkpoints)
# /readyz: besides the database and the migrations, a worker that beat within the last minutes.
health.register_readiness_check("worker", worker_alive)


class BoundedIntConverter(IntegerConverter):
    def __init__(self, url_map: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, **kwargs)


def _init_login(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    # Flashed into the session, which keeps plain text only: marked here, said in the request's language there.
    login_manager.login_message = N_("Log in to see this page.")
    login_manager.localize_callback = gettext
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user_from_session(user_id: str) -> Any:
        if is_api_request() and request.headers.get("Authorization"):
            return None  # a bearer token speaks for this request, not the cookie
        token = session.get("sid")
        if not token:
            return None
        # The idle limit: the time of the session's last request is in the session cookie, which the server signs,
        # so a client cannot move it; the absolute limit is checked against the session's row (user_for_session).
        # Kept in the cookie, not the row, because a read (GET) must write nothing to the database.
        now = utcnow()
        seen = session.get("seen")
        if not isinstance(seen, int) or now.timestamp() - seen > app.config["SESSION_IDLE_MINUTES"] * 60:
            return None
        user = user_for_session(token, now)
        if user is None or str(user.id) != user_id:
            return None
        if now.timestamp() - seen >= 60:  # at most once a minute, so that the cookie is not re-sent on every request
            session["seen"] = int(now.timestamp())
        return user


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def allow_files_where_files_are_sent() -> None:
        """The routes that take a file may carry one as large as an attachment may be; every other request keeps the
        small MAX_CONTENT_LENGTH (set before anything reads the body)."""
        if request.endpoint in attachments_views.UPLOAD_ENDPOINTS:
            request.max_content_length = app.config["ATTACHMENTS_MAX_BYTES"] + 64 * 1024

    @app.before_request
    def refuse_hostile_input() -> None:
        """PostgreSQL cannot store NUL in text and no person types one; JSON integers of thousands of digits and
        JSON nested a thousand levels deep cost far more than their size. All are refused before anything is read,
        wherever they are: the path, the query string, a header, a form field or the body."""
        texts = [request.path, *request.headers.values()]
        texts += [text for pair in request.args.items(multi=True) for text in pair]
        if request.method not in SAFE_METHODS:
            # A file's bytes may hold NUL (every PNG does); a multipart body's text fields and file names are
            # checked below, and its files are the attachments' to check (fundcircle/attachments/sniffing.py).
            if request.mimetype != "multipart/form-data":
                body = request.get_data()  # cached: forms and JSON are parsed from the same bytes afterwards
                if b"\x00" in body or b"\\u0000" in body:
                    raise BadRequest(gettext(NUL_MESSAGE))
            if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                fields = [*request.form.items(multi=True), *request.files.items(multi=True)]
                # A multipart part whose Content-Disposition names no field is parsed with the name None, which no
                # form or view expects.
                if any(name is None for name, _ in fields):
                    raise BadRequest(gettext(UNNAMED_PART_MESSAGE))
                texts += [text for pair in request.form.items(multi=True) for text in pair]
                texts += [upload.filename or "" for upload in request.files.values()]
            elif request.is_json and (body := request.get_data()):
                try:
                    check_json(body)
                except InputRefused as error:
                    raise BadRequest(translated(error)) from None
        if contains_nul(texts):
            raise BadRequest(gettext(NUL_MESSAGE))

    @app.before_request
    def authenticate_and_check_csrf() -> None:
        if is_api_request() and request.headers.get("Authorization"):
            # The token's user, set where Flask-Login looks for the request's user (fundcircle/auth/tokens.py). A
            # bearer token is not sent by browsers on their own, so such requests need no CSRF token; cookie-
            # authenticated ones do.
            view = app.view_functions.get(request.endpoint or "")
            if not getattr(view, "authenticates_itself", False):
                authenticate_bearer()
            return
        if request.method in SAFE_METHODS:
            return
        if request.path.startswith("/hooks/"):
            return  # Open Collective's deliveries: no session, a secret in the URL, and they only cause a re-fetch
        if request.path.startswith("/unsubscribe/"):
            return  # RFC 8058's one-click POST comes from a mail program: the signed link is its only credential
        if is_api_request() and not current_user.is_authenticated:
            return  # no cookie session: nothing to forge, and the route answers 401 where it needs a user
        csrf.protect()

    @app.after_request
    def end_unit_of_work(response: Any) -> Any:
        """The request boundary: commit what the request changed when it was answered normally, roll it back
        otherwise; a safe request commits nothing (fundcircle/unit_of_work.py)."""
        safe = request.method in SAFE_METHODS
        if safe and unit_of_work.wrote():
            message = f"{request.method} {request.path} wrote to the database; a safe request must change nothing"
            unit_of_work.roll_back()
            if app.testing:
                raise RuntimeError(message)
            log.error(message)
        try:
            if safe:
                unit_of_work.end_read_only()
            else:
                unit_of_work.finish(success=response.status_code < 400)
        except Exception:
            log.exception("the request's changes could not be committed")
            unit_of_work.roll_back()
            return error_response(None)
        return response

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if app.config["PRODUCTION"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response


#: Every area's pages and API, in the order of their dependencies (each area imports only those before it).
AREA_PAGES = (
    auth_views.bp,
    circles_views.bp,
    attachments_views.bp,
    rounds_views.bp,
    proposals_views.bp,
    deliberation_views.bp,
    voting_views.bp,
    consent_views.bp,
    payouts_views.bp,
    learning_views.bp,
    ledger_views.bp,
    inbox_views.bp,
)
AREA_APIS = (
    auth_api.blp,
    circles_api.blp,
    attachments_api.blp,
    rounds_api.blp,
    proposals_api.blp,
    deliberation_api.blp,
    voting_api.blp,
    consent_api.blp,
    payouts_api.blp,
    learning_api.blp,
    ledger_api.blp,
    inbox_api.blp,
)
COMMANDS = (
    auth_cli.user_cli,
    auth_cli.token_cli,
    rounds_cli.rounds_cli,
    payouts_cli.payouts_cli,
    ledger_cli.ledger_cli,
    demo_command,
    notices_cli,
    backup_command,
    restore_command,
    worker_command,
)


def _register_blueprints(app: Flask) -> None:
    app.register_blueprint(health.bp)
    for blueprint in AREA_PAGES:
        app.register_blueprint(blueprint)
    init_api(app, AREA_APIS)
    if app.config.get("BENCHMARK_ENDPOINTS"):
        app.register_blueprint(benchmark.bp)


def _register_cli(app: Flask) -> None:
    for command in COMMANDS:
        app.cli.add_command(command)


def _register_template_helpers(app: Flask) -> None:
    @app.context_processor
    def template_globals() -> dict[str, Any]:
        return {
            "PHASES": PHASES,
            "EFFECTIVE_PHASES": EFFECTIVE_PHASES,
            # The phases' names in the reader's language, and as they read inside a sentence.
            "PHASE_LABELS": PHASE_NAMES,
            "phase_word": phase_word,
            "ROLES": ROLES,
            "ROLE_LABELS": ROLE_LABELS,
            "now": utcnow(),
            # Every page about a circle shows its ledger checkpoint (base.html), so that a kept page holds one.
            "ledger_checkpoint": checkpoint_of,
            # The header's count of unread notices: one indexed query, made only where the header shows it.
            "unread_notices": unread_count,
        }
