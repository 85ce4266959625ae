"""The API's description for people: /api/docs renders /api/v1/openapi.json on the server (no CDN, no script)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template

from fundcircle.access import PUBLIC, requires

bp = Blueprint("api_pages", __name__)

METHODS = ("get", "post", "put", "patch", "delete")


@bp.route("/api/docs")
@requires(PUBLIC)
def docs() -> str:
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
