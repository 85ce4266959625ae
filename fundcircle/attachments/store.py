"""Where the bytes of attachments live: a folder under the instance folder by default, or an S3-compatible bucket
when ATTACHMENTS_S3_BUCKET is set. Both are content-addressed by the SHA-256 of the stored bytes, so the same file
attached twice is stored once, a stored file never changes, and the ledger's hash names the bytes themselves.

The database row is written in the request's transaction, the bytes before it commits: a transaction that then
rolls back leaves unreferenced bytes behind, never a row without its bytes.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class StoreUnavailable(RuntimeError):
    """The store could not be read or written (a full disk, the bucket unreachable, the bytes missing)."""


class AttachmentStore(Protocol):
    def put(self, sha256: str, content: bytes) -> None:
        """Keep `content` under its hash (nothing happens if it is kept already).

        :raises StoreUnavailable: if it could not be written.
        """

    def get(self, sha256: str) -> bytes:
        """The bytes kept under `sha256`, checked against it.

        :raises StoreUnavailable: if they are missing, unreadable or no longer match their hash.
        """


def _checked_key(sha256: str) -> str:
    if not _SHA256.match(sha256):
        raise ValueError(f"not a SHA-256 in hex: {sha256!r}")
    return sha256


def _verified(sha256: str, content: bytes) -> bytes:
    if hashlib.sha256(content).hexdigest() != sha256:
        raise StoreUnavailable(f"the stored bytes of {sha256} no longer match their hash")
    return content


class FolderStore:
    """Files under `root`, as `ab/abcdef...` (so that no folder holds too many)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        key = _checked_key(sha256)
        return self.root / key[:2] / key

    def put(self, sha256: str, content: bytes) -> None:
        path = self._path(sha256)
        if path.exists():
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # Written beside its place and renamed: a reader never sees half a file, and two writers of the same
            # bytes both end with the whole file.
            handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            with os.fdopen(handle, "wb") as out:
                out.write(content)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except OSError as error:
            raise StoreUnavailable(f"could not write an attachment under {self.root}: {error}") from error

    def get(self, sha256: str) -> bytes:
        try:
            content = self._path(sha256).read_bytes()
        except OSError as error:
            raise StoreUnavailable(f"attachment {sha256} could not be read: {error}") from error
        return _verified(sha256, content)


class S3Store:
    """Objects `<prefix><sha256>` in an S3-compatible bucket (AWS, MinIO, Garage, Ceph...), through boto3."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        prefix: str = "attachments/",
        timeout_seconds: float = 10.0,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=BotoConfig(
                connect_timeout=timeout_seconds,
                read_timeout=timeout_seconds,
                retries={"max_attempts": 3, "mode": "standard"},
            ),
        )

    def _key(self, sha256: str) -> str:
        return self.prefix + _checked_key(sha256)

    def put(self, sha256: str, content: bytes) -> None:
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self._key(sha256),
                Body=content,
                # Never served from the bucket to a browser as anything but bytes.
                ContentType="application/octet-stream",
            )
        except (BotoCoreError, ClientError) as error:
            raise StoreUnavailable(f"could not write an attachment to the bucket {self.bucket}: {error}") from error

    def get(self, sha256: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=self._key(sha256))
            content: bytes = answer["Body"].read()
        except (BotoCoreError, ClientError) as error:
            raise StoreUnavailable(f"attachment {sha256} could not be read from the bucket: {error}") from error
        return _verified(sha256, content)


def store_from_config(config: Mapping[str, Any], instance_path: str) -> AttachmentStore:
    """The store the configuration names: S3 when ATTACHMENTS_S3_BUCKET is set, else the instance folder's
    `attachments/` (or ATTACHMENTS_FOLDER)."""
    bucket = config.get("ATTACHMENTS_S3_BUCKET") or ""
    if bucket:
        return S3Store(
            bucket,
            endpoint_url=config.get("ATTACHMENTS_S3_ENDPOINT_URL") or None,
            region=config.get("ATTACHMENTS_S3_REGION") or None,
            access_key_id=config.get("ATTACHMENTS_S3_ACCESS_KEY_ID") or None,
            secret_access_key=config.get("ATTACHMENTS_S3_SECRET_ACCESS_KEY") or None,
            prefix=config.get("ATTACHMENTS_S3_PREFIX", "attachments/"),
        )
    folder = config.get("ATTACHMENTS_FOLDER") or os.path.join(instance_path, "attachments")
    return FolderStore(Path(folder))
