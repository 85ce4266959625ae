"""The ledger's canonical JSON, entry hash and chain verification. Pure: no Flask, no database, no clock.

Each circle has its own chain (and the site has one for what belongs to no circle), so that a circle's ledger can
be published and verified without anything of another circle. Entry n of a chain is hashed as

    hash_n = SHA-256( hash_{n-1} as 64 lower-case hex characters  +  canonical JSON of entry n )

with hash_0 = 64 zeros. The canonical JSON is the object {"seq", "at", "circle", "actor", "action", "subject",
"data"} with keys sorted, no insignificant whitespace, UTF-8 (non-ASCII characters as themselves), `at` as
ISO 8601 UTC with microseconds and a `Z`, and no floating-point numbers anywhere (money is integer minor units).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from fundcircle.phrases import N_

GENESIS_HASH = "0" * 64


class CanonicalJSONError(ValueError):
    """A value that has no canonical JSON form (a float, a NaN, a non-string key, an unknown type)."""


def _check_canonical(value: Any, path: str) -> None:
    if value is None or isinstance(value, bool | str):
        return
    if isinstance(value, int):
        return
    if isinstance(value, float):
        raise CanonicalJSONError(f"{path}: floats are not allowed in the ledger; use integers (minor units)")
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_canonical(item, f"{path}[{index}]")
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CanonicalJSONError(f"{path}: keys must be strings, not {key!r}")
            _check_canonical(item, f"{path}.{key}")
        return
    raise CanonicalJSONError(f"{path}: {type(value).__name__} has no canonical JSON form")


#: Exactly these types need no look inside (subclasses, floats and the rest take the slow path, which explains).
_PLAIN_SCALARS = frozenset({str, int, bool, type(None)})


def _is_plain(value: Any) -> bool:
    """Whether `value` is made only of dicts with str keys, lists and plain scalars: the form every entry has. A
    quick yes/no without paths; `_check_canonical` says what is wrong when this says no."""
    kind = type(value)
    if kind in _PLAIN_SCALARS:
        return True
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str or (type(item) not in _PLAIN_SCALARS and not _is_plain(item)):
                return False
        return True
    if kind is list:
        return all(type(item) in _PLAIN_SCALARS or _is_plain(item) for item in value)
    return False


def json_text(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace. The database stores JSON columns this way, so that a
    ledger entry's `data` is stored as the very text its hash covers, and verification can hash it as read."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> bytes:
    """Serialise `value` the one way the ledger hashes it.

    :raises CanonicalJSONError: if the value holds a float or a type JSON does not have.
    """
    if not _is_plain(value):
        _check_canonical(value, "$")
    try:
        return json_text(value).encode("utf-8")
    except UnicodeEncodeError as error:
        raise CanonicalJSONError(f"text that is not valid Unicode: {error.reason}") from None


def format_at(at: datetime) -> str:
    """The canonical form of a timestamp: UTC, microseconds, `Z`."""
    if at.tzinfo is None:
        raise CanonicalJSONError("ledger timestamps must be timezone-aware")
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)
    if at.year < 1000:  # strftime does not pad such years; keep their form as it always was
        return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    # The same text as strftime("%Y-%m-%dT%H:%M:%S.%fZ"), at a fraction of its cost (verify formats every entry).
    return at.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True)
class EntryContent:
    """What an entry says; everything here is covered by its hash."""

    seq: int
    at: datetime
    circle_id: int | None
    actor_id: int | None
    action: str
    subject_type: str | None
    subject_id: int | None
    data: Mapping[str, Any]

    def as_json_object(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": format_at(self.at),
            "circle": self.circle_id,
            "actor": self.actor_id,
            "action": self.action,
            "subject": {"type": self.subject_type, "id": self.subject_id},
            "data": dict(self.data),
        }


def entry_hash(prev_hash: str, content: EntryContent) -> str:
    """The hash of an entry that follows `prev_hash`."""
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(canonical_json(content.as_json_object()))
    return digest.hexdigest()


def entry_hash_and_leaf(prev_hash: str, content: EntryContent) -> tuple[str, bytes]:
    """The entry's chain hash and its Merkle leaf hash (ledger/merkle.py), from one canonical serialisation."""
    encoded = canonical_json(content.as_json_object())
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(encoded)
    return digest.hexdigest(), hashlib.sha256(b"\x00" + encoded).digest()


