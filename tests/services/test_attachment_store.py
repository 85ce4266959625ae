"""The attachment stores: the instance folder's, and the S3 one against moto's S3 server on loopback (no network)."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from fundcircle.attachments.store import FolderStore, S3Store, StoreUnavailable, store_from_config

CONTENT = b"%PDF-1.4\nthe quote\n"
SHA = hashlib.sha256(CONTENT).hexdigest()
KEYS = {"access_key_id": "testing", "secret_access_key": "testing", "region": "us-east-1"}


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    name = f"fundcircle-{hashlib.sha256(str(id(object())).encode()).hexdigest()[:8]}"
    boto3.client(
        "s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=name)  # fmt: skip
    return name


def test_the_s3_store_keeps_bytes_by_their_hash_and_gives_them_back(s3_endpoint: str, bucket: str) -> None:
    store = S3Store(bucket, endpoint_url=s3_endpoint, **KEYS)
    store.put(SHA, CONTENT)
    store.put(SHA, CONTENT)  # the same bytes again: nothing changes
    assert store.get(SHA) == CONTENT
    listed = store.client.list_objects_v2(Bucket=bucket)["Contents"]
    assert [item["Key"] for item in listed] == [f"attachments/{SHA}"]


def test_the_s3_store_refuses_bytes_that_no_longer_match_their_hash(s3_endpoint: str, bucket: str) -> None:
    store = S3Store(bucket, endpoint_url=s3_endpoint, **KEYS)
    store.client.put_object(Bucket=bucket, Key=f"attachments/{SHA}", Body=b"changed behind our back")
    with pytest.raises(StoreUnavailable, match="no longer match their hash"):
        store.get(SHA)


def test_a_missing_object_or_bucket_is_a_store_error_not_a_crash(s3_endpoint: str, bucket: str) -> None:
    with pytest.raises(StoreUnavailable, match="could not be read from the bucket"):
        S3Store(bucket, endpoint_url=s3_endpoint, **KEYS).get(SHA)
    with pytest.raises(StoreUnavailable, match="could not write an attachment to the bucket no-such-bucket"):
        S3Store("no-such-bucket", endpoint_url=s3_endpoint, **KEYS).put(SHA, CONTENT)


def test_the_configuration_chooses_s3_when_a_bucket_is_set_and_the_instance_folder_otherwise(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    folder = store_from_config({}, str(tmp_path))
    assert isinstance(folder, FolderStore) and folder.root == tmp_path / "attachments"
    s3 = store_from_config(
        {
            "ATTACHMENTS_S3_BUCKET": bucket, "ATTACHMENTS_S3_ENDPOINT_URL": s3_endpoint,
            "ATTACHMENTS_S3_ACCESS_KEY_ID": "testing", "ATTACHMENTS_S3_SECRET_ACCESS_KEY": "testing",
            "ATTACHMENTS_S3_REGION": "us-east-1",
        },
        str(tmp_path),
    )  # fmt: skip
    assert isinstance(s3, S3Store)
    s3.put(SHA, CONTENT)
    assert s3.get(SHA) == CONTENT


def test_the_folder_store_writes_whole_files_and_checks_them_when_read(tmp_path: Path) -> None:
    store = FolderStore(tmp_path)
    store.put(SHA, CONTENT)
    path = tmp_path / SHA[:2] / SHA
    assert path.read_bytes() == CONTENT and not list(path.parent.glob(".upload-*"))
    path.write_bytes(b"tampered")
    with pytest.raises(StoreUnavailable, match="no longer match"):
        store.get(SHA)
    with pytest.raises(StoreUnavailable, match="could not be read"):
        store.get("0" * 64)
    with pytest.raises(ValueError, match="not a SHA-256"):
        store.get("../../etc/passwd")
