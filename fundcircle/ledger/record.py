"""Appending to the ledger: `record` is the one function every state change calls, in the caller's transaction.

The ground floor of the package: it imports no area, so that every area can record what it changes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import insert, update

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.chain import (
    EntryContent,
    canonical_json,
    entry_hash_and_leaf,
)
from fundcircle.ledger.merkle import append_leaves, decode_frontier, encode_frontier
from fundcircle.ledger.models import LedgerChain, LedgerEntry, LedgerTreeNode


class Actor(Protocol):
    """Whoever acts: a `auth.models.User` (None, where the callers allow it, is the clock or the system)."""

    @property
    def id(self) -> int: ...


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
    db.session.execute(
        insert(LedgerTreeNode),
        [{"chain_id": chain_id, "level": level, "index": index, "hash": node.hex()} for level, index, node in nodes],
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
    for _, data in items:
        canonical_json(dict(data))
    where = LedgerChain.circle_id == circle_id if circle_id is not None else LedgerChain.circle_id.is_(None)
    head = db.session.execute(
        update(LedgerChain)
        .where(where)
        .values(head_seq=LedgerChain.head_seq + len(items))
        .returning(LedgerChain.id, LedgerChain.head_seq, LedgerChain.head_hash, LedgerChain.tree_frontier),
        execution_options={"synchronize_session": False},
    ).one_or_none()
    if head is None:
        raise LookupError(f"no ledger chain for circle {circle_id!r}")
    first_seq = head.head_seq - len(items) + 1
    at = at or utcnow()
    actor_id = actor.id if actor is not None else None
    prev, rows, written, leaves = head.head_hash, [], [], []
    for seq, (subject, data) in enumerate(items, start=first_seq):
        content = EntryContent(
            seq=seq,
            at=at,
            circle_id=circle_id,
            actor_id=actor_id,
            action=action,
            subject_type=subject_type_of(subject) if subject is not None else None,
            subject_id=getattr(subject, "id", None) if subject is not None else None,
            data=dict(data),
        )
        new_hash, leaf = entry_hash_and_leaf(prev, content)
        leaves.append(leaf)
        rows.append({
            "chain_id": head.id, "seq": seq, "at": at, "circle_id": circle_id, "actor_id": actor_id,
            "action": action, "subject_type": content.subject_type, "subject_id": content.subject_id,
            "data": content.data, "prev_hash": prev, "hash": new_hash,
        })  # fmt: skip
        written.append((seq, new_hash))
        prev = new_hash
    db.session.execute(insert(LedgerEntry), rows)
    tree = append_leaves(first_seq - 1, decode_frontier(head.tree_frontier, first_seq - 1), leaves)
    _store_tree(head.id, tree.nodes)
    db.session.execute(
        update(LedgerChain)
        .where(LedgerChain.id == head.id)
        .values(head_hash=prev, tree_frontier=encode_frontier(tree.frontier)),
        execution_options={"synchronize_session": False},
    )
    return written