def _json_string(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)


def _json_int(value: int | None) -> str:
    return "null" if value is None else str(value)


def sqlite_at_text(stored: str) -> str | None:
    """The canonical form of a timestamp as SQLite stores it (SQLAlchemy's naive UTC text, always with
    microseconds: "2026-12-03 07:10:00.123456"), or None for text of another shape. Verification reads timestamps
    as this text and hashes it as it is, rather than parsing each into a datetime and formatting it back."""
    if len(stored) != 26 or stored[10] != " " or stored[19] != "." or stored[4] != "-" or stored[0] == "0":
        return None
    return f"{stored[:10]}T{stored[11:]}Z"


def entry_hash_with_data_text(prev_hash: str, content: EntryContent, data_text: str, at_text: str | None = None) -> str:
    """The hash of an entry whose `data` is given as stored JSON text, taken as it is: equal to `entry_hash` exactly
    when that text is the canonical JSON of the data (which the database stores). Saves parsing and re-serialising
    every entry when a whole ledger is verified; the rest of the entry is written out by hand, in canonical form
    (keys sorted: action, actor, at, circle, data, seq, subject; a test checks it against `canonical_json`).
    `at_text`, when given, is `format_at(content.at)` as read from storage (`sqlite_at_text`).

    :raises CanonicalJSONError: for text that is not valid Unicode.
    """
    canonical = (
        f'{{"action":{_json_string(content.action)},"actor":{_json_int(content.actor_id)},'
        f'"at":"{at_text or format_at(content.at)}","circle":{_json_int(content.circle_id)},"data":{data_text},'
        f'"seq":{content.seq},"subject":{{"id":{_json_int(content.subject_id)},'
        f'"type":{_json_string(content.subject_type)}}}}}'
    )
    try:
        encoded = canonical.encode("utf-8")
    except UnicodeEncodeError as error:
        raise CanonicalJSONError(f"text that is not valid Unicode: {error.reason}") from None
    digest = hashlib.sha256()
    digest.update(prev_hash.encode("ascii"))
    digest.update(encoded)
    return digest.hexdigest()


@dataclass(frozen=True)
class StoredEntry:
    """An entry as read back from storage or an export, with the hashes stored beside it. `data_text`, when given,
    is `data` as the database stores it (its canonical JSON); then `content.data` is not read unless that text
    turns out not to be canonical (an entry written before JSON was stored canonically)."""

    content: EntryContent
    prev_hash: str
    hash: str
    data_text: str | None = None
    #: `format_at(content.at)`, when storage gave the timestamp as text (SQLite); only with `data_text`.
    at_text: str | None = None

    def recompute_hash(self, prev_hash: str) -> str:
        """:raises CanonicalJSONError: if the content cannot be hashed."""
        if self.data_text is not None:
            quick = entry_hash_with_data_text(prev_hash, self.content, self.data_text, self.at_text)
            if quick == self.hash:
                return quick
            try:
                data = json.loads(self.data_text)
            except ValueError:
                raise CanonicalJSONError("the stored data is not JSON") from None
            if not isinstance(data, dict):
                raise CanonicalJSONError("the stored data is not a JSON object")
            return entry_hash(prev_hash, replace(self.content, data=data))
        return entry_hash(prev_hash, self.content)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    count: int
    head: str
    #: The sequence number of the first entry that does not verify, and why.
    bad_seq: int | None = None
    problem: str | None = None
    #: The problem as a message id and its values, for the reader's language (`problem` is its English sentence).
    problem_id: str | None = None
    problem_params: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def broken(cls, count: int, head: str, bad_seq: int | None, problem_id: str, **params: Any) -> VerifyResult:
        return cls(False, count, head, bad_seq, problem_id % params if params else problem_id, problem_id, params)


