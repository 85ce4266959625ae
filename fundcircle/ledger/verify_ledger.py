#!/usr/bin/env python3
"""Check a Fund Circle ledger export with nothing of Fund Circle's: Python 3.11+ and its standard library only.

    python3 verify_ledger.py ledger.jsonl --key 'NAME+HASH+BASE64' --checkpoint kept.txt [--checkpoint more.txt ...]
                             [--inclusion proof.json] [--consistency proof.json]

It recomputes every entry's canonical JSON and the hash chain, builds the RFC 9162 Merkle tree over the entries,
checks each checkpoint's Ed25519 signature (signed-note format) against the site key you trust, and that the tree
of the export at the checkpoint's size has the checkpoint's root. Given one checkpoint you kept from earlier (a
notice e-mail, your browser, a witness), it catches an entry edited, deleted, inserted or reordered, entries cut off
the end, a history rewritten and signed again with another key, and a log forked to show two members different
histories. Proof files (as the API serves them) are checked against the checkpoints too. Exit status 0 when
everything verifies, 1 otherwise; each problem is said in words.

Deliberately written apart from the server's code (fundcircle/ledger/merkle.py, note.py): an independent second
implementation of the same RFCs, short enough to read before trusting it.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# --- Ed25519 signature verification (RFC 8032, section 5.1.7), in plain integers ---------------------------------

_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
Point = tuple[int, int, int, int]


def _add(a: Point, b: Point) -> Point:
    x1, y1, z1, t1 = a
    x2, y2, z2, t2 = b
    aa = (y1 - x1) * (y2 - x2) % _P
    bb = (y1 + x1) * (y2 + x2) % _P
    cc = 2 * t1 * t2 * _D % _P
    dd = 2 * z1 * z2 % _P
    e, f, g, h = bb - aa, dd - cc, dd + cc, bb + aa
    return (e * f % _P, g * h % _P, f * g % _P, e * h % _P)


def _multiply(scalar: int, point: Point) -> Point:
    result: Point = (0, 1, 1, 0)
    while scalar:
        if scalar & 1:
            result = _add(result, point)
        point = _add(point, point)
        scalar >>= 1
    return result


def _equal(a: Point, b: Point) -> bool:
    return (a[0] * b[2] - b[0] * a[2]) % _P == 0 and (a[1] * b[2] - b[1] * a[2]) % _P == 0


def _decompress(data: bytes) -> Point | None:
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign = y >> 255
    y &= (1 << 255) - 1
    if y >= _P:
        return None
    x2 = (y * y - 1) * pow(_D * y * y + 1, _P - 2, _P) % _P
    if x2 == 0:
        if sign:
            return None
        return (0, y, 1, 0)
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if x & 1 != sign:
        x = _P - x
    return (x, y, 1, x * y % _P)


_BASE_Y = 4 * pow(5, _P - 2, _P) % _P
_BASE = _decompress(_BASE_Y.to_bytes(32, "little"))


def ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is the key's signature of `message` (RFC 8032's cofactorless check)."""
    if len(signature) != 64 or _BASE is None:
        return False
    point_a = _decompress(public_key)
    point_r = _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if point_a is None or point_r is None or s >= _L:
        return False
    k = int.from_bytes(hashlib.sha512(signature[:32] + public_key + message).digest(), "little") % _L
    return _equal(_multiply(s, _BASE), _add(point_r, _multiply(k, point_a)))


# --- RFC 9162: the Merkle tree and its proofs ---------------------------------------------------------------------


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


class Tree:
    """The tree grown leaf by leaf, keeping only its frontier (the roots of its perfect subtrees)."""

    def __init__(self) -> None:
        self.size = 0
        self.frontier: list[tuple[int, bytes]] = []

    def append(self, leaf: bytes) -> None:
        level, carry = 0, leaf
        while self.frontier and self.frontier[-1][0] == level:
            carry = node_hash(self.frontier.pop()[1], carry)
            level += 1
        self.frontier.append((level, carry))
        self.size += 1

    def root(self) -> bytes:
        if not self.frontier:
            return hashlib.sha256(b"").digest()
        root = self.frontier[-1][1]
        for _, left in reversed(self.frontier[:-1]):
            root = node_hash(left, root)
        return root


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old: int, new: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]) -> bool:
    if not 0 <= old <= new:
        return False
    if old == new:
        return not proof and old_root == new_root
    if old == 0:
        return not proof
    path = list(proof)
    if old & (old - 1) == 0:
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
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


# --- signed-note checkpoints ---------------------------------------------------------------------------------------


