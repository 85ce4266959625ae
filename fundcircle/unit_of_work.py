"""One commit per request, by construction (as indico's request handler does).

Services change state, write the ledger and flush; they never commit. Views never commit or roll back either: the
request boundary here commits when the view answered normally (a status below 400, on a method that may change
something) and rolls back otherwise, ledger entries included. A GET, HEAD or OPTIONS request never commits: if it
wrote anything, that is a bug, refused loudly under test and rolled back in production.

Work that must wait for the commit (sending mail, asking Open Collective) is queued with `after_commit` and runs
only once the change it follows is stored; a rollback drops it. Work that a refusal itself must leave behind (a
wrong password or second-factor code counted against the limit) is queued with `keep_after_rollback` and done, in a
transaction of its own, after the rollback.

Command-line commands are their own boundary: they call `commit()` here, which also runs the queued work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import CursorResult, Executable, event
from sqlalchemy.orm import ORMExecuteState, Session

from fundcircle.extensions import db

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})

_AFTER_COMMIT = "fundcircle_after_commit"
_READY = "fundcircle_ready_after_commit"
_KEEP = "fundcircle_keep_after_rollback"
_WROTE = "fundcircle_wrote"
_REFUSED = "fundcircle_refused"

Work = Callable[[], None]


def after_commit(work: Work, *, key: Any = None) -> None:
    """Run `work` once the current transaction has committed; drop it if the transaction rolls back.

    `key` makes the queue keep one piece of work per key (one notice per person and event)."""
    queue: dict[Any, Work] = db.session.info.setdefault(_AFTER_COMMIT, {})
    queue.setdefault(key if key is not None else object(), work)


def keep_after_rollback(work: Work) -> None:
    """If the current request is refused and rolled back, do `work` afterwards and commit it on its own. The caller
    does the same work in the current transaction too, so a commit keeps it once."""
    db.session.info.setdefault(_KEEP, []).append(work)


def refuse() -> None:
    """The request is refused: undo its changes now (doing what a refusal must leave behind), so that the page that
    says why shows things as they were, and commit nothing else it does, even if the page answers with a redirect."""
    roll_back()
    db.session.info[_REFUSED] = True


def commit() -> None:
    """Commit the session and run the work that waited for it: for command-line commands and background work, which
    are their own request boundary. Views never call it."""
    db.session.commit()
    run_ready_work()


def end_read_transaction() -> None:
    """End a transaction that has only read so far, so that no lock is held (nor SQLite's write lock) while waiting
    on another server. Refuses if anything was written: that would be lost.

    :raises RuntimeError: if the transaction has changes.
    """
    if wrote():
        raise RuntimeError("the transaction has changes: it cannot be ended without committing them")
    db.session.rollback()


def run_ready_work() -> None:
    """Run what committed transactions queued, in order; a failure is logged and never undoes the commit."""
    while ready := db.session.info.pop(_READY, None):
        for work in ready:
            try:
                work()
            except Exception:
                # The commit stands: the request still answers as it succeeded, and the next work still runs.
                log.exception("work after commit failed")
                try:
                    db.session.rollback()
                except Exception:
                    log.exception("could not roll back after failed work after commit")


def roll_back() -> None:
    """Undo the request's changes, then do and commit what a refusal must leave behind."""
    session = db.session
    kept: list[Work] = session.info.pop(_KEEP, [])
    session.info.pop(_REFUSED, None)
    session.rollback()
    for work in kept:
        work()
        session.commit()


def write(statement: Executable, parameters: Any = None) -> CursorResult[Any]:
    """Run a Core INSERT, UPDATE or DELETE (on tables, not ORM entities) on the session's connection, in its
    transaction. The hot paths use it: the session's ORM execution (bulk-insert handling, compile-state plugins,
    `do_orm_execute`) costs more per statement than the statement's own round trip. The write is noted as the
    session's own are, so that a safe request that wrote is still refused (`end_read_only`)."""
    session = db.session
    session.info[_WROTE] = True
    return session.connection().execute(statement, parameters)


def wrote() -> bool:
    """Whether the current transaction has changed anything so far."""
    session = db.session
    return bool(session.info.get(_WROTE) or session.new or session.dirty or session.deleted)


def end_read_only() -> None:
    """End a safe request's transaction, which wrote nothing (the request boundary has checked): with COMMIT, not
    ROLLBACK. Both keep nothing, but on PostgreSQL a ROLLBACK makes psycopg throw away every statement it has
    prepared on the connection, so that none would ever be reused across requests."""
    if wrote():
        roll_back()
        return
    db.session.info.pop(_REFUSED, None)
    db.session.commit()
    run_ready_work()


def finish(success: bool) -> None:
    """Commit (success, unless the request was refused) or roll back the request's transaction, then run the work
    that waited for the commit."""
    if success and not db.session.info.pop(_REFUSED, False):
        db.session.commit()
    else:
        roll_back()
    run_ready_work()


@event.listens_for(Session, "after_flush")
def _note_writes(session: Session, _context: Any) -> None:
    session.info[_WROTE] = True


@event.listens_for(Session, "do_orm_execute")
def _note_statement_writes(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


@event.listens_for(Session, "after_commit")
def _ready_after_commit(session: Session) -> None:
    queued: dict[Any, Work] = session.info.pop(_AFTER_COMMIT, {})
    if queued:
        session.info.setdefault(_READY, []).extend(queued.values())
    session.info.pop(_KEEP, None)
    session.info.pop(_WROTE, None)


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(_AFTER_COMMIT, None)
    session.info.pop(_KEEP, None)
    session.info.pop(_WROTE, None)
