"""Issue 26: the S3 conditions salesflow relies on (a copy or a delete only while a key holds the
version claimed), against an S3 that honours them (MinIO, ``strict_s3``). moto ignores
``CopySourceIfMatch``, so none of these could fail there; the first test shows that this store
refuses a copy under a wrong condition."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from botocore.exceptions import ClientError

from salesflow import storage
from salesflow.objects import ObjectVersion
from salesflow.storage import copy_version, move_version

MB = 1024 * 1024


@pytest.fixture
def bucket(strict_s3) -> str:
    name = f"sf-strict-{uuid.uuid4().hex[:8]}"
    strict_s3.get_conn().create_bucket(Bucket=name)
    return name


def put(hook, bucket: str, key: str, content: bytes) -> ObjectVersion:
    etag = hook.get_conn().put_object(Bucket=bucket, Key=key, Body=content)["ETag"].strip('"')
    return ObjectVersion(key, etag, len(content))


def put_in_parts(hook, bucket: str, key: str, parts: list[bytes]) -> ObjectVersion:
    """A multipart upload (as boto3 and the AWS CLI send any file over 8 MB): its ETag is not the
    MD5 of its bytes, and a copy of it gets another."""
    client = hook.get_conn()
    upload = client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    done = [
        {"PartNumber": n, "ETag": client.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=n, Body=part)["ETag"]}
        for n, part in enumerate(parts, start=1)
    ]  # fmt: skip
    etag = client.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done}
    )["ETag"].strip('"')
    return ObjectVersion(key, etag, sum(map(len, parts)))


def body(hook, bucket: str, key: str) -> bytes:
    return hook.get_conn().get_object(Bucket=bucket, Key=key)["Body"].read()


def test_this_s3_refuses_a_copy_under_a_wrong_etag(strict_s3, bucket):
    put(strict_s3, bucket, "sales_data/a.csv", b"a,b\n1,2\n")
    with pytest.raises(ClientError) as refused:
        strict_s3.get_conn().copy_object(
            Bucket=bucket,
            Key="elsewhere/a.csv",
            CopySource={"Bucket": bucket, "Key": "sales_data/a.csv"},
            CopySourceIfMatch='"' + "0" * 32 + '"',
        )
    assert refused.value.response["Error"]["Code"] == "PreconditionFailed"


def test_a_move_leaves_a_version_put_meanwhile_where_it_is(strict_s3, bucket):
    claimed = put(strict_s3, bucket, "sales_data/a.csv", b"first\n")
    put(strict_s3, bucket, "sales_data/a.csv", b"second\n")  # a corrected file, after the claim
    assert move_version(strict_s3, bucket, claimed, "sales_data_processed/a.csv") == "source_replaced"
    assert body(strict_s3, bucket, "sales_data/a.csv") == b"second\n"
    assert not storage.object_exists(strict_s3.get_conn(), bucket, "sales_data_processed/a.csv")


def test_the_archived_copy_of_a_multipart_upload_is_kept_aside_for_its_correction(strict_s3, bucket):
    """Issue 26, point 2: the archive's copy of a version is conditioned on that copy's own ETag,
    not on the landing object's (which a copy of a multipart upload does not keep)."""
    parts = [b"x" * (5 * MB), b"y" * MB]
    landed = put_in_parts(strict_s3, bucket, "sales_data/big.csv", parts)
    archived = "sales_data_processed/big.csv"
    assert landed.etag.endswith("-2")
    assert move_version(strict_s3, bucket, landed, archived) == "moved"
    archived_etag = strict_s3.get_conn().head_object(Bucket=bucket, Key=archived)["ETag"].strip('"')
    assert archived_etag != landed.etag
    with pytest.raises(ClientError):  # the condition the archive used before: refused here
        strict_s3.get_conn().copy_object(
            Bucket=bucket,
            Key=f"{archived}.superseded-1",
            CopySource={"Bucket": bucket, "Key": archived},
            CopySourceIfMatch=f'"{landed.etag}"',
        )
    version_there = ObjectVersion(archived, landed.etag, landed.size)
    assert copy_version(strict_s3, bucket, version_there, f"{archived}.superseded-1") == "copied"
    assert body(strict_s3, bucket, f"{archived}.superseded-1") == b"".join(parts)
    assert copy_version(strict_s3, bucket, version_there, f"{archived}.superseded-1") == "already_copied"