def parse_key(text: str) -> tuple[str, bytes]:
    name, _, rest = text.strip().partition("+")
    hash_hex, _, encoded = rest.partition("+")
    raw = base64.b64decode(encoded)
    if len(raw) != 33 or raw[0] != 1:
        raise ValueError("the key is not NAME+HASH+BASE64 of an Ed25519 key")
    if _key_hash(name, raw[1:]).hex() != hash_hex:
        raise ValueError("the key's hash does not match its name and key")
    return name, raw[1:]


def _key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n\x01" + public_key).digest()[:4]


@dataclass
class Checkpoint:
    label: str
    origin: str
    size: int
    root: bytes
    signed_by_key: bool


def read_checkpoint(text: str, label: str, key: tuple[str, bytes]) -> Checkpoint:
    """:raises ValueError: if the text is not a checkpoint note."""
    start = text.find("\n-----BEGIN CHECKPOINT-----\n")
    if text.startswith("-----BEGIN CHECKPOINT-----\n") or start >= 0:  # pasted from a notice e-mail
        text = text[text.index("-----BEGIN CHECKPOINT-----\n") + 27 : text.index("-----END CHECKPOINT-----")]
    body, separator, signatures = text.partition("\n\n")
    lines = body.split("\n")
    if not separator or len(lines) < 3 or not lines[1].isdigit():
        raise ValueError(f"{label} is not a checkpoint (origin, size, root, then a blank line and signatures)")
    root = base64.b64decode(lines[2])
    name, public = key
    signed = False
    for line in signatures.splitlines():
        parts = line.split(" ")
        if len(parts) == 3 and parts[0] == "\u2014" and parts[1] == name:
            raw = base64.b64decode(parts[2])
            if raw[:4] == _key_hash(name, public) and ed25519_verify(public, (body + "\n").encode(), raw[4:]):
                signed = True
    return Checkpoint(label, lines[0], int(lines[1]), root, signed)


# --- the export ----------------------------------------------------------------------------------------------------


def canonical(entry: dict[str, object]) -> bytes:
    content = {key: entry[key] for key in ("seq", "at", "circle", "actor", "action", "subject", "data")}
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def fail(self, text: str) -> None:
        self.problems.append(text)


def verify(
    lines: Iterable[str],
    key_text: str,
    checkpoint_texts: Sequence[tuple[str, str]],
    inclusion: dict[str, object] | None = None,
    consistency: dict[str, object] | None = None,
) -> Report:
    """Everything the command checks; `checkpoint_texts` are (label, text) pairs."""
    report = Report()
    try:
        key = parse_key(key_text)
    except (ValueError, IndexError) as error:
        report.fail(f"the site key: {error}")
        return report
    checkpoints = []
    for label, text in checkpoint_texts:
        try:
            checkpoints.append(read_checkpoint(text, label, key))
        except (ValueError, IndexError) as error:
            report.fail(str(error))
    for checkpoint in checkpoints:
        if not checkpoint.signed_by_key:
            report.fail(f"{checkpoint.label} is not signed by the key {key[0]}: it may have been re-signed by another")
    wanted = {c.size for c in checkpoints}
    for proof in (inclusion, consistency):
        for name in ("size", "from", "to"):
            if proof is not None and isinstance(proof.get(name), int):
                wanted.add(int(proof[name]))  # type: ignore[call-overload]
    tree, roots, leaves_wanted, leaves = Tree(), {0: Tree().root()}, set(), {}
    if inclusion is not None and isinstance(inclusion.get("seq"), int):
        leaves_wanted.add(int(inclusion["seq"]))  # type: ignore[call-overload]
    previous, circle = "0" * 64, None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            data = canonical(entry)
        except (ValueError, KeyError, TypeError) as error:
            report.fail(f"line {number} is not a ledger entry ({error})")
            return report
        seq = entry["seq"]
        if seq != tree.size + 1:
            report.fail(
                f"line {number}: expected entry {tree.size + 1}, found entry {seq} (deleted, inserted or reordered)"
            )
            return report
        if entry["prev_hash"] != previous:
            report.fail(f"entry {seq}: prev_hash does not name the entry before it (deleted, inserted or reordered)")
            return report
        chained = hashlib.sha256(previous.encode("ascii") + data).hexdigest()
        if chained != entry["hash"]:
            report.fail(f"entry {seq}: its content does not match its hash (edited)")
            return report
        circle = entry["circle"]
        previous = chained
        leaf = leaf_hash(data)
        if seq in leaves_wanted:
            leaves[seq] = leaf
        tree.append(leaf)
        if tree.size in wanted:
            roots[tree.size] = tree.root()
    roots[tree.size] = tree.root()
    report.notes.append(f"{tree.size} entries, chain head {previous}, tree root {tree.root().hex()}")
    by_size: dict[int, Checkpoint] = {}
    for checkpoint in checkpoints:
        if circle is not None and not checkpoint.origin.endswith(f"/circles/{circle}"):
            report.fail(f"{checkpoint.label} is of another log ({checkpoint.origin}), not circle {circle}'s")
        earlier = by_size.setdefault(checkpoint.size, checkpoint)
        if earlier.root != checkpoint.root and earlier.signed_by_key and checkpoint.signed_by_key:
            report.fail(
                f"{earlier.label} and {checkpoint.label} are both signed for {checkpoint.size} entries with different "
                "roots: the log was forked (two histories shown to different people)"
            )
        if checkpoint.size > tree.size:
            report.fail(
                f"the export has {tree.size} entries, fewer than the {checkpoint.size} of {checkpoint.label}: "
                "entries were cut off the end"
            )
        elif roots[checkpoint.size] != checkpoint.root:
            report.fail(
                f"the export's first {checkpoint.size} entries do not have the root of {checkpoint.label}: its history "
                "was rewritten since (or this is another fork of the log)"
            )
        else:
            report.notes.append(f"{checkpoint.label}: signed, and the export extends it ({checkpoint.size} entries)")
    if inclusion is not None:
        _check_inclusion(inclusion, roots, leaves, by_size, report)
    if consistency is not None:
        _check_consistency(consistency, roots, report)
    return report


