"""Appending to the ledger: `record` is the one function every state change calls, in the caller's transaction.

The ground floor of the package: it imports no area, so that every area can record what it changes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Integer, Select, String, bindparam, exists, func, insert, select, union_all, update
from sqlalchemy.sql.dml import Update

from fundcircle.db import Base, UTCDateTime, utcnow
from fundcircle.extensions import db
from fundcircle.ledger.chain import (
    EntryContent,
    canonical_json,
    entry_hash_and_leaf,
)
from fundcircle.ledger.merkle import append_leaves, decode_frontier, encode_frontier
from fundcircle.ledger.models import LedgerChain, LedgerEntry, LedgerTreeNode
from fundcircle.unit_of_work import write


class Actor(Protocol):
    """Whoever acts: a `auth.models.User` (None, where the callers allow it, is the clock or the system)."""

    @property
    def id(self) -> int: ...


# The tables, not the mapped classes, for the batched inserts: a Core executemany, with none of the ORM's per-row
# bulk bookkeeping.
_ENTRIES = Base.metadata.tables[LedgerEntry.__tablename__]
_TREE_NODES = Base.metadata.tables[LedgerTreeNode.__tablename__]
_TREE_NODES_INSERT = insert(_TREE_NODES)

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def subject_type_of(subject: object) -> str:
    """`ProposalVersion` -> "proposal_version"."""
    return _CAMEL.sub("_", type(subject).__name__).lower()


def create_chain(circle_id: int) -> LedgerChain:
    """Start a circle's own chain; call in the transaction that creates the circle."""
    chain = LedgerChain(circle_id=circle_id, head_seq=0)
    db.session.add(chain)
    db.session.flush()
    return chain


