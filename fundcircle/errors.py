"""Domain errors and the app's error pages and JSON error shape.

Services raise `FundCircleError` subclasses; a page view attaches them to a form field, an API view lets them
reach the handler here, which answers `{"error": {"code", "message", "fields"}}`. Every error rolls the
request's transaction back, ledger entries included (fundcircle/unit_of_work.py), before the answer is rendered.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, redirect, render_template, request
from flask_babel import gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as NoSuchAddress

from fundcircle import unit_of_work
from fundcircle.i18n import lazy_gettext

log = logging.getLogger(__name__)


class FundCircleError(Exception):
    """A request that the rules refuse. `field` names the input at fault, where there is one."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, field: str | None = None, fields: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.fields: dict[str, Any] = dict(fields or {})
        if field is not None:
            self.fields.setdefault(field, [message])


class ValidationFailed(FundCircleError):
    status = 422
    code = "invalid"


class PermissionDenied(FundCircleError):
    status = 403
    code = "forbidden"


class NotFound(FundCircleError):
    status = 404
    code = "not_found"


class Conflict(FundCircleError):
    """Somebody else changed the thing first, or it already exists."""

    status = 409
    code = "conflict"


class RateLimited(FundCircleError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "rate_limited",
    500: "internal_error",
}

#: Lazy: each is said in the language of the request that gets it (str() before it goes into JSON).
HTTP_MESSAGES = {
    400: lazy_gettext("The request could not be understood."),
    401: lazy_gettext("Sign in first: send an API token as `Authorization: Bearer <token>` or log in."),
    403: lazy_gettext("You do not have the role needed for this."),
    404: lazy_gettext("There is nothing here, or it is not visible to you."),
    405: lazy_gettext("This address does not accept that method."),
    413: lazy_gettext("The request is too large."),
    415: lazy_gettext("Send the request body as JSON, with `Content-Type: application/json`."),
    500: lazy_gettext("Something went wrong on our side; nothing was changed. Please try again."),
}

CSRF_MESSAGE = lazy_gettext(
    "The form had expired or did not come from this site; nothing was changed. Reload the page and try again."
)


def is_api_request() -> bool:
    return request.path.startswith("/api/")


def _flatten_webargs_messages(messages: Any) -> dict[str, Any]:
    """webargs nests messages under their location ("json", "query"); the API reports fields by name."""
    fields: dict[str, Any] = {}
    if not isinstance(messages, dict):
        return fields
    for location, value in messages.items():
        if isinstance(value, dict):
            fields.update(value)
        else:
            fields[f"_{location}"] = value
    return fields


def json_error(status: int, message: Any, fields: dict[str, Any] | None = None, code: str | None = None) -> Response:
    """The API's error shape; `message` may be a lazy translation (it is said now, as a str)."""
    body = {"error": {"code": code or HTTP_CODES.get(status, "error"), "message": str(message), "fields": fields or {}}}
    response = jsonify(body)
    response.status_code = status
    return response


def _html_error(status: int, message: Any) -> tuple[str, int]:
    return render_template("errors/error.html", status=status, message=message), status


def error_response(error: FundCircleError | None) -> Response:
    """The answer to a refused request (or, with None, to one that failed on our side)."""
    if error is None:
        if is_api_request():
            return json_error(500, HTTP_MESSAGES[500])
        body, status = _html_error(500, HTTP_MESSAGES[500])
        return Response(body, status=status, mimetype="text/html")
    if is_api_request():
        response = json_error(error.status, error.message, error.fields, error.code)
    else:
        body, status = _html_error(error.status, error.message)
        response = Response(body, status=status, mimetype="text/html")
    if isinstance(error, RateLimited):
        response.headers["Retry-After"] = str(error.retry_after_seconds)
    return response


def _handle_fundcircle_error(error: FundCircleError) -> Any:
    unit_of_work.roll_back()
    return error_response(error)


def _handle_csrf_error(error: CSRFError) -> Any:
    unit_of_work.roll_back()
    if is_api_request():
        return json_error(
            400, gettext("Missing or invalid CSRF token: send X-CSRFToken, or use a bearer token."), code="csrf"
        )
    return _html_error(400, CSRF_MESSAGE)


def page_of_form_target(path: str) -> str | None:
    """The page that holds the form posting to `path`, a POST-only address: the nearest address above it that
    answers GET (/payouts/3/approve -> /payouts/3, /profile/totp/confirm -> /profile); "/" when none does.

    A form that fails shows its page again at the address it posted to; opening that address again from the
    address bar (or history) would be a GET, and a 405 page. It goes back to the form's page instead."""
    adapter = current_app.url_map.bind("localhost")
    segments = path.rstrip("/").split("/")
    for end in range(len(segments) - 1, 0, -1):
        candidate = "/".join(segments[:end]) or "/"
        try:
            adapter.match(candidate, method="GET")
        except (MethodNotAllowed, NoSuchAddress):
            continue
        except HTTPException:  # a redirect (a trailing slash): the address is a page
            return candidate
        return candidate
    return "/"


def _handle_http_exception(error: HTTPException) -> Any:
    unit_of_work.roll_back()
    status = error.code or 500
    # A page's form target opened by GET (a reload from the address bar after a failed form): back to the page.
    if status == 405 and request.method in ("GET", "HEAD") and not is_api_request() and _is_form_target():
        return redirect(page_of_form_target(request.path), 303)
    if is_api_request():
        data = getattr(error, "data", None) or {}
        fields = _flatten_webargs_messages(data.get("messages"))
        if status == 422:
            message = gettext("Some fields are not valid; see `fields`.")
        elif status == 400 and fields:
            message = "; ".join(
                str(m) for value in fields.values() for m in (value if isinstance(value, list) else [value])
            )
        elif error.description and error.description != type(error).description:
            message = error.description  # a message written for this case, not Werkzeug's generic one
        else:
            message = HTTP_MESSAGES.get(status) or error.description or gettext("Error.")
        response = json_error(status, message, fields)
        if status == 405 and error.get_response().headers.get("Allow"):
            response.headers["Allow"] = error.get_response().headers["Allow"]
        return response
    specific = error.description and error.description != type(error).description
    return _html_error(
        status, error.description if specific else HTTP_MESSAGES.get(status, error.description or gettext("Error."))
    )


#: POST-only addresses that no page's form posts to: the Open Collective webhook answers only Open Collective.
NOT_FORM_TARGETS = ("/hooks/",)


def _is_form_target() -> bool:
    return not request.path.startswith(NOT_FORM_TARGETS)


def _handle_unexpected(error: Exception) -> Any:
    if isinstance(error, HTTPException):
        return _handle_http_exception(error)
    log.exception("unhandled error", exc_info=error)
    unit_of_work.roll_back()
    return error_response(None)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(FundCircleError, _handle_fundcircle_error)
    app.register_error_handler(CSRFError, _handle_csrf_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(Exception, _handle_unexpected)