def test_a_file_over_the_single_copy_limit_moves_by_parts_under_the_same_condition(
    strict_s3, bucket, monkeypatch
):
    """S3 refuses one CopyObject over 5 GiB: above ``MULTIPART_COPY_BYTES`` a move copies by parts
    (lowered here to 5 MiB), each part under the claimed ETag."""
    monkeypatch.setattr(storage, "MULTIPART_COPY_BYTES", 5 * MB)
    content = bytes(range(256)) * (11 * MB // 256)
    claimed = put(strict_s3, bucket, "sales_data/large.csv", content)
    assert move_version(strict_s3, bucket, claimed, "sales_data_error/large.csv") == "moved"
    moved = strict_s3.get_conn().head_object(Bucket=bucket, Key="sales_data_error/large.csv")
    assert moved["ETag"].strip('"').endswith("-3")  # copied in 3 parts
    assert moved["Metadata"][storage.SOURCE_ETAG_METADATA] == claimed.etag
    assert (
        hashlib.sha256(body(strict_s3, bucket, "sales_data_error/large.csv")).digest()
        == hashlib.sha256(content).digest()
    )
    assert not storage.object_exists(strict_s3.get_conn(), bucket, "sales_data/large.csv")
    # Replaced after the claim: no part is copied, the newer file stays.
    claimed = put(strict_s3, bucket, "sales_data/large.csv", content)
    put(strict_s3, bucket, "sales_data/large.csv", content[::-1])
    assert move_version(strict_s3, bucket, claimed, "sales_data_error/large-2.csv") == "source_replaced"
    assert not storage.object_exists(strict_s3.get_conn(), bucket, "sales_data_error/large-2.csv")


def test_a_reprocessed_multipart_file_is_read_staged_and_kept_from_its_archived_copy(
    strict_s3, bucket, tmp_path
):
    """Issue 26, reprocess: the archived copy of a multipart upload has an ETag of its own; the
    reprocessed entry names the copy by that ETag, so every conditioned request on it holds here,
    and quarantining it where it already is never deletes it (a move onto its own key)."""
    parts = [b"x" * (5 * MB), b"y" * MB]
    landed = put_in_parts(strict_s3, bucket, "sales_data/big.csv", parts)
    # This store computes no SHA-256 for a copy: the staged copy of a multipart upload is read back.
    whole = hashlib.sha256(b"".join(parts)).hexdigest()
    storage.stage_version(strict_s3, bucket, landed, "runs/r0/staged/big.csv", whole)
    with pytest.raises(storage.ObjectChangedError, match="is not the bytes checked"):
        storage.stage_version(strict_s3, bucket, landed, "runs/r0/staged/other.csv", "0" * 64)
    assert not storage.object_exists(strict_s3.get_conn(), bucket, "runs/r0/staged/other.csv")
    assert move_version(strict_s3, bucket, landed, "sales_data_error/big.csv") == "moved"
    found = storage.find_copy(strict_s3, bucket, "sales_data_error/big.csv", landed)
    assert found is not None and found.key == "sales_data_error/big.csv" and found.etag != landed.etag
    assert (
        storage.find_copy(strict_s3, bucket, "sales_data_error/big.csv", ObjectVersion("k", "e", 1)) is None
    )
    sha256 = storage.download_version(strict_s3, bucket, found, tmp_path / "big.csv")
    assert sha256 == whole
    storage.stage_version(strict_s3, bucket, found, "runs/r1/staged/big.csv", sha256)
    assert body(strict_s3, bucket, "runs/r1/staged/big.csv") == b"".join(parts)
    assert move_version(strict_s3, bucket, found, "sales_data_error/big.csv") == "already_moved"
    assert body(strict_s3, bucket, "sales_data_error/big.csv") == b"".join(parts)
    assert move_version(strict_s3, bucket, found, "sales_data_processed/big.csv") == "moved"
    assert not storage.object_exists(strict_s3.get_conn(), bucket, "sales_data_error/big.csv")
