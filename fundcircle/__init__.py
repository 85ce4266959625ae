"""Fund Circle: a community gives out a shared micro-fund together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, g, request, session
from flask_login import current_user
from werkzeug.exceptions import BadRequest
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from fundcircle.config import load_config
from fundcircle.db import configure_sqlite
from fundcircle.errors import is_api_request, register_error_handlers
from fundcircle.extensions import csrf, db, login_manager, migrate
from fundcircle.notices import init_notices

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the app. `test_config` overrides the configuration that the environment gives."""
    app = Flask(
        __name__,
        instance_relative_config=True,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    # Ids in URLs fit the database's integer columns; a larger number is a 404, never an overflow.
    app.url_map.converters["int"] = BoundedIntConverter
    secret_key_given = bool(test_config and test_config.get("SECRET_KEY"))
    app.config.from_mapping(load_config(Path(app.instance_path), secret_key_given=secret_key_given))
    if test_config:
        app.config.from_mapping(test_config)

    if app.config["PROXY_COUNT"]:
        count = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count, x_host=count)  # type: ignore[method-assign]

    import fundcircle.models  # noqa: F401  (every table in the metadata)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), compare_type=True)
    csrf.init_app(app)
    _init_login(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            configure_sqlite(db.engine)

    register_error_handlers(app)
    _register_request_hooks(app)
    init_notices(app)
    _register_blueprints(app)
    _register_cli(app)
    _register_template_helpers(app)
    return app


class BoundedIntConverter(IntegerConverter):
    def __init__(self, url_map: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(url_map, **kwargs)


def _init_login(app: Flask) -> None:
    from fundcircle.auth.services import user_for_session

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Log in to see this page."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user_from_session(user_id: str) -> Any:
        if is_api_request() and request.headers.get("Authorization"):
            return None  # a bearer token speaks for this request, not the cookie
        token = session.get("sid")
        if not token:
            return None
        user = user_for_session(token)
        return user if user is not None and str(user.id) == user_id else None


def _user_from_bearer_token() -> Any:
    """The owner of the request's API token, or an anonymous user. Used instead of the session for API requests
    that carry an Authorization header, so that a browser's session cookie (and Flask-Login's session protection,
    which would drop the request as anonymous) plays no part in them. A read (GET, HEAD, ...) writes nothing, so
    only a state-changing request notes the token's use."""
    from flask_login import AnonymousUserMixin

    from fundcircle.auth.services import user_for_api_token

    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    changes_state = request.method not in SAFE_METHODS
    user = (
        user_for_api_token(token.strip(), note_use=changes_state)
        if scheme.lower() == "bearer" and token.strip()
        else None
    )
    if user is not None and changes_state:
        db.session.commit()  # the token's last-used time, before the view starts its own work
    return user or AnonymousUserMixin()


def _register_request_hooks(app: Flask) -> None:
    @app.before_request
    def refuse_nul_characters() -> None:
        """PostgreSQL cannot store NUL in text and no person types one: refuse it before anything is read."""
        if request.method not in SAFE_METHODS:
            body = request.get_data()  # cached: forms and JSON are parsed from the same bytes afterwards
            if b"\x00" in body or b"\\u0000" in body:
                raise BadRequest("Text may not contain NUL characters.")

    @app.before_request
    def authenticate_and_check_csrf() -> None:
        if is_api_request() and request.headers.get("Authorization"):
            # The token's user, set where Flask-Login looks for the request's user. A bearer token is not sent by
            # browsers on their own, so such requests need no CSRF token; cookie-authenticated ones do.
            g._login_user = _user_from_bearer_token()
            return
        if request.method in SAFE_METHODS:
            return
        if request.path.startswith("/hooks/"):
            return  # Open Collective's deliveries: no session, a secret in the URL, and they only cause a re-fetch
        if is_api_request() and not current_user.is_authenticated:
            return  # no cookie session: nothing to forge, and the route answers 401 where it needs a user
        csrf.protect()

    @app.after_request
    def security_headers(response: Any) -> Any:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if app.config["PRODUCTION"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response


def _register_blueprints(app: Flask) -> None:
    from fundcircle.api.pages import bp as api_pages_bp
    from fundcircle.api.views import init_api
    from fundcircle.auth.views import bp as auth_bp
    from fundcircle.circles.views import bp as circles_bp
    from fundcircle.deliberation.views import bp as deliberation_bp
    from fundcircle.ledger.views import bp as ledger_bp
    from fundcircle.payouts.views import bp as payouts_bp
    from fundcircle.proposals.views import bp as proposals_bp
    from fundcircle.rounds.views import bp as rounds_bp
    from fundcircle.voting.consent_views import bp as consent_bp
    from fundcircle.voting.views import bp as voting_bp

    app.register_blueprint(auth_bp)
    app.register_blueprint(circles_bp)
    app.register_blueprint(rounds_bp)
    app.register_blueprint(proposals_bp)
    app.register_blueprint(deliberation_bp)
    app.register_blueprint(voting_bp)
    app.register_blueprint(consent_bp)
    app.register_blueprint(ledger_bp)
    app.register_blueprint(payouts_bp)
    app.register_blueprint(api_pages_bp)
    init_api(app)
    if app.config.get("BENCHMARK_ENDPOINTS"):
        from fundcircle.benchmark import bp as benchmark_bp

        app.register_blueprint(benchmark_bp)


def _register_cli(app: Flask) -> None:
    from fundcircle.auth.cli import token_cli, user_cli
    from fundcircle.demo import demo_command
    from fundcircle.ledger.cli import ledger_cli
    from fundcircle.payouts.cli import payouts_cli
    from fundcircle.payouts.sandbox_cli import oc_sandbox_command
    from fundcircle.rounds.cli import rounds_cli

    app.cli.add_command(user_cli)
    app.cli.add_command(token_cli)
    app.cli.add_command(ledger_cli)
    app.cli.add_command(rounds_cli)
    app.cli.add_command(payouts_cli)
    app.cli.add_command(oc_sandbox_command)
    app.cli.add_command(demo_command)


def _register_template_helpers(app: Flask) -> None:
    from fundcircle.circles.models import ROLE_LABELS, ROLES
    from fundcircle.db import utcnow
    from fundcircle.money import format_minor
    from fundcircle.rounds.phases import EFFECTIVE_PHASES, PHASE_LABELS, PHASES

    app.jinja_env.filters["money"] = format_minor

    def format_datetime(value: Any) -> str:
        return value.strftime("%-d %b %Y, %H:%M UTC") if value is not None else ""

    app.jinja_env.filters["datetime"] = format_datetime

    @app.context_processor
    def template_globals() -> dict[str, Any]:
        return {
            "PHASES": PHASES,
            "EFFECTIVE_PHASES": EFFECTIVE_PHASES,
            "PHASE_LABELS": PHASE_LABELS,
            "ROLES": ROLES,
            "ROLE_LABELS": ROLE_LABELS,
            "now": utcnow(),
        }
