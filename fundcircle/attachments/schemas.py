from __future__ import annotations

from typing import Any

from flask import url_for
from flask_smorest.fields import Upload
from marshmallow import Schema, fields

from fundcircle.attachments.models import OWNER_KINDS, Attachment


class UploadSchema(Schema):
    """multipart/form-data: the file, and its description (an image's alternative text, required for images)."""

    file = Upload(required=True, metadata={"description": "The file; its type is read from its content"})
    description = fields.String(load_default="", metadata={"description": "What it shows; required for images"})


class UploaderSchema(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)


def _content_url(attachment: Attachment) -> str:
    return str(url_for("attachments_api.download_attachment", attachment_id=attachment.id))


class AttachmentSchema(Schema):
    id = fields.Integer(required=True)
    owner_kind = fields.String(required=True, metadata={"enum": list(OWNER_KINDS)})
    owner_id = fields.Integer(required=True)
    uploaded_by = fields.Nested(UploaderSchema, required=True)
    filename = fields.String(required=True)
    media_type = fields.String(required=True, metadata={"description": "As read from the content"})
    description = fields.String(required=True)
    size = fields.Integer(required=True, metadata={"description": "Bytes, as stored (images re-encoded)"})
    sha256 = fields.String(required=True, metadata={"description": "Of the stored bytes, as in the ledger"})
    width = fields.Integer(required=True, allow_none=True)
    height = fields.Integer(required=True, allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    content_url = fields.Function(_content_url, required=True, metadata={"type": "string"})


class AttachmentListSchema(Schema):
    items = fields.List(fields.Nested(AttachmentSchema), required=True)


def as_list(attachments: list[Attachment]) -> dict[str, Any]:
    return {"items": attachments}
