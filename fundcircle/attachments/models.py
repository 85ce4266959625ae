from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from fundcircle.auth.models import User
from fundcircle.db import Base, UTCDateTime, utcnow

#: What an attachment can belong to; each kind is registered by its own area (services.register_owner_kind).
OWNER_KINDS = ("proposal", "comment", "report")
_OWNER_KINDS_SQL = ", ".join(f"'{kind}'" for kind in OWNER_KINDS)


class Attachment(Base):
    """A file attached to a proposal, a comment or a report. The bytes are in the attachment store under `sha256`
    (the hash of the stored, re-encoded bytes, which the ledger entry of the upload also holds). Removing one keeps
    the row (and the ledger's word for it) and hides the file."""

    __tablename__ = "attachments"
    __table_args__ = (
        CheckConstraint(f"owner_kind IN ({_OWNER_KINDS_SQL})", name="owner_kind_known"),
        CheckConstraint("size > 0", name="size_positive"),
        CheckConstraint("length(sha256) = 64", name="sha256_is_hex_digest"),
        CheckConstraint("(width IS NULL) = (height IS NULL)", name="width_and_height_together"),
        CheckConstraint("width IS NULL OR (width > 0 AND height > 0)", name="dimensions_positive"),
        Index("ix_attachments_owner", "owner_kind", "owner_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    circle_id: Mapped[int] = mapped_column(ForeignKey("circles.id"), index=True)
    owner_kind: Mapped[str] = mapped_column(String(16))
    owner_id: Mapped[int] = mapped_column(Integer)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: The name as the uploader's computer gave it (without folders), shown and offered when downloading.
    filename: Mapped[str] = mapped_column(String(200))
    #: What the content is, as sniffed from its bytes (never the name, never what the browser said).
    media_type: Mapped[str] = mapped_column(String(100))
    #: The uploader's description: an image's alternative text (required for images).
    description: Mapped[str] = mapped_column(String(300), default="")
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    removed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    uploaded_by: Mapped[User] = relationship(foreign_keys=[uploaded_by_id])

    @property
    def is_image(self) -> bool:
        return self.width is not None

    def __repr__(self) -> str:
        return f"<Attachment {self.id} {self.owner_kind} {self.owner_id} {self.media_type}>"