def _hashes(values: object) -> list[bytes]:
    return [bytes.fromhex(str(value)) for value in values] if isinstance(values, list) else []


def _check_inclusion(proof: dict[str, object], roots: dict[int, bytes], leaves: dict[int, bytes],
                     by_size: dict[int, Checkpoint], report: Report) -> None:  # fmt: skip
    seq, size = int(proof["seq"]), int(proof["size"])  # type: ignore[call-overload]
    root = bytes.fromhex(str(proof["root_hash"]))
    if seq not in leaves or size not in roots or roots[size] != root:
        report.fail(f"the inclusion proof of entry {seq} is against a root the export does not have at {size}")
        return
    if not verify_inclusion(seq - 1, size, leaves[seq], _hashes(proof["proof"]), root):
        report.fail(f"the inclusion proof of entry {seq} in {size} entries does not verify")
        return
    signed = " (a signed checkpoint's size)" if size in by_size else ""
    report.notes.append(f"entry {seq} is proved included in the log of {size} entries{signed}")


def _check_consistency(proof: dict[str, object], roots: dict[int, bytes], report: Report) -> None:
    first, second = int(proof["from"]), int(proof["to"])  # type: ignore[call-overload]
    old_root, new_root = bytes.fromhex(str(proof["from_root"])), bytes.fromhex(str(proof["to_root"]))
    if roots.get(first) != old_root or roots.get(second) != new_root:
        report.fail(f"the consistency proof {first} -> {second} names roots the export does not have")
        return
    if not verify_consistency(first, second, old_root, new_root, _hashes(proof["proof"])):
        report.fail(f"the consistency proof {first} -> {second} does not verify")
        return
    report.notes.append(f"the log of {first} entries is proved a prefix of the log of {second}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("export", help="the ledger's JSON Lines export (ledger.jsonl)")
    parser.add_argument("--key", required=True, help="the site's verifier key, NAME+HASH+BASE64 (file or text)")
    parser.add_argument("--checkpoint", action="append", default=[], help="a checkpoint note file (repeatable)")
    parser.add_argument("--inclusion", help="an inclusion proof, JSON as the API serves it")
    parser.add_argument("--consistency", help="a consistency proof, JSON as the API serves it")
    args = parser.parse_args(argv)
    key_text = args.key
    if "+" not in key_text:
        with open(key_text, encoding="utf-8") as file:
            key_text = file.read()
    texts = []
    for path in args.checkpoint:
        with open(path, encoding="utf-8") as file:
            texts.append((f"checkpoint {path}", file.read()))
    proofs: list[dict[str, object] | None] = []
    for path in (args.inclusion, args.consistency):
        if path is None:
            proofs.append(None)
            continue
        with open(path, encoding="utf-8") as file:
            proofs.append(json.load(file))
    with open(args.export, encoding="utf-8") as lines:
        report = verify(lines, key_text, texts, proofs[0], proofs[1])
    for note in report.notes:
        print(f"ok    {note}")
    for problem in report.problems:
        print(f"FAIL  {problem}", file=sys.stderr)
    if not texts:
        print("Note: no checkpoint was given; only one kept from earlier can catch a rewritten or shortened history.")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
