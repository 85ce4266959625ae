"""Use cases for attachments: attach a file, remove one, read one; and the registry of what attachments belong to.

Attachments know nothing of proposals or comments: each area that owns attachable things registers an owner kind
(`register_owner_kind`) saying how to find the thing's circle and who may see it or attach to it, so that a file is
shown exactly to those who see the page it belongs to. Services check, write the ledger (with the hash of the stored
bytes), flush, and never commit.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from babel.numbers import format_decimal
from flask import current_app
from flask_babel import gettext, ngettext
from sqlalchemy import func, select

from fundcircle.attachments.images import reencode
from fundcircle.attachments.models import OWNER_KINDS, Attachment
from fundcircle.attachments.sniffing import BY_MEDIA_TYPE, FileRefused, display_name, sniff
from fundcircle.attachments.store import AttachmentStore, StoreUnavailable, store_from_config
from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.circles.services import membership_of
from fundcircle.db import compare_and_set
from fundcircle.errors import Conflict, FundCircleError, NotFound, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.i18n import current_language
from fundcircle.ledger.record import record
from fundcircle.text import is_single_line

MAX_DESCRIPTION = 300


class StoreFailed(FundCircleError):
    """The attachment store could not be written or read now; nothing was changed."""

    status = 503
    code = "unavailable"


@dataclass(frozen=True)
class Owner:
    """The thing an attachment belongs to, as its area describes it."""

    kind: str
    id: int
    circle: Circle
    #: The proposal, comment or report itself, for the area's own rules.
    thing: Any
    #: Whether visitors of a public circle see the page it is on (a proposal's page is for members only).
    public_read: bool = False
    #: What the ledger entry says besides the attachment (the proposal it is on, so that the entry reads in words).
    ledger_data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OwnerKind:
    """How attachments of one kind of thing are checked. Registered by the area that owns the thing."""

    #: The thing with this id, or None if there is none.
    find: Callable[[int], Owner | None]
    #: Whether this person (None: a visitor) may see the page the thing is on, given that they may see its circle.
    may_view: Callable[[Owner, User | None], bool]
    #: Refuses this person attaching to the thing now: raises PermissionDenied or Conflict, with the reason.
    check_may_attach: Callable[[Owner, User, datetime], None]


_owner_kinds: dict[str, OwnerKind] = {}


def register_owner_kind(kind: str, owner_kind: OwnerKind) -> OwnerKind:
    """Let attachments belong to things of `kind` (called by the area that owns them, when it is imported)."""
    if kind not in OWNER_KINDS:
        raise ValueError(f"{kind!r} is not one of the attachment owner kinds {OWNER_KINDS}")
    _owner_kinds[kind] = owner_kind
    return owner_kind


def owner_kinds() -> tuple[str, ...]:
    return tuple(_owner_kinds)


def find_owner(kind: str, owner_id: int) -> Owner | None:
    """The thing of `kind` with this id, or None for an unknown kind or id."""
    registered = _owner_kinds.get(kind)
    return registered.find(owner_id) if registered is not None else None


def may_view_owner(owner: Owner, viewer: User | None) -> bool:
    """Whether `viewer` sees the page `owner` is on: a member of its circle, or anyone when the circle is public and
    the page is one visitors see; and then whatever the owner's area adds (a draft is its author's alone)."""
    member = membership_of(viewer, owner.circle) is not None
    if not member and not (owner.public_read and owner.circle.public):
        return False
    return _owner_kinds[owner.kind].may_view(owner, viewer)


@dataclass(frozen=True)
class Upload:
    """A file as it was sent: its name, its bytes, and the uploader's description of it."""

    filename: str
    content: bytes
    description: str = ""


@dataclass(frozen=True)
class Limits:
    max_bytes: int
    max_pixels: int
    max_dimension: int
    per_owner: int


def limits() -> Limits:
    config = current_app.config
    return Limits(
        max_bytes=int(config["ATTACHMENTS_MAX_BYTES"]),
        max_pixels=int(config["ATTACHMENTS_MAX_PIXELS"]),
        max_dimension=int(config["ATTACHMENTS_MAX_DIMENSION"]),
        per_owner=int(config["ATTACHMENTS_PER_OWNER"]),
    )


def attachment_store() -> AttachmentStore:
    """The app's store (made once per app from its configuration)."""
    store: AttachmentStore | None = current_app.extensions.get("fundcircle-attachment-store")
    if store is None:
        store = store_from_config(current_app.config, current_app.instance_path)
        current_app.extensions["fundcircle-attachment-store"] = store
    return store


