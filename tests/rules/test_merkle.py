"""ledger/merkle.py against RFC 9162: the test vectors of Certificate Transparency's reference implementations, and
random logs up to 100,000 leaves checked against the RFC's recursive definitions written out here (no database)."""

from __future__ import annotations

import hashlib
import random
from collections.abc import Mapping

import pytest

from fundcircle.ledger.merkle import (
    EMPTY_ROOT,
    NodeKey,
    append_leaves,
    consistency_ranges,
    decode_frontier,
    encode_frontier,
    hashes_of_ranges,
    inclusion_ranges,
    leaf_hash,
    node_hash,
    root_at,
    root_of_frontier,
    verify_consistency,
    verify_inclusion,
)

# The leaves and roots of RFC 6962's test data (certificate-transparency's merkle_tree_test.cc, reused by
# transparency-dev/merkle for RFC 9162, whose hashing is the same).
VECTOR_LEAVES = [bytes.fromhex(h) for h in ("", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                                            "606162636465666768696a6b6c6d6e6f")]  # fmt: skip
VECTOR_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
VECTOR_INCLUSION_0_OF_8 = [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]


# --- RFC 9162 2.1.1, 2.1.3.1 and 2.1.4.1, as written there ---------------------------------------------------------


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def reference_root(leaves: list[bytes]) -> bytes:
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = _k(len(leaves))
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def reference_path(m: int, leaves: list[bytes]) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*reference_path(m, leaves[:k]), reference_root(leaves[k:])]
    return [*reference_path(m - k, leaves[k:]), reference_root(leaves[:k])]


def reference_subproof(m: int, leaves: list[bytes], whole: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if whole else [reference_root(leaves)]
    k = _k(n)
    if m <= k:
        return [*reference_subproof(m, leaves[:k], whole), reference_root(leaves[k:])]
    return [*reference_subproof(m - k, leaves[k:], False), reference_root(leaves[:k])]


# --- a store of perfect nodes, as the database keeps them ------------------------------------------------------------


class NodeStore:
    def __init__(self) -> None:
        self.size = 0
        self.frontier: list[bytes] = []
        self.nodes: dict[NodeKey, bytes] = {}
        self.reads = 0

    def append(self, leaves: list[bytes]) -> None:
        appended = append_leaves(self.size, self.frontier, leaves)
        self.frontier = appended.frontier
        self.size += len(leaves)
        for level, index, digest in appended.nodes:
            self.nodes[(level, index)] = digest

    def read(self, keys: set[NodeKey]) -> Mapping[NodeKey, bytes]:
        self.reads += len(keys)
        return {key: self.nodes[key] for key in keys}


def _leaves(count: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [leaf_hash(rng.randbytes(rng.randrange(0, 40))) for _ in range(count)]


def test_roots_and_an_inclusion_proof_equal_rfc_6962_test_vectors() -> None:
    store = NodeStore()
    for size, (data, root) in enumerate(zip(VECTOR_LEAVES, VECTOR_ROOTS, strict=True), start=1):
        store.append([leaf_hash(data)])
        assert root_of_frontier(store.frontier).hex() == root
        assert root_at(size, store.read).hex() == root
    proof = hashes_of_ranges(inclusion_ranges(0, 8), store.read)
    assert [p.hex() for p in proof] == VECTOR_INCLUSION_0_OF_8
    assert verify_inclusion(0, 8, leaf_hash(VECTOR_LEAVES[0]), proof, bytes.fromhex(VECTOR_ROOTS[7]))
    assert root_of_frontier([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_every_proof_of_small_trees_equals_the_rfc_definition_and_verifies() -> None:
    leaves = _leaves(70, seed=1)
    store = NodeStore()
    for n in range(1, len(leaves) + 1):
        store.append([leaves[n - 1]])
        root = reference_root(leaves[:n])
        assert root_of_frontier(store.frontier) == root
        for m in range(n):
            proof = hashes_of_ranges(inclusion_ranges(m, n), store.read)
            assert proof == reference_path(m, leaves[:n])
            assert verify_inclusion(m, n, leaves[m], proof, root)
            assert not verify_inclusion(m, n, leaves[(m + 1) % n], proof, root) or n == 1
        for old in range(1, n + 1):
            proof = hashes_of_ranges(consistency_ranges(old, n), store.read)
            assert proof == (reference_subproof(old, leaves[:n], True) if old < n else [])
            old_root = reference_root(leaves[:old])
            assert verify_consistency(old, n, old_root, root, proof)
            if old < n:
                assert not verify_consistency(old, n, node_hash(old_root, old_root), root, proof)


@pytest.mark.parametrize("size", [1_000, 33_333, 100_000])
def test_random_logs_up_to_100000_leaves_match_the_rfc_and_read_log_n_nodes(size: int) -> None:
    leaves = _leaves(size, seed=size)
    store = NodeStore()
    rng = random.Random(size)
    # Appended in uneven batches, as `record_many` does.
    at = 0
    while at < size:
        batch = min(size - at, rng.choice([1, 1, 2, 7, 300]))
        store.append(leaves[at : at + batch])
        at += batch
    root = reference_root(leaves)
    assert root_of_frontier(store.frontier) == root
    assert decode_frontier(encode_frontier(store.frontier), size) == store.frontier
    # About two nodes per leaf are stored, never more than 2n.
    assert len(store.nodes) < 2 * size
    for _ in range(40):
        m = rng.randrange(size)
        store.reads = 0
        proof = hashes_of_ranges(inclusion_ranges(m, size), store.read)
        assert store.reads <= 2 * size.bit_length()
        assert verify_inclusion(m, size, leaves[m], proof, root)
        old = rng.randrange(1, size)
        store.reads = 0
        consistency = hashes_of_ranges(consistency_ranges(old, size), store.read)
        assert store.reads <= 3 * size.bit_length()
        old_root = root_at(old, store.read)
        assert verify_consistency(old, size, old_root, root, consistency)
    # A handful of full comparisons with the recursive definition (slow in pure Python, so few).
    for m in (0, size // 2, size - 1):
        assert hashes_of_ranges(inclusion_ranges(m, size), store.read) == reference_path(m, leaves)
    old = size // 3 + 1
    assert hashes_of_ranges(consistency_ranges(old, size), store.read) == reference_subproof(old, leaves, True)
    assert root_at(old, store.read) == reference_root(leaves[:old])


def test_a_changed_leaf_or_a_rewritten_history_fails_the_proofs() -> None:
    leaves = _leaves(100, seed=7)
    honest, forked = NodeStore(), NodeStore()
    honest.append(leaves)
    forked.append(leaves[:40] + [leaf_hash(b"rewritten")] + leaves[41:])
    old_root = root_at(60, honest.read)
    proof = hashes_of_ranges(consistency_ranges(60, 100), forked.read)
    assert not verify_consistency(60, 100, old_root, root_of_frontier(forked.frontier), proof)
    inclusion = hashes_of_ranges(inclusion_ranges(40, 100), honest.read)
    assert not verify_inclusion(40, 100, leaf_hash(b"rewritten"), inclusion, root_of_frontier(honest.frontier))


def test_sizes_out_of_range_are_refused() -> None:
    with pytest.raises(ValueError, match="not in a tree of 3"):
        inclusion_ranges(3, 3)
    with pytest.raises(ValueError, match="cannot be a prefix"):
        consistency_ranges(5, 4)
    with pytest.raises(ValueError, match="frontier holds"):
        decode_frontier("00" * 32, 3)
