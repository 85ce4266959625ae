"""Writing inbox rows. Kept apart from services.py, whose "your turn" reads every area: fundcircle.notices (which
every service calls) imports this module, and this module imports no area."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import event, func, insert, select
from sqlalchemy.orm import Session, SessionTransaction

from fundcircle.extensions import db
from fundcircle.inbox.models import Notification

#: The longest `text` kept (a notice's subject line; longer ones are cut, with an ellipsis).
MAX_TEXT = 500
_RECORDED = "fundcircle_inbox_recorded"


def record_notification(user_id: int, *, kind: str, circle_id: int | None, text: str, url: str | None) -> None:
    """Keep a notice in the person's inbox, in the caller's transaction (a rollback drops it with the change it
    tells about). The same notice twice in one transaction (a person reached two ways) is kept once."""
    record_notifications([user_id], kind=kind, circle_id=circle_id, text=text, url=url)


def record_notifications(
    user_ids: Iterable[int], *, kind: str, circle_id: int | None, text: str, url: str | None
) -> None:
    """`record_notification` for each of `user_ids`, as one batched INSERT (a phase change tells hundreds at once;
    a row object each cost more than the rest of deciding)."""
    seen: set[tuple[int, str, str]] = db.session.info.setdefault(_RECORDED, set())
    if len(text) > MAX_TEXT:
        text = text[: MAX_TEXT - 1] + "…"
    rows = []
    for user_id in user_ids:
        key = (user_id, kind, text)
        if key not in seen:
            seen.add(key)
            rows.append({"user_id": user_id, "kind": kind, "circle_id": circle_id, "text": text, "url": url})
    if rows:
        db.session.execute(insert(Notification), rows)


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