def _format_size(size: int) -> str:
    if size >= 1024 * 1024:
        return gettext(
            "%(size)s MB", size=format_decimal(round(size / (1024 * 1024), 1), "0.0", locale=current_language())
        )
    return gettext("%(size)d KB", size=max(1, size // 1024))


def _refusal_text(error: FileRefused) -> str:
    """A refused file's reason in the reader's language, with the kinds of file it names in it too."""
    params = {
        name: gettext(value) if name in FileRefused.WORDS and isinstance(value, str) and value else value
        for name, value in error.params.items()
    }
    return str(gettext(error.message_id, **params))


def _checked_description(description: str, *, required: bool, name: str) -> str:
    text = description.strip()
    if required and not text:
        raise ValidationFailed(
            gettext(
                "Describe what %(name)s shows, for those who cannot see it (it is the image's alternative text).",
                name=name,
            ),
            field="description",
        )
    if len(text) > MAX_DESCRIPTION:
        raise ValidationFailed(
            gettext("Use at most %(most)d characters (this has %(count)d).", most=MAX_DESCRIPTION, count=len(text)),
            field="description",
        )
    if not is_single_line(text):
        raise ValidationFailed(gettext("Write the description on one line."), field="description")
    return text


def attach_file(actor: User, owner_kind: str, owner_id: int, upload: Upload, *, now: datetime) -> Attachment:
    """Attach `upload` to the thing of `owner_kind` with `owner_id`: its type is read from its content and must
    agree with its name; an image is re-encoded without its metadata (and needs a description, its alternative
    text); the stored bytes' SHA-256 goes in the ledger entry.

    :raises NotFound: if there is no such thing, or the actor may not see it.
    :raises PermissionDenied: if the actor may not attach to it (its area's rule).
    :raises Conflict: if its area says not now (a withdrawn proposal), or it has as many attachments as allowed.
    :raises ValidationFailed: on `file` for an empty, oversized, unreadable or mislabelled file; on `description`.
    :raises StoreFailed: if the bytes could not be stored (nothing is written then).
    """
    owner = find_owner(owner_kind, owner_id)
    if owner is None or not may_view_owner(owner, actor):
        raise NotFound(gettext("There is no such thing to attach a file to."))
    if membership_of(actor, owner.circle) is None:
        raise PermissionDenied(gettext("Only the circle's members can attach files."))
    _owner_kinds[owner_kind].check_may_attach(owner, actor, now)
    rules = limits()
    name = display_name(upload.filename)
    if not upload.content:
        raise ValidationFailed(gettext("%(name)s is empty: choose the file again.", name=name), field="file")
    if len(upload.content) > rules.max_bytes:
        raise ValidationFailed(
            gettext(
                "%(name)s is %(size)s; files may be at most %(most)s.",
                name=name,
                size=_format_size(len(upload.content)),
                most=_format_size(rules.max_bytes),
            ),
            field="file",
        )
    try:
        file_type = sniff(name, upload.content)
        if file_type.kind == "image":
            description = _checked_description(upload.description, required=True, name=name)
            image = reencode(
                name, upload.content, file_type, max_pixels=rules.max_pixels, max_dimension=rules.max_dimension
            )
            content, width, height = image.content, image.width, image.height
        else:
            description = _checked_description(upload.description, required=False, name=name)
            content, width, height = upload.content, None, None
    except FileRefused as error:
        raise ValidationFailed(_refusal_text(error), field="file") from None
    attached = db.session.scalar(
        select(func.count(Attachment.id)).where(
            Attachment.owner_kind == owner_kind, Attachment.owner_id == owner_id, Attachment.removed_at.is_(None)
        )
    )
    if (attached or 0) >= rules.per_owner:
        raise Conflict(
            ngettext(
                "This has %(num)d attachment, the most allowed: remove it before attaching another.",
                "This has %(num)d attachments, the most allowed: remove one before attaching another.",
                attached or 0,
            )
        )
    sha256 = hashlib.sha256(content).hexdigest()
    try:
        attachment_store().put(sha256, content)
    except StoreUnavailable as error:
        raise StoreFailed(
            gettext("The file could not be stored just now; nothing was attached. Try again later.")
        ) from error
    attachment = Attachment(
        circle_id=owner.circle.id,
        owner_kind=owner_kind,
        owner_id=owner_id,
        uploaded_by_id=actor.id,
        filename=name,
        media_type=file_type.media_type,
        description=description,
        size=len(content),
        sha256=sha256,
        width=width,
        height=height,
        created_at=now,
    )
    db.session.add(attachment)
    db.session.flush()
    record(
        "attachment.added",
        actor=actor,
        circle_id=owner.circle.id,
        subject=attachment,
        data={
            **owner.ledger_data,
            "owner_kind": owner_kind,
            "owner_id": owner_id,
            "filename": name,
            "media_type": file_type.media_type,
            "size": len(content),
            "sha256": sha256,
        },
        at=now,
    )
    return attachment


def may_remove(actor: User | None, attachment: Attachment) -> bool:
    """The uploader may remove their attachment; a circle's admins may remove any (as they hide comments)."""
    if actor is None or not getattr(actor, "is_authenticated", False) or attachment.removed_at is not None:
        return False
    circle = db.session.get(Circle, attachment.circle_id)
    membership = membership_of(actor, circle) if circle is not None else None
    if membership is None:
        return False
    return attachment.uploaded_by_id == actor.id or "admin" in membership.roles


def removable_ids(actor: User | None, attachments: Iterable[Attachment]) -> set[int]:
    """Which of these attachments (all of one circle's page) `actor` may remove, with one look-up of their roles."""
    found = list(attachments)
    if not found or actor is None or not getattr(actor, "is_authenticated", False):
        return set()
    circle = db.session.get(Circle, found[0].circle_id)
    membership = membership_of(actor, circle) if circle is not None else None
    if membership is None:
        return set()
    admin = "admin" in membership.roles
    return {
        a.id
        for a in found
        if a.removed_at is None and a.circle_id == found[0].circle_id and (admin or a.uploaded_by_id == actor.id)
    }


def remove_attachment(actor: User, attachment: Attachment, *, now: datetime) -> Attachment:
    """Remove an attachment: it is no longer shown or served; its row and ledger entries stay.

    :raises PermissionDenied: unless the actor uploaded it or is an admin of its circle.
    :raises Conflict: if it was removed already (by somebody else at the same moment, too).
    """
    if attachment.removed_at is not None:
        raise Conflict(gettext("This attachment was removed already."))
    if not may_remove(actor, attachment):
        raise PermissionDenied(gettext("Only the person who attached the file, or the circle's admins, can remove it."))
    compare_and_set(
        attachment,
        expected=Attachment.removed_at.is_(None),
        values={"removed_at": now, "removed_by_id": actor.id},
        conflict=Conflict(gettext("This attachment was removed already.")),
    )
    owner = find_owner(attachment.owner_kind, attachment.owner_id)
    record(
        "attachment.removed",
        actor=actor,
        circle_id=attachment.circle_id,
        subject=attachment,
        data={
            **(owner.ledger_data if owner is not None else {}),
            "owner_kind": attachment.owner_kind,
            "owner_id": attachment.owner_id,
            "filename": attachment.filename,
            "sha256": attachment.sha256,
        },
        at=now,
    )
    return attachment


def get_viewable_attachment(attachment_id: int, viewer: User | None, *, removed_too: bool = False) -> Attachment:
    """An attachment that is still there (or, with `removed_too`, was: to say so), on a thing its viewer sees.

    :raises NotFound: for an unknown or removed attachment, or one on a page the viewer does not see.
    """
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or (attachment.removed_at is not None and not removed_too):
        raise NotFound(gettext("There is no such attachment."))
    owner = find_owner(attachment.owner_kind, attachment.owner_id)
    if owner is None or not may_view_owner(owner, viewer):
        raise NotFound(gettext("There is no such attachment."))
    return attachment


def content_of(attachment: Attachment) -> bytes:
    """The stored bytes, checked against the hash the ledger holds.

    :raises StoreFailed: if the store cannot give them now (or they no longer match their hash).
    """
    try:
        return attachment_store().get(attachment.sha256)
    except StoreUnavailable as error:
        current_app.logger.error("attachment %s: %s", attachment.id, error)
        raise StoreFailed(gettext("This file cannot be read just now. Try again later.")) from error


def attachments_of(owner_kind: str, owner_ids: Iterable[int]) -> dict[int, list[Attachment]]:
    """The attachments still there on each of these things, oldest first (one query for a whole page)."""
    ids = sorted(set(owner_ids))
    found: dict[int, list[Attachment]] = {owner_id: [] for owner_id in ids}
    if not ids:
        return found
    rows = db.session.scalars(
        select(Attachment)
        .where(Attachment.owner_kind == owner_kind, Attachment.owner_id.in_(ids), Attachment.removed_at.is_(None))
        .order_by(Attachment.id)
    )
    for attachment in rows:
        found[attachment.owner_id].append(attachment)
    return found


def list_attachments(owner_kind: str, owner_id: int, viewer: User | None) -> list[Attachment]:
    """The attachments on one thing its viewer sees.

    :raises NotFound: for an unknown thing, or one the viewer does not see.
    """
    owner = find_owner(owner_kind, owner_id)
    if owner is None or not may_view_owner(owner, viewer):
        raise NotFound(gettext("There is no such thing."))
    return attachments_of(owner_kind, [owner_id])[owner_id]


def is_image_type(media_type: str) -> bool:
    file_type = BY_MEDIA_TYPE.get(media_type)
    return file_type is not None and file_type.kind == "image"
