"""The attachments' part of the JSON API: upload a file to a thing (multipart/form-data), list a thing's files,
download one, remove one. Access is the page's own: the thing's circle, then its area's rules."""

from __future__ import annotations

from typing import Any

from flask import abort, request
from flask_login import current_user
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from fundcircle.access import ANY_MEMBER, circle_role, requires
from fundcircle.attachments import services
from fundcircle.attachments.models import Attachment
from fundcircle.attachments.schemas import AttachmentListSchema, AttachmentSchema, UploadSchema
from fundcircle.attachments.views import file_response
from fundcircle.db import utcnow
from fundcircle.openapi import ANYONE_IF_PUBLIC, API_PREFIX, AreaBlueprint


class _FormAndFilesParser(FlaskParser):
    """A multipart body's text fields and files, read as one (the file and its description arrive together)."""

    def load_files(self, req: Any, schema: Any) -> Any:
        return self._makeproxy(CombinedMultiDict([req.files, req.form]), schema)


class _AttachmentsBlueprint(AreaBlueprint):
    ARGUMENTS_PARSER = _FormAndFilesParser()


blp = _AttachmentsBlueprint(
    "attachments_api",
    __name__,
    url_prefix=API_PREFIX,
    description="Files attached to proposals and comments: images (re-encoded, shown inline) and documents",
)


# As `api_blueprint` makes the areas' blueprints, but with a body check that lets the upload through.
@blp.before_request
def _require_json_or_upload() -> None:
    """JSON bodies, as everywhere in the API; and multipart/form-data where a file is uploaded."""
    if request.endpoint == "attachments_api.upload_attachment" and request.mimetype == "multipart/form-data":
        return
    if request.method in ("POST", "PUT", "PATCH") and (
        request.content_length or request.headers.get("Transfer-Encoding")
    ):
        if not request.is_json:
            abort(415)


@blp.route("/attachments/<owner_kind>/<int:owner_id>", methods=["POST"])
@requires(ANY_MEMBER)
@blp.arguments(UploadSchema, location="files")
@blp.response(201, AttachmentSchema)
def upload_attachment(data: dict[str, Any], owner_kind: str, owner_id: int) -> Attachment:
    """Attach a file (multipart/form-data, fields `file` and `description`). Its type is read from its content and
    must agree with its name; images are re-encoded without their metadata and need a description. 422 names the
    file and what is wrong with it."""
    upload = data["file"]
    return services.attach_file(
        current_user,
        owner_kind,
        owner_id,
        services.Upload(getattr(upload, "filename", "") or "", upload.read(), data["description"]),
        now=utcnow(),
    )


@blp.route("/attachments/<owner_kind>/<int:owner_id>", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.response(200, AttachmentListSchema)
@blp.doc(security=ANYONE_IF_PUBLIC)
def list_attachments(owner_kind: str, owner_id: int) -> dict[str, Any]:
    """The files attached to a thing, oldest first."""
    return {"items": services.list_attachments(owner_kind, owner_id, current_user)}


@blp.route("/attachments/<int:attachment_id>/content", methods=["GET"])
@requires(circle_role(public_read=True))
@blp.response(
    200,
    content_type="application/octet-stream",
    description="The stored bytes: images inline with their type, others as an attachment",
)
@blp.doc(security=ANYONE_IF_PUBLIC)
def download_attachment(attachment_id: int) -> Any:
    """The file's bytes (checked against the hash the ledger holds)."""
    attachment = services.get_viewable_attachment(attachment_id, current_user)
    return file_response(attachment, services.content_of(attachment))


@blp.route("/attachments/<int:attachment_id>", methods=["DELETE"])
@requires(ANY_MEMBER)
@blp.response(200, AttachmentSchema)
def remove_attachment(attachment_id: int) -> Attachment:
    """Remove a file (its uploader, or an admin of the circle): no longer listed or served; the ledger keeps its
    hash."""
    attachment = services.get_viewable_attachment(attachment_id, current_user, removed_too=True)
    return services.remove_attachment(current_user, attachment, now=utcnow())
