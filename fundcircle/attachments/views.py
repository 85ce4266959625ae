"""The attachments' pages: attach a file to a thing (from the small form on its page), download or show one, remove
one. Every download is checked as the page it belongs to is: a private circle's file is for its members, a draft
proposal's for its author."""

from __future__ import annotations

import io
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, send_file
from flask_babel import gettext
from flask_login import current_user
from werkzeug.wrappers import Response

from fundcircle.access import ANY_MEMBER, Place, circle_role, finds_place, requires
from fundcircle.attachments import services
from fundcircle.attachments.forms import AttachForm
from fundcircle.attachments.models import Attachment
from fundcircle.db import utcnow
from fundcircle.errors import FundCircleError, NotFound
from fundcircle.extensions import db, login_manager
from fundcircle.forms import ConfirmForm
from fundcircle.hooks import Registry
from fundcircle.unit_of_work import refuse

bp = Blueprint("attachments", __name__)

#: Where each owner kind's page is (the area that registers the kind provides it): an attachment's page links and
#: redirects go back there.
owner_pages: Registry[Any] = Registry("the page an attachment's owner is on")

#: The routes that take a file: their requests may be as large as a file may be (fundcircle.create_app).
UPLOAD_ENDPOINTS = frozenset({"attachments.attach", "attachments_api.upload_attachment"})


@finds_place("attachment_id")
def _place_of_attachment(attachment_id: int) -> Place | None:
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None:
        return None
    owner = services.find_owner(attachment.owner_kind, attachment.owner_id)
    return Place(owner.circle) if owner is not None else None


@finds_place("owner_id")
def _place_of_owner(owner_id: int) -> Place | None:
    # The owner's kind is the route's other argument: the id alone does not say which table it is in.
    kind = (request.view_args or {}).get("owner_kind", "")
    owner = services.find_owner(str(kind), owner_id)
    return Place(owner.circle) if owner is not None else None


def page_of(owner_kind: str, owner_id: int) -> str:
    """The address of the page the thing is on (its attachments' place there)."""
    if owner_kind in owner_pages:
        return str(owner_pages[owner_kind](owner_id))
    return "/"


@bp.route("/attachments/<owner_kind>/<int:owner_id>", methods=["POST"])
@requires(ANY_MEMBER)
def attach(owner_kind: str, owner_id: int) -> Response | tuple[str, int]:
    form = AttachForm()
    back = page_of(owner_kind, owner_id)
    if not form.validate_on_submit():
        problems = [message for messages in form.errors.values() for message in messages]
        return _refused_page(
            " ".join(str(problem) for problem in problems) or gettext("Choose a file to attach."), back, 400
        )
    upload = form.file.data
    try:
        attachment = services.attach_file(
            current_user,
            owner_kind,
            owner_id,
            services.Upload(upload.filename or "", upload.read(), form.description.data or ""),
            now=utcnow(),
        )
    except FundCircleError as error:
        refuse()
        return _refused_page(error.message, back, error.status)
    flash(gettext("%(name)s is attached.", name=attachment.filename), "success")
    return redirect(f"{back}#attachment-{attachment.id}")


def _refused_page(message: str, back: str, status: int) -> tuple[str, int]:
    return render_template("attachments/refused.html", message=message, back=back, status=status), status


@bp.route("/attachments/<int:attachment_id>")
@requires(circle_role(public_read=True))
def download(attachment_id: int) -> Any:
    """The file: an image shown in the page (inline, with the type read from its content), anything else as a
    download with a safe file name. Nothing the uploader chose decides how a browser treats it."""
    try:
        attachment = services.get_viewable_attachment(attachment_id, current_user)
    except NotFound:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()  # as the page it belongs to answers a visitor
        raise
    return file_response(attachment, services.content_of(attachment))


def file_response(attachment: Attachment, content: bytes) -> Response:
    image = services.is_image_type(attachment.media_type)
    response = send_file(
        io.BytesIO(content),
        mimetype=attachment.media_type,
        as_attachment=not image,
        download_name=attachment.filename,
        etag=attachment.sha256,
        max_age=0,
        conditional=True,
    )
    # Private: a circle's file is not for shared caches; the bytes under an id never change, but access can.
    response.headers["Cache-Control"] = "private, no-cache"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Opened on its own (a PDF in a browser's viewer), the file runs nothing and reaches nothing of ours.
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; object-src 'none'; frame-ancestors 'none'; "
        "sandbox"
    )
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@bp.route("/attachments/<int:attachment_id>/remove", methods=["POST"])
@requires(ANY_MEMBER)
def remove(attachment_id: int) -> Response:
    attachment = services.get_viewable_attachment(attachment_id, current_user, removed_too=True)
    back = page_of(attachment.owner_kind, attachment.owner_id)
    if ConfirmForm().validate_on_submit():
        try:
            services.remove_attachment(current_user, attachment, now=utcnow())
        except FundCircleError as error:
            refuse()
            flash(error.message, "error")
        else:
            flash(gettext("%(name)s is removed.", name=attachment.filename), "success")
    return redirect(back)