def verify_chain(
    entries: Iterable[StoredEntry],
    *,
    expected_head: tuple[int, str] | None = None,
    checkpoint: tuple[int, str] | None = None,
) -> VerifyResult:
    """Recompute a chain from its first entry, in stored order, and report the first entry that breaks it.

    Catches an edited entry (its hash no longer matches), a deleted or inserted one (a gap or repeat in `seq`, or a
    `prev_hash` that does not name the entry before), and a reorder (both). `expected_head` is the (count, hash)
    that the store says the chain ends at, which catches entries cut off the end; `checkpoint` is a (count, hash)
    published earlier, which the chain must still pass through.

    Entries are consumed one at a time, so a long chain is verified in constant memory.
    """
    count = 0
    head = GENESIS_HASH
    if checkpoint is not None and checkpoint[0] == 0 and checkpoint[1] != GENESIS_HASH:
        return VerifyResult.broken(0, GENESIS_HASH, None, N_("a checkpoint at entry 0 must be the genesis hash"))
    checkpoint_seen = checkpoint is None or checkpoint[0] == 0
    for entry in entries:
        expected_seq = count + 1
        seq = entry.content.seq
        if seq != expected_seq:
            what = (
                N_("expected entry %(expected)s, found entry %(seq)s (missing or reordered)")
                if seq > expected_seq
                else N_("expected entry %(expected)s, found entry %(seq)s (repeated or reordered)")
            )
            return VerifyResult.broken(count, head, seq, what, expected=expected_seq, seq=seq)
        if entry.prev_hash != head:
            return VerifyResult.broken(count, head, seq, N_("prev_hash does not name the entry before it"))
        try:
            recomputed = entry.recompute_hash(head)
        except CanonicalJSONError as error:
            return VerifyResult.broken(count, head, seq, N_("entry cannot be hashed: %(error)s"), error=str(error))
        if recomputed != entry.hash:
            return VerifyResult.broken(count, head, seq, N_("content does not match its hash (edited)"))
        count, head = seq, recomputed
        if checkpoint is not None and count == checkpoint[0]:
            if head != checkpoint[1]:
                return VerifyResult.broken(count, head, seq, N_("the chain no longer passes through the checkpoint"))
            checkpoint_seen = True
    if expected_head is not None and (count, head) != expected_head:
        head_seq = expected_head[0]
        if count < head_seq:
            return VerifyResult.broken(
                count,
                head,
                count + 1,
                N_("the head record says entry %(head_seq)s: entries were removed from the end"),
                head_seq=head_seq,
            )
        if count > head_seq:
            return VerifyResult.broken(
                count,
                head,
                head_seq + 1,
                N_("entries were added after the head record's entry %(head_seq)s"),
                head_seq=head_seq,
            )
        return VerifyResult.broken(
            count, head, count, N_("the last entry's hash differs from the head record (the head was altered)")
        )
    if not checkpoint_seen:
        assert checkpoint is not None  # nosec B101  # type narrowing: checkpoint_seen is False only with a checkpoint
        return VerifyResult.broken(
            count,
            head,
            None,
            N_("the chain has %(entries)s entries, fewer than the checkpoint's %(checkpoint)s"),
            entries=count,
            checkpoint=checkpoint[0],
        )
    return VerifyResult(True, count, head)


#: How many hex characters of an entry's hash a receipt shows: 40 bits, so that two entries of one circle's chain
#: sharing them is out of reach by chance, and short enough to read out or write down.
RECEIPT_CHARS = 10
#: The fewest a person must give back to find an entry by its receipt.
RECEIPT_MIN_CHARS = 8


def short_receipt(entry_hash: str) -> str:
    """The receipt people see for an entry: its hash's first RECEIPT_CHARS characters in groups of four, as in
    "7f3a-9c21-b4"."""
    head = entry_hash[:RECEIPT_CHARS].lower()
    return "-".join(head[start : start + 4] for start in range(0, len(head), 4))


def receipt_prefix(code: str) -> str | None:
    """The hash prefix a receipt as a person typed it stands for (groups, spaces and capitals allowed), or None
    when it is not one: fewer than RECEIPT_MIN_CHARS hex characters, more than a whole hash, or other letters."""
    cleaned = "".join(character for character in code.strip().lower() if character not in "- \t")
    if not RECEIPT_MIN_CHARS <= len(cleaned) <= 64 or any(character not in "0123456789abcdef" for character in cleaned):
        return None
    return cleaned
