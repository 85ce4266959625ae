"""Writing inbox rows. Kept apart from services.py, whose "your turn" reads every area: fundcircle.notices (which
every service calls) imports this module, and this module imports no area."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, SessionTransaction

from fundcircle.extensions import db
from fundcircle.inbox.models import Notification

#: The longest `text` kept (a notice's subject line; longer ones are cut, with an ellipsis).
MAX_TEXT = 500
_RECORDED = "fundcircle_inbox_recorded"


def record_notification(user_id: int, *, kind: str, circle_id: int | None, text: str, url: str | None) -> None:
    """Keep a notice in the person's inbox, in the caller's transaction (a rollback drops it with the change it
    tells about). The same notice twice in one transaction (a person reached two ways) is kept once."""
    seen: set[tuple[int, str, str]] = db.session.info.setdefault(_RECORDED, set())
    key = (user_id, kind, text)
    if key in seen:
        return
    seen.add(key)
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    db.session.add(Notification(user_id=user_id, kind=kind, circle_id=circle_id, text=text, url=url))


def unread_count(user_id: int) -> int:
    """How many of the person's notices are unread: one query on the (user_id, read_at) index, for the header."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user_id, Notification.read_at.is_(None))
        )
        or 0
    )


@event.listens_for(Session, "after_transaction_end")
def _forget_recorded(session: Session, transaction: SessionTransaction, *_: Any) -> None:
    if transaction.parent is None:  # the outermost transaction ended: the next one starts a new set
        session.info.pop(_RECORDED, None)
