"""Secrets the app must read back later (an Open Collective token, a TOTP seed), sealed at rest.

Sealing uses Fernet (AES-128-CBC with HMAC-SHA256) with a key derived from the app's SECRET_KEY and the purpose, so a
database copy alone gives nothing away, and a value sealed for one purpose cannot be read as another. Setting
`SEALING_KEY` separately lets an operator rotate SECRET_KEY without losing sealed values.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app


class SealBroken(Exception):
    """A sealed value cannot be opened: the key changed, or the value was altered."""


def _fernet(purpose: str) -> Fernet:
    master = (current_app.config.get("SEALING_KEY") or current_app.config["SECRET_KEY"]).encode()
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"fundcircle.seal", info=purpose.encode()).derive(master)
    return Fernet(base64.urlsafe_b64encode(key))


def seal(purpose: str, text: str) -> str:
    return _fernet(purpose).encrypt(text.encode()).decode("ascii")


def unseal(purpose: str, sealed: str) -> str:
    """:raises SealBroken: if the value cannot be opened with the current key."""
    try:
        return _fernet(purpose).decrypt(sealed.encode("ascii")).decode()
    except (InvalidToken, ValueError):
        raise SealBroken(purpose) from None
