"""A Merkle tree over a circle's ledger, as RFC 9162 (Certificate Transparency 2.0) defines it. Pure: no Flask, no
database, no clock.

Leaf i of a chain's tree is entry seq i+1; its leaf data is the entry's canonical JSON (the bytes the hash chain
covers, without the previous hash), so the tree and the chain are two views of the same entries:

    leaf hash  = SHA-256(0x00 || canonical JSON of the entry)
    node hash  = SHA-256(0x01 || left || right)
    MTH({})    = SHA-256("")

Storage: every *perfect* subtree (2^level leaves starting at index * 2^level) is stored as a node once it is
complete, which is on average two nodes per appended leaf, written in the append's transaction. The hash of any range
a proof needs, [start, end) with start aligned, is then the fold of at most log2(n) stored perfect nodes, so a head,
an inclusion proof or a consistency proof reads O(log n) nodes (in one query), never the log. The append itself needs
only the *frontier*: the hashes of the perfect subtrees that make up the current size (one per set bit of the size),
kept on the chain's head row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

EMPTY_ROOT = hashlib.sha256(b"").digest()

#: A perfect subtree: (level, index) covers leaves [index * 2**level, (index + 1) * 2**level).
NodeKey = tuple[int, int]


def leaf_hash(leaf_data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf_data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _largest_power_of_two_below(n: int) -> int:
    """The k of RFC 9162: the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


# --- the frontier, and appending ----------------------------------------------------------------------------------


def frontier_levels(size: int) -> list[int]:
    """The levels of the perfect subtrees that make up a tree of `size` leaves, left to right (its set bits, high
    to low)."""
    return [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]


def encode_frontier(frontier: Sequence[bytes]) -> str:
    return "".join(digest.hex() for digest in frontier)


def decode_frontier(text: str, size: int) -> list[bytes]:
    """:raises ValueError: if the text does not hold one hash per set bit of `size`."""
    count = bin(size).count("1")
    if len(text) != 64 * count:
        raise ValueError(f"the tree frontier holds {len(text) // 64} hashes; a tree of {size} leaves has {count}")
    return [bytes.fromhex(text[64 * i : 64 * (i + 1)]) for i in range(count)]


@dataclass(frozen=True)
class Appended:
    """What appending leaves gives: the new frontier and the perfect nodes completed, as (level, index, hash)."""

    frontier: list[bytes]
    nodes: list[tuple[int, int, bytes]]


def append_leaves(size: int, frontier: Sequence[bytes], leaves: Iterable[bytes]) -> Appended:
    """Append leaf hashes to a tree of `size` leaves whose frontier is given; every perfect subtree each leaf
    completes is returned, so that a store keeps them (level 0 is the leaf itself)."""
    stack = list(frontier)
    levels = frontier_levels(size)
    nodes: list[tuple[int, int, bytes]] = []
    index = size
    for leaf in leaves:
        carry, level = leaf, 0
        nodes.append((0, index, leaf))
        while levels and levels[-1] == level:
            levels.pop()
            carry = node_hash(stack.pop(), carry)
            level += 1
            nodes.append((level, index >> level, carry))
        stack.append(carry)
        levels.append(level)
        index += 1
    return Appended(stack, nodes)


def root_of_frontier(frontier: Sequence[bytes]) -> bytes:
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for left in reversed(frontier[:-1]):
        root = node_hash(left, root)
    return root


# --- ranges and proofs over stored perfect nodes ------------------------------------------------------------------


def range_nodes(start: int, end: int) -> list[NodeKey]:
    """The perfect subtrees that make up leaves [start, end), left to right, for a `start` that is a multiple of the
    largest power of two not above end - start (every range an RFC 9162 proof asks for is so)."""
    keys: list[NodeKey] = []
    while start < end:
        level = (end - start).bit_length() - 1
        while start % (1 << level):
            level -= 1
        keys.append((level, start >> level))
        start += 1 << level
    return keys


def _fold(keys: Sequence[NodeKey], nodes: Mapping[NodeKey, bytes]) -> bytes:
    return root_of_frontier([nodes[key] for key in keys])


def _inclusion_ranges(index: int, start: int, end: int) -> list[tuple[int, int]]:
    """RFC 9162 2.1.3.1 PATH(m, D[start:end]) as the ranges whose hashes it lists, deepest first."""
    if end - start <= 1:
        return []
    k = _largest_power_of_two_below(end - start)
    if index < start + k:
        return [*_inclusion_ranges(index, start, start + k), (start + k, end)]
    return [*_inclusion_ranges(index, start + k, end), (start, start + k)]


def _consistency_ranges(old: int, start: int, end: int, whole: bool) -> list[tuple[int, int]]:
    """RFC 9162 2.1.4.1 SUBPROOF(m, D[start:end], b) as ranges."""
    if old == end - start:
        return [] if whole else [(start, end)]
    k = _largest_power_of_two_below(end - start)
    if old <= k:
        return [*_consistency_ranges(old, start, start + k, whole), (start + k, end)]
    return [*_consistency_ranges(old - k, start + k, end, False), (start, start + k)]


def inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """:raises ValueError: unless 0 <= index < size."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size} leaves")
    return _inclusion_ranges(index, 0, size)


def consistency_ranges(old: int, new: int) -> list[tuple[int, int]]:
    """:raises ValueError: unless 0 <= old <= new."""
    if not 0 <= old <= new:
        raise ValueError(f"a tree of {old} leaves cannot be a prefix of one of {new}")
    if old in (0, new):
        return []
    return _consistency_ranges(old, 0, new, True)


NodeReader = Callable[[set[NodeKey]], Mapping[NodeKey, bytes]]


def needed_nodes(ranges: Iterable[tuple[int, int]]) -> set[NodeKey]:
    return {key for start, end in ranges for key in range_nodes(start, end)}


def hashes_of_ranges(ranges: Sequence[tuple[int, int]], read: NodeReader) -> list[bytes]:
    """The hashes of `ranges`, reading every stored node they need in one call of `read`.

    :raises KeyError: if the store lacks a node (the tree is not stored as far as the ranges reach).
    """
    nodes = read(needed_nodes(ranges))
    return [_fold(range_nodes(start, end), nodes) for start, end in ranges]


def root_at(size: int, read: NodeReader) -> bytes:
    """The root of the first `size` leaves, from stored nodes (a past size too)."""
    return EMPTY_ROOT if size == 0 else hashes_of_ranges([(0, size)], read)[0]


# --- verification (RFC 9162 2.1.3.2 and 2.1.4.2) ------------------------------------------------------------------


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """Whether `proof` shows the leaf hash `leaf` at `index` in the tree of `size` leaves whose root is `root`."""
    if index >= size or index < 0:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    """Whether `proof` shows that the tree of `old` leaves with root `old_root` is a prefix of the tree of `new`
    leaves with root `new_root`."""
    if old < 0 or new < old:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof
    path = list(proof)
    if old & (old - 1) == 0:  # a power of two: the old root is the first node of the path
        path.insert(0, old_root)
    if not path:
        return False
    fn, sn = old - 1, new - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root
