"""Checkpoints in the signed-note format of Go's checksum database (golang.org/x/mod/sumdb/note) and C2SP's
tlog-checkpoint. Pure: no Flask, no database, no clock; the signature itself is made by the caller's function.

A checkpoint note reads

    <origin>                      e.g. fundcircle.example/circles/7
    <size>                        the number of entries (leaves)
    <root hash, base64>           RFC 9162 root of the first <size> entries
    time <ISO 8601 UTC>           when it was signed (an extension line)

    — <key name> <base64(4-byte key hash || 64-byte Ed25519 signature)>

The signature covers the text up to and including the newline before the blank line. The key hash is the first four
bytes of SHA-256(key name || "\\n" || 0x01 || public key), 0x01 naming Ed25519. A verifier key is written
`<name>+<key hash hex>+<base64(0x01 || public key)>`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

ED25519 = 0x01
SIGNATURE_DASH = "\u2014"


class NoteError(ValueError):
    """Text that is not a checkpoint note, or one whose signature does not verify; the message says which."""


def key_hash(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode("utf-8") + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def verifier_key(name: str, public_key: bytes) -> str:
    encoded = base64.b64encode(bytes([ED25519]) + public_key).decode("ascii")
    return f"{name}+{key_hash(name, public_key).hex()}+{encoded}"


def parse_verifier_key(text: str) -> tuple[str, bytes]:
    """:raises NoteError: if `text` is not `<name>+<hash>+<base64 key>` with a matching hash."""
    name, _, rest = text.strip().partition("+")
    hash_hex, _, encoded = rest.partition("+")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except ValueError:
        raise NoteError("the verifier key's last part is not base64") from None
    if not name or len(raw) != 33 or raw[0] != ED25519:
        raise NoteError("a verifier key reads NAME+HASH+BASE64 of an Ed25519 public key")
    if key_hash(name, raw[1:]).hex() != hash_hex:
        raise NoteError("the verifier key's hash does not match its name and key")
    return name, raw[1:]


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def checkpoint_body(origin: str, size: int, root: bytes, at: datetime) -> str:
    return f"{origin}\n{size}\n{base64.b64encode(root).decode('ascii')}\ntime {format_time(at)}\n"


def sign_note(body: str, name: str, public_key: bytes, sign: Callable[[bytes], bytes]) -> str:
    signature = key_hash(name, public_key) + sign(body.encode("utf-8"))
    return f"{body}\n{SIGNATURE_DASH} {name} {base64.b64encode(signature).decode('ascii')}\n"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    at: datetime | None
    body: str
    #: (key name, key hash, signature) of every signature line.
    signatures: tuple[tuple[str, bytes, bytes], ...]


def parse_checkpoint(text: str) -> Checkpoint:
    """Read a checkpoint note (its signatures unchecked: see `signature_for`).

    :raises NoteError: naming what is wrong.
    """
    body, separator, signed = text.partition("\n\n")
    if not separator:
        raise NoteError("a checkpoint has its text, a blank line, then signature lines")
    body += "\n"
    lines = body.split("\n")[:-1]
    if len(lines) < 3:
        raise NoteError("a checkpoint's text has an origin, a size and a root hash, each on its own line")
    origin, size_text, root_text = lines[:3]
    if not size_text.isascii() or not size_text.isdigit():
        raise NoteError(f"line 2 of the checkpoint should be the log's size, not {size_text!r}")
    try:
        root = base64.b64decode(root_text, validate=True)
    except ValueError:
        raise NoteError("line 3 of the checkpoint should be the root hash in base64") from None
    if len(root) != 32:
        raise NoteError("the checkpoint's root hash is not 32 bytes")
    at = None
    for extension in lines[3:]:
        if extension.startswith("time "):
            try:
                at = datetime.strptime(extension[5:], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            except ValueError:
                raise NoteError(f"the checkpoint's time line {extension!r} is not ISO 8601 UTC") from None
    signatures = []
    for line in signed.splitlines():
        if not line.strip():
            continue
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != SIGNATURE_DASH:
            raise NoteError(f"{line!r} is not a signature line ('— NAME BASE64')")
        try:
            raw = base64.b64decode(parts[2], validate=True)
        except ValueError:
            raise NoteError(f"the signature of {parts[1]!r} is not base64") from None
        if len(raw) != 4 + 64:
            raise NoteError(f"the signature of {parts[1]!r} is not an Ed25519 signature")
        signatures.append((parts[1], raw[:4], raw[4:]))
    if not signatures:
        raise NoteError("the checkpoint carries no signature")
    return Checkpoint(origin, int(size_text), root, at, body, tuple(signatures))


def signature_for(checkpoint: Checkpoint, name: str, public_key: bytes) -> bytes:
    """The signature made by the key (`name`, `public_key`), for the caller to verify over `checkpoint.body`.

    :raises NoteError: if the note carries no signature by that key.
    """
    wanted = key_hash(name, public_key)
    for signer, hashed, signature in checkpoint.signatures:
        if signer == name and hashed == wanted:
            return signature
    raise NoteError(f"the checkpoint is not signed by the key {name}+{wanted.hex()}")
