"""The JSON API's frame, shared by every area: the Api object, a blueprint per area, the one error shape, the
OpenAPI document at /api/v1/openapi.json and its page for people at /api/docs.

Each area's `api.py` makes its blueprint with `api_blueprint` and declares its operations there: an access policy
(`requires`), input loaded through a schema that rejects unknown fields, one service call, and output dumped through a
schema. Errors take the one shape `{"error": {"code", "message", "fields"}}` (see fundcircle/errors.py); the request
boundary commits (see fundcircle/unit_of_work.py). This module imports no area.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from copy import deepcopy
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Blueprint as PageBlueprint
from flask import Flask, abort, current_app, render_template, request
from flask_smorest import Api, Blueprint
from marshmallow import Schema, fields

from fundcircle import unit_of_work
from fundcircle.access import PUBLIC, requires
from fundcircle.errors import ValidationFailed
from fundcircle.unit_of_work import SAFE_METHODS

F = TypeVar("F", bound=Callable[..., Any])

API_PREFIX = "/api/v1"
BODY_METHODS = {"POST", "PUT", "PATCH"}
#: OpenAPI security of operations that public circles answer without a token.
ANYONE_IF_PUBLIC = [{}, {"bearerAuth": []}]


class ErrorBodySchema(Schema):
    code = fields.String(required=True, metadata={"description": "A stable machine-readable code, e.g. invalid"})
    message = fields.String(required=True, metadata={"description": "What went wrong, in words"})
    field_messages = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        required=True,
        metadata={"description": "Messages per input field, for validation errors; empty otherwise"},
    )


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBodySchema, required=True)


class FundCircleApi(Api):  # type: ignore[misc]
    """flask-smorest, documenting our error shape and leaving error handling to fundcircle.errors (which also
    serves the HTML pages)."""

    ERROR_SCHEMA = ErrorSchema

    def _register_error_handlers(self) -> None:
        pass


class AreaBlueprint(Blueprint):  # type: ignore[misc]
    """A flask-smorest blueprint whose operations end the unit of work before their answer is dumped: the answer
    describes what was committed (and what the work after the commit, such as requesting a payout, did); and whose
    documented security follows each operation's access policy."""

    def route(self, rule: str, **options: Any) -> Callable[[F], F]:
        register = super().route(rule, **options)

        def decorate(view: F) -> F:
            return cast(F, register(documented_security(view)))

        return decorate

    def response(self, status_code: int, schema: Any = None, **kwargs: Any) -> Callable[[F], F]:
        dump = super().response(status_code, schema, **kwargs)

        def decorate(view: F) -> F:
            @wraps(view)
            def committed_then_dumped(*args: Any, **view_kwargs: Any) -> Any:
                result = view(*args, **view_kwargs)
                if request.method not in SAFE_METHODS:
                    unit_of_work.finish(success=True)
                return result

            return cast(F, dump(committed_then_dumped))

        return decorate


def documented_security(view: F) -> F:
    """Document an operation that a public circle answers without a token (`circle_role(public_read=True)`) as
    such, unless the view documents its security itself. Derived from the policy
    `requires` enforces, so the document cannot say "token required" where the server answers without one, or the
    other way round."""
    policy = getattr(view, "access_policy", None)
    apidoc = deepcopy(getattr(view, "_apidoc", {}))
    manual = apidoc.setdefault("manual_doc", {})
    if policy is not None and policy.public_read and not policy.sign_in_required and "security" not in manual:
        manual["security"] = ANYONE_IF_PUBLIC
        view._apidoc = apidoc  # type: ignore[attr-defined]
    return view


def _require_json_body() -> None:
    if request.method in BODY_METHODS and (request.content_length or request.headers.get("Transfer-Encoding")):
        if not request.is_json:
            abort(415)


def api_blueprint(area: str, import_name: str, description: str) -> Blueprint:
    """An area's part of the API, under /api/v1, documented under the area's name."""
    blp = AreaBlueprint(f"{area}_api", import_name, url_prefix=API_PREFIX, description=description)
    blp.before_request(_require_json_body)
    return blp


def renamed_fields(error: ValidationFailed, names: dict[str, tuple[str, str]]) -> ValidationFailed:
    """Report a service's errors under the names the client sent (`deadlines.proposals`, not
    `proposals_close_at`)."""
    renamed: dict[str, Any] = {}
    for name, messages in error.fields.items():
        if name in names:
            outer, inner = names[name]
            renamed.setdefault(outer, {})[inner] = messages
        else:
            renamed[name] = messages
    return ValidationFailed(error.message, fields=renamed)


def init_api(app: Flask, blueprints: Iterable[Blueprint]) -> FundCircleApi:
    """Register every area's API blueprint and the documentation page."""
    api = FundCircleApi(
        app,
        spec_kwargs={
            "info": {
                "description": "Personal API tokens are sent as `Authorization: Bearer <token>`. Ids are integers, "
                "money is integer minor units in fields named `*_minor` with `currency` beside them, times are "
                'ISO 8601 UTC, and every error is `{"error": {"code", "message", "fields"}}`.'
            },
            "security": [{"bearerAuth": []}],
        },
    )
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    for blp in blueprints:
        api.register_blueprint(blp)
    app.extensions["fundcircle-api"] = api
    app.register_blueprint(docs_pages)
    return api


docs_pages = PageBlueprint("api_pages", __name__)

METHODS = ("get", "post", "put", "patch", "delete")


@docs_pages.route("/api/docs")
@requires(PUBLIC)
def docs() -> str:
    """The API's description for people: /api/v1/openapi.json rendered on the server (no CDN, no script)."""
    spec: dict[str, Any] = current_app.extensions["fundcircle-api"].spec.to_dict()
    operations = []
    for path, item in sorted(spec.get("paths", {}).items()):
        for method in METHODS:
            if method in item:
                operation = item[method]
                body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
                operations.append(
                    {
                        "method": method.upper(),
                        "path": path,
                        "summary": operation.get("summary", ""),
                        "description": operation.get("description", ""),
                        "parameters": operation.get("parameters", []),
                        "body": (body or {}).get("$ref", "").rsplit("/", 1)[-1],
                        "responses": sorted(operation.get("responses", {})),
                    }
                )
    return render_template(
        "api/docs.html",
        info=spec.get("info", {}),
        operations=operations,
        schemas=spec.get("components", {}).get("schemas", {}),
    )
