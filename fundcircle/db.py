"""The database: the declarative base and the session (`db`), column types shared by every area, the one
compare-and-set helper every conditional state change uses, and the SQLite engine set-up."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import ColumnElement, DateTime, Engine, MetaData, event, inspect, update
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)


def compare_and_set(
    row: Base,
    *,
    expected: ColumnElement[bool],
    values: Mapping[str, Any],
    conflict: Exception | None = None,
) -> bool:
    """Change `row` only if `expected` still holds in the database: `UPDATE ... SET values WHERE <its primary key>
    AND expected`, in the caller's transaction. Of two requests changing the same row at once, exactly one does.

    Returns whether the row changed (and reloads `row` so that it shows what is stored).

    :raises Exception: `conflict`, when it is given and the row had changed meanwhile (typically a `Conflict` that
        tells the person to reload).
    """
    state = inspect(row)  # also through a proxy such as Flask-Login's current_user
    if state.identity is None:
        raise ValueError("compare_and_set needs a row that is stored")
    model = state.mapper.class_
    where = [column == value for column, value in zip(state.mapper.primary_key, state.identity, strict=True)]
    changed = db.session.execute(
        update(model).where(*where, expected).values(**values), execution_options={"synchronize_session": False}
    ).rowcount
    if not changed:
        if conflict is not None:
            raise conflict
        return False
    db.session.refresh(state.obj())
    return True


Row = TypeVar("Row", bound=Base)


def lock(row: Row) -> Row:
    """Lock `row` for the rest of the transaction and read it again from the database; returns it.

    Every write whose condition lives on a row (a round's phase, a consent round being open, the number of a
    circle's admins) takes this lock on that row first, and the change of that condition (the phase change, the
    close) takes the same lock, so of a write and a phase change sent at once one waits for the other and then sees
    what it did: never a ballot stored after the result was counted from the ballots. Read the condition from the
    returned row (or with fresh queries) after this call, never from what was loaded earlier in the request.

    On PostgreSQL this is `SELECT ... FOR NO KEY UPDATE`: a second transaction locking the same row waits until the
    first ends, then reads the row as committed. Not FOR UPDATE: that would also stop the foreign-key checks of rows
    that merely refer to the locked one (every ledger entry refers to its circle), and a writer holding the ledger's
    head while it waits for such a check, behind a transaction that waits for the ledger's head, is a deadlock.

    On SQLite the dialect emits no lock, and needs none: `configure_sqlite` starts every transaction with BEGIN
    IMMEDIATE, so the transaction holds the database's write lock from its first statement and nothing else can
    change anything until it ends; the row is only read again.

    :raises ValueError: for a row that is not stored.
    :raises RuntimeError: if the row has changes not yet flushed: reading it again would throw them away, and a
        lock taken after the row was changed protects nothing.
    """
    state = inspect(row)
    if state.identity is None:
        raise ValueError("lock needs a row that is stored")
    if state.modified and db.session.is_modified(state.obj()):
        raise RuntimeError("lock a row before changing it")
    db.session.refresh(state.obj(), with_for_update={"key_share": True})
    return row


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, on SQLite as on PostgreSQL.

    SQLite has no time zones: values are stored as naive UTC and given their zone back when loaded.
    Naive datetimes are refused, because their meaning depends on the machine.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given for a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def configure_sqlite(engine: Engine) -> None:
    """Make SQLite lock for real, as PostgreSQL does.

    pysqlite sends no BEGIN before a SELECT, and in WAL mode a read transaction cannot later become a write, so a
    read-then-write could act on stale data. SQLAlchemy's documented recipe: take over transaction control and start
    every transaction with BEGIN IMMEDIATE, which takes the write lock up front and serialises writers.
    """

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