def record(
    action: str,
    *,
    actor: Actor | None,
    circle_id: int | None,
    subject: Any = None,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> LedgerEntry:
    """Append one entry to the circle's chain (or the site's when `circle_id` is None), in the caller's transaction.

    The chain's head row is updated first (`UPDATE ... SET head_seq = head_seq + 1 ... RETURNING`), which takes a
    row lock on PostgreSQL (SQLite's BEGIN IMMEDIATE already serialises writers), so two transactions can never
    take the same `seq` or fork the chain; the UNIQUE (chain_id, seq) constraint backs that up. The caller commits.

    :raises CanonicalJSONError: if `data` holds a float or another value with no canonical JSON form.
    """
    db.session.flush()  # the subject needs its id
    canonical_json(dict(data or {}))  # refuse a float before the head moves, not after
    where = LedgerChain.circle_id == circle_id if circle_id is not None else LedgerChain.circle_id.is_(None)
    head = db.session.execute(
        update(LedgerChain)
        .where(where)
        .values(head_seq=LedgerChain.head_seq + 1)
        .returning(LedgerChain.id, LedgerChain.head_seq, LedgerChain.head_hash, LedgerChain.tree_frontier),
        execution_options={"synchronize_session": False},
    ).one_or_none()
    if head is None:
        raise LookupError(f"no ledger chain for circle {circle_id!r}")
    content = EntryContent(
        seq=head.head_seq,
        at=at or utcnow(),
        circle_id=circle_id,
        actor_id=actor.id if actor is not None else None,
        action=action,
        subject_type=subject_type_of(subject) if subject is not None else None,
        subject_id=getattr(subject, "id", None) if subject is not None else None,
        data=dict(data or {}),
    )
    new_hash, leaf = entry_hash_and_leaf(head.head_hash, content)
    tree = append_leaves(content.seq - 1, decode_frontier(head.tree_frontier, content.seq - 1), [leaf])
    entry = LedgerEntry(
        chain_id=head.id,
        seq=content.seq,
        at=content.at,
        circle_id=circle_id,
        actor_id=content.actor_id,
        action=action,
        subject_type=content.subject_type,
        subject_id=content.subject_id,
        data=content.data,
        prev_hash=head.head_hash,
        hash=new_hash,
    )
    db.session.add(entry)
    _store_tree(head.id, tree.nodes)
    db.session.execute(
        update(LedgerChain)
        .where(LedgerChain.id == head.id)
        .values(head_hash=new_hash, tree_frontier=encode_frontier(tree.frontier)),
        execution_options={"synchronize_session": False},
    )
    db.session.flush()
    return entry


def _store_tree(chain_id: int, nodes: list[tuple[int, int, bytes]]) -> None:
    """The perfect subtrees an append completed (about two per entry), in one INSERT: the tree's only cost on the
    append besides the frontier, which moves in the head's UPDATE."""
    write(
        _TREE_NODES_INSERT,
        [{"chain_id": chain_id, "level": level, "idx": index, "hash": node.hex()} for level, index, node in nodes],
    )


def record_many(
    action: str,
    items: list[tuple[Any, Mapping[str, Any]]],
    *,
    actor: Actor | None,
    circle_id: int | None,
    at: datetime | None = None,
) -> list[tuple[int, str]]:
    """Append one entry per (subject, data) in `items`, in order, exactly as calling `record` for each would, but
    with one move of the chain's head and one batched insert (deciding a large round writes hundreds of entries).
    Returns each entry's (seq, hash). The caller commits.

    :raises CanonicalJSONError: if any `data` holds a float or another value with no canonical JSON form.
    """
    if not items:
        return []
    db.session.flush()  # the subjects need their ids
    return append_entries(
        [
            NewEntry(
                action,
                subject_type_of(subject) if subject is not None else None,
                getattr(subject, "id", None) if subject is not None else None,
                data,
            )
            for subject, data in items
        ],
        actor=actor,
        circle_id=circle_id,
        at=at,
    )


@dataclass(frozen=True)
class NewEntry:
    """An entry to append by `append_entries`: its subject named by type and id, not by a loaded object."""

    action: str
    subject_type: str | None
    subject_id: int | None
    data: Mapping[str, Any]


def append_entries(
    entries: list[NewEntry], *, actor: Actor | None, circle_id: int | None, at: datetime | None = None
) -> list[tuple[int, str]]:
    """Append `entries` to the circle's chain (the site's when `circle_id` is None), in order, with the same seqs,
    payloads and hashes as calling `record` for each, in Core statements whose number does not depend on how many
    there are: the head's move (which locks it, as `record`'s does, until the caller's COMMIT), one batched insert
    of the entries, one of the tree nodes, and the head's new hash and frontier. Writes nothing for no entries.
    Returns each entry's (seq, hash). Loads no ORM objects and does not flush: pass subjects by id.

    :raises CanonicalJSONError: if any `data` holds a float or another value with no canonical JSON form (before
        the head moves).
    :raises LookupError: if the circle has no chain.
    """
    if not entries:
        return []
    for entry in entries:
        canonical_json(dict(entry.data))
    where = LedgerChain.circle_id == circle_id if circle_id is not None else LedgerChain.circle_id.is_(None)
    head = db.session.execute(
        update(LedgerChain)
        .where(where)
        .values(head_seq=LedgerChain.head_seq + len(entries))
        .returning(LedgerChain.id, LedgerChain.head_seq, LedgerChain.head_hash, LedgerChain.tree_frontier),
        execution_options={"synchronize_session": False},
    ).one_or_none()
    if head is None:
        raise LookupError(f"no ledger chain for circle {circle_id!r}")
    first_seq = head.head_seq - len(entries) + 1
    at = at or utcnow()
    actor_id = actor.id if actor is not None else None
    prev: str = head.head_hash
    rows: list[dict[str, Any]] = []
    written: list[tuple[int, str]] = []
    leaves: list[bytes] = []
    for seq, entry in enumerate(entries, start=first_seq):
        content = EntryContent(
            seq=seq,
            at=at,
            circle_id=circle_id,
            actor_id=actor_id,
            action=entry.action,
            subject_type=entry.subject_type,
            subject_id=entry.subject_id,
            data=dict(entry.data),
        )
        new_hash, leaf = entry_hash_and_leaf(prev, content)
        leaves.append(leaf)
        rows.append({
            "chain_id": head.id, "seq": seq, "at": at, "circle_id": circle_id, "actor_id": actor_id,
            "action": entry.action, "subject_type": entry.subject_type, "subject_id": entry.subject_id,
            "data": content.data, "prev_hash": prev, "hash": new_hash,
        })  # fmt: skip
        written.append((seq, new_hash))
        prev = new_hash
    db.session.execute(insert(_ENTRIES), rows)
    tree = append_leaves(first_seq - 1, decode_frontier(head.tree_frontier, first_seq - 1), leaves)
    _store_tree(head.id, tree.nodes)
    db.session.execute(
        update(LedgerChain)
        .where(LedgerChain.id == head.id)
        .values(head_hash=prev, tree_frontier=encode_frontier(tree.frontier)),
        execution_options={"synchronize_session": False},
    )
    return written


# --- an append prepared before the head is locked ----------------------------------------------------------------
#
# `record` locks the chain's head with its first statement and holds it until COMMIT, through everything the caller
# does after it. A hot path (a ballot save) instead reads the head without a lock early in its transaction, computes
# the entry from it, and writes entry, tree nodes and head at the very end as a compare-and-set on the head: on
# PostgreSQL in one statement, so the head's row lock is held only for that statement and the commit. If another
# append moved the head meanwhile, nothing is written: the caller computes the entry again on the head, read and
# locked (`rechain_on_locked_head`), and appends it with the same statement, which then cannot fail.


@dataclass(frozen=True)
class ChainHead:
    """A chain's head as read (unlocked): its id, seq, hash and Merkle frontier."""

    chain_id: int
    seq: int
    hash: str
    frontier: str


@dataclass(frozen=True)
class PreparedEntry:
    """An entry computed on a head read without a lock; `append_prepared` writes it if the head is still there."""

    head: ChainHead
    values: dict[str, Any]
    nodes: list[tuple[int, int, bytes]]
    frontier: str

    @property
    def seq(self) -> int:
        return int(self.values["seq"])

    @property
    def hash(self) -> str:
        return str(self.values["hash"])


def chain_head_columns() -> tuple[Any, ...]:
    """The columns of `ledger_chains` a `ChainHead` is made of, for a caller's own (joined) read."""
    return (LedgerChain.id, LedgerChain.head_seq, LedgerChain.head_hash, LedgerChain.tree_frontier)


def prepare_entry(
    head: ChainHead,
    action: str,
    *,
    actor: Actor | None,
    circle_id: int | None,
    subject_type: str | None = None,
    subject_id: int | None = None,
    data: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> PreparedEntry:
    """The entry `record` would append after `head`, computed without touching the database.

    :raises CanonicalJSONError: if `data` holds a float or another value with no canonical JSON form.
    """
    return _prepared_on(
        head,
        EntryContent(
            seq=head.seq + 1,
            at=at or utcnow(),
            circle_id=circle_id,
            actor_id=actor.id if actor is not None else None,
            action=action,
            subject_type=subject_type,
            subject_id=subject_id,
            data=dict(data or {}),
        ),
    )


def _prepared_on(head: ChainHead, content: EntryContent) -> PreparedEntry:
    """`content` (whose seq is the one after `head`'s) chained on `head`: its hash, tree nodes and the frontier."""
    new_hash, leaf = entry_hash_and_leaf(head.hash, content)
    tree = append_leaves(head.seq, decode_frontier(head.frontier, head.seq), [leaf])
    values = {
        "chain_id": head.chain_id, "seq": content.seq, "at": content.at, "circle_id": content.circle_id,
        "actor_id": content.actor_id, "action": content.action, "subject_type": content.subject_type,
        "subject_id": content.subject_id, "data": content.data, "prev_hash": head.hash, "hash": new_hash,
    }  # fmt: skip
    return PreparedEntry(head, values, tree.nodes, encode_frontier(tree.frontier))


def rechain_on_locked_head(entry: PreparedEntry) -> PreparedEntry:
    """The same entry (action, actor, subject, data and time) computed again on its chain's head as it is now,
    read `FOR UPDATE`: for an `append_prepared` that found the head moved. The head stays locked until the
    caller's COMMIT, so appending the returned entry with `append_prepared` cannot fail again; it is the append's
    own lock taken one statement early, not held any longer. (SQLite has no row locks; its BEGIN IMMEDIATE already
    keeps every other writer out.)

    :raises LookupError: if the entry's chain is gone.
    """
    row = db.session.execute(
        select(*chain_head_columns()).where(LedgerChain.id == entry.head.chain_id).with_for_update()
    ).one_or_none()
    if row is None:
        raise LookupError(f"no ledger chain {entry.head.chain_id!r}")
    head = ChainHead(*row)
    values = entry.values
    content = EntryContent(
        seq=head.seq + 1,
        at=values["at"],
        circle_id=values["circle_id"],
        actor_id=values["actor_id"],
        action=values["action"],
        subject_type=values["subject_type"],
        subject_id=values["subject_id"],
        data=values["data"],
    )
    return _prepared_on(head, content)


# The append's statements are built once per shape (how many tree nodes, which `also`) with bind parameters, so
# that a save neither rebuilds them nor computes their cache key again: SQLAlchemy memoises the key on the object.
_CHAINS = Base.metadata.tables[LedgerChain.__tablename__]
_ENTRY_COLUMNS = ("chain_id", "seq", "at", "circle_id", "actor_id", "action", "subject_type", "subject_id", "data",
                  "prev_hash", "hash")  # fmt: skip
#: The head's compare-and-set: moved to the entry only if it is still where the entry was computed from.
_HEAD_MOVED = (
    update(_CHAINS)
    .where(
        _CHAINS.c.id == bindparam("head_chain_id"),
        _CHAINS.c.head_seq == bindparam("head_seq_was"),
        _CHAINS.c.head_hash == bindparam("head_hash_was"),
    )
    .values(head_seq=bindparam("entry_seq"), head_hash=bindparam("entry_hash"), tree_frontier=bindparam("frontier"))
)
_ENTRY_PARAMETERS = [
    bindparam(f"entry_{name}", type_=UTCDateTime() if name == "at" else _ENTRIES.c[name].type)
    for name in _ENTRY_COLUMNS
]
#: SQLite's append after the compare-and-set (PostgreSQL's is one statement, `_one_statement_append`).
_ENTRY_INSERT = insert(_ENTRIES).values(dict(zip(_ENTRY_COLUMNS, _ENTRY_PARAMETERS, strict=True)))
_one_statement_appends: dict[tuple[int, int | None], tuple[Update | None, Select[Any]]] = {}


def _append_parameters(entry: PreparedEntry) -> dict[str, Any]:
    """The bind parameters of the append statements for `entry`; the tree nodes' are numbered in their order."""
    head = entry.head
    parameters: dict[str, Any] = {f"entry_{name}": entry.values[name] for name in _ENTRY_COLUMNS}
    parameters.update(
        head_chain_id=head.chain_id, head_seq_was=head.seq, head_hash_was=head.hash, frontier=entry.frontier
    )
    for number, (level, index, node) in enumerate(entry.nodes):
        parameters[f"node_level_{number}"] = level
        parameters[f"node_idx_{number}"] = index
        parameters[f"node_hash_{number}"] = node.hex()
    return parameters


def _one_statement_append(node_count: int, also: Update | None) -> Select[Any]:
    """PostgreSQL's append of an entry with `node_count` tree nodes (and `also`): data-modifying CTEs hanging off
    the head's compare-and-set, each writing only if it moved the head; selects how many heads it moved (0 or 1)."""
    key = (node_count, id(also) if also is not None else None)
    if (built := _one_statement_appends.get(key)) is not None and built[0] is also:
        return built[1]
    moved = _HEAD_MOVED.returning(_CHAINS.c.id).cte("moved_head")
    head_moved = exists(select(moved.c.id))
    row = select(*[parameter.label(name) for name, parameter in zip(_ENTRY_COLUMNS, _ENTRY_PARAMETERS, strict=True)])
    entry_written = (
        insert(_ENTRIES).from_select(list(_ENTRY_COLUMNS), row.where(head_moved)).returning(_ENTRIES.c.id)
    ).cte("entry_written")
    statement = select(func.count()).select_from(moved).add_cte(entry_written)
    if node_count:
        nodes = union_all(
            *[
                select(
                    moved.c.id,
                    bindparam(f"node_level_{number}", type_=Integer()).label("level"),
                    bindparam(f"node_idx_{number}", type_=Integer()).label("idx"),
                    bindparam(f"node_hash_{number}", type_=String()).label("hash"),
                )
                for number in range(node_count)
            ]
        )
        tree_written = insert(_TREE_NODES).from_select(["chain_id", "level", "idx", "hash"], nodes).cte("tree_written")
        statement = statement.add_cte(tree_written)
    if also is not None:
        statement = statement.add_cte(also.where(head_moved).cte("also_written"))
    _one_statement_appends[key] = (also, statement)
    return statement


def append_prepared(
    entry: PreparedEntry, *, also: Update | None = None, also_parameters: Mapping[str, Any] | None = None
) -> bool:
    """Append a prepared entry, with its tree nodes and the head's move, if the head has not moved since it was read;
    `also` (an UPDATE of the caller's, such as a ballot's receipt) is done with it, only if it is appended. Call it
    last before the commit. Returns False, having written nothing, if another append came first.

    `also` is built once by the caller with bind parameters: `also_parameters` gives their values, and
    `bindparam("entry_hash")` is the entry's hash. Its names must not start with "entry_", "head_" or "node_".

    On PostgreSQL this is one statement (data-modifying CTEs hanging off the head's compare-and-set), so the head's
    row lock is taken by the last statement of the transaction. SQLite has no such CTEs; its transaction holds the
    database's write lock from BEGIN IMMEDIATE, so the head cannot have moved and the statements simply follow.
    """
    parameters = _append_parameters(entry)
    if also_parameters:
        parameters.update(also_parameters)
    # Through the session's connection (`write`): these statements are on tables, built once, and the ORM's
    # execution would cost more than their round trips.
    if db.session.get_bind().dialect.name != "postgresql":
        if write(_HEAD_MOVED, parameters).rowcount != 1:
            return False
        write(_ENTRY_INSERT, parameters)
        _store_tree(entry.head.chain_id, entry.nodes)
        if also is not None:
            write(also, parameters)
        return True
    return bool(write(_one_statement_append(len(entry.nodes), also), parameters).scalar())
