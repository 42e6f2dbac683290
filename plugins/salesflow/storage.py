"""S3 operations salesflow needs, on top of the amazon provider's S3Hook."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, TypeVar

from salesflow.config import AWS_CONN_ID
from salesflow.objects import NOT_FOUND, ObjectVersion

log = logging.getLogger(__name__)

MB = 1024 * 1024
# Measured on the local S3: 64 MB parts and 4 threads download 247 MB in 1.3 s (7 s with defaults).
TRANSFER_PART_BYTES = 64 * MB
TRANSFER_THREADS = 4
# Files moved or downloaded at once (many small files: S3 latency, not bandwidth, is the cost).
S3_WORKERS = 8

# Above this a copy is a multipart copy (UploadPartCopy, each part under the same condition): S3
# refuses a single CopyObject of more than 5 GiB.
MULTIPART_COPY_BYTES = 5 * 1024 * MB
# The metadata of a copy made here that names its source's ETag (a copy's own ETag may differ).
SOURCE_ETAG_METADATA = "salesflow-source-etag"
# Error codes of a request for a key that holds not the version asked for (If-Match).
NOT_THE_VERSION = NOT_FOUND | {"412", "PreconditionFailed"}

# Sees each chunk of a file's bytes once, in order (the file checks ride on the download).
ChunkObserver = Callable[[bytes], None] | None

T = TypeVar("T")
R = TypeVar("R")


class StorageUnavailableError(RuntimeError):
    """S3 does not answer; the message names the endpoint, never the credentials."""


class ObjectChangedError(RuntimeError):
    """The object under a key is no longer the version this run claimed."""


def s3_hook():
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=AWS_CONN_ID)


def concurrently(work: Callable[[T], R], items: Sequence[T], workers: int = S3_WORKERS) -> list[R]:
    """``[work(item) for item in items]`` from a pool of `workers` threads, results in order.

    The first error stops what has not started yet and is raised once the running calls end.
    Create the S3 client before (``hook.get_conn()``): a boto3 client may be shared by threads,
    creating one may not.
    """
    if len(items) <= 1 or workers <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="salesflow-s3") as pool:
        futures = [pool.submit(work, item) for item in items]
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        failed = next((f for f in futures if f in done and f.exception() is not None), None)
        if failed is not None:
            for future in futures:
                future.cancel()
            raise failed.exception()  # type: ignore[misc]
        return [future.result() for future in futures]


def first_alone_then_pooled(
    work: Callable[[T], R],
    items: Sequence[T],
    fault_name: str,
    settle: Callable[[Sequence[T], list[R]], None] | None = None,
) -> list[R]:
    """``work`` on each item, the first alone and the rest from the thread pool; ``settle`` after each.

    The pattern of every task that acts on many files: the first file's S3 work and its ledger
    update (``settle``) complete before its fault point, so a retry always finds one file done;
    the rest run concurrently and are settled in one batch (no ledger round trip per file).
    """
    from salesflow.faults import fault_point

    if not items:
        return []
    first = [work(items[0])]
    if settle is not None:
        settle(items[:1], first)
    fault_point(fault_name)
    rest = concurrently(work, items[1:])
    if settle is not None:
        settle(items[1:], rest)
    return first + rest


def _endpoint(hook: Any) -> str:
    try:
        return hook.conn_config.endpoint_url or f"AWS S3 ({hook.conn_config.region_name or 'default region'})"
    except Exception:
        return "S3"


def list_versions(hook: Any, bucket: str, prefix: str) -> Iterator[ObjectVersion]:
    """Every object below `prefix` (all pages), folder markers left out."""
    try:
        for item in hook.iter_file_metadata(prefix=prefix, bucket_name=bucket):
            if item["Key"].endswith("/"):
                continue
            yield ObjectVersion(
                item["Key"], item["ETag"].strip('"'), int(item["Size"]), item.get("LastModified")
            )
    except Exception as error:
        if type(error).__name__ in (
            "EndpointConnectionError",
            "ConnectTimeoutError",
            "ConnectionClosedError",
        ):
            raise StorageUnavailableError(f"cannot reach S3 at {_endpoint(hook)}: {error}") from None
        raise


def download_version(
    hook: Any, bucket: str, version: ObjectVersion, target: Path, on_chunk: ChunkObserver = None
) -> str:
    """Download one claimed version to `target`; return its SHA-256.

    ``on_chunk`` sees every byte once, in order (the file checks run in the same pass as the hash).
    A version replaced under the same key during the run is never taken for the claimed one: a
    small object comes in one GET whose ETag and length must be the claimed ones; a large one
    (ranged GETs) is checked before and after the transfer.
    """
    client = hook.get_conn()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    if version.size < TRANSFER_PART_BYTES:
        digest = _get_small(client, bucket, version, partial, on_chunk)
        partial.replace(target)
        return digest
    from boto3.s3.transfer import TransferConfig

    _check_version(client, bucket, version)
    config = TransferConfig(
        multipart_threshold=TRANSFER_PART_BYTES,
        multipart_chunksize=TRANSFER_PART_BYTES,
        max_concurrency=TRANSFER_THREADS,
    )
    client.download_file(bucket, version.key, str(partial), Config=config)
    _check_version(client, bucket, version)
    partial.replace(target)
    return file_sha256(target, on_chunk)


def _get_small(
    client: Any, bucket: str, version: ObjectVersion, partial: Path, on_chunk: ChunkObserver
) -> str:
    """One GET into `partial`, hashed on the way; the response must be the claimed version."""
    try:
        response = client.get_object(Bucket=bucket, Key=version.key)
    except client.exceptions.ClientError as error:
        if _code(error) not in NOT_FOUND:
            raise
        response = None
    try:
        _require_version(bucket, version, response)
    except ObjectChangedError:
        if response is not None:
            response["Body"].close()
        raise
    digest = hashlib.sha256()
    with partial.open("wb") as handle:
        for chunk in response["Body"].iter_chunks(MB):
            digest.update(chunk)
            handle.write(chunk)
            if on_chunk is not None:
                on_chunk(chunk)
    if partial.stat().st_size != version.size:
        raise ObjectChangedError(
            f"s3://{bucket}/{version.key}: {partial.stat().st_size} bytes read, {version.size} listed"
        )
    return digest.hexdigest()


def _head(client: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The object's metadata, or None when there is no object under the key."""
    try:
        return client.head_object(Bucket=bucket, Key=key)
    except client.exceptions.ClientError as error:
        if _code(error) in NOT_FOUND:
            return None
        raise


def _code(error: Any) -> str | None:
    return error.response.get("Error", {}).get("Code")


def _require_version(bucket: str, version: ObjectVersion, found: dict[str, Any] | None) -> None:
    """``found`` (a HEAD or GET response, None for no object) must be the claimed version."""
    if found is None:
        raise ObjectChangedError(f"s3://{bucket}/{version.key} is gone since it was claimed")
    etag = found["ETag"].strip('"')
    if etag != version.etag or int(found["ContentLength"]) != version.size:
        raise ObjectChangedError(
            f"s3://{bucket}/{version.key} changed since it was claimed (ETag {version.etag} -> {etag})"
        )


def _check_version(client: Any, bucket: str, version: ObjectVersion) -> None:
    _require_version(bucket, version, _head(client, bucket, version.key))


def file_sha256(path: Path, on_chunk: ChunkObserver = None) -> str:
    """The SHA-256 of a local file; ``on_chunk`` sees every byte once, in order."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(4 * MB):
            digest.update(chunk)
            if on_chunk is not None:
                on_chunk(chunk)
    return digest.hexdigest()


def object_exists(client: Any, bucket: str, key: str, etag: str | None = None) -> bool:
    head = _head(client, bucket, key)
    return head is not None and (etag is None or head["ETag"].strip('"') == etag)


def holds_version(client: Any, bucket: str, key: str, version: ObjectVersion) -> bool | None:
    """Whether ``key`` holds a copy of ``version`` (None: it holds nothing).

    A copy's own ETag may differ from its source's (a multipart or SSE-KMS source), so a copy made
    here names its source's ETag in its metadata; a copy without it counts when its ETag is the
    source's, and in any case its size must be the version's.
    """
    head = _head(client, bucket, key)
    return None if head is None else _is_version(head, version)


def _is_version(head: dict[str, Any], version: ObjectVersion) -> bool:
    """The object is the version, or a copy made here of it (its metadata names the version's ETag)."""
    etags = {head["ETag"].strip('"'), head.get("Metadata", {}).get(SOURCE_ETAG_METADATA)}
    return version.etag in etags and int(head["ContentLength"]) == version.size


def find_copy(hook: Any, bucket: str, key: str, version: ObjectVersion) -> ObjectVersion | None:
    """The object under ``key`` as a version of its own (its own ETag) when it holds ``version``
    or a copy of it (an archived or quarantined file); None when it holds nothing or other bytes."""
    head = _head(hook.get_conn(), bucket, key)
    if head is None or not _is_version(head, version):
        return None
    return ObjectVersion(key, head["ETag"].strip('"'), int(head["ContentLength"]))


def read_object(hook: Any, bucket: str, key: str) -> bytes | None:
    """An object's bytes (small ones: a spec, a result), or None when the key holds none."""
    client = hook.get_conn()
    try:
        return client.get_object(Bucket=bucket, Key=key)["Body"].read()
    except client.exceptions.ClientError as error:
        if _code(error) in NOT_FOUND:
            return None
        raise


def stage_version(hook: Any, bucket: str, version: ObjectVersion, destination_key: str, sha256: str) -> None:
    """A server-side copy of the claimed version at ``destination_key``, proven to hold the bytes
    whose SHA-256 the file checks computed.

    The copy is conditioned on the claimed ETag (S3 refuses it when the key holds another version),
    and S3 computes the copy's SHA-256 (``ChecksumAlgorithm``; a store that does not, MinIO: the
    copy's single-part ETag, or else the copy read back), which must be ``sha256``: a store that
    ignores the condition, or an object replaced between the checks and the copy, cannot slip
    other bytes past the checks. Raises ``ObjectChangedError`` otherwise (the copy is removed).
    """
    import base64

    client = hook.get_conn()
    try:
        response = client.copy_object(
            Bucket=bucket,
            Key=destination_key,
            CopySource={"Bucket": bucket, "Key": version.key},
            CopySourceIfMatch=f'"{version.etag}"',
            ChecksumAlgorithm="SHA256",
        )
    except client.exceptions.ClientError as error:
        if _code(error) not in NOT_THE_VERSION:
            raise
        raise ObjectChangedError(f"s3://{bucket}/{version.key} changed since it was claimed") from None
    result = response.get("CopyObjectResult", {})
    if result.get("ChecksumSHA256") is not None:
        copied = base64.b64decode(result["ChecksumSHA256"]).hex()
    elif result.get("ETag", "").strip('"') == version.etag and "-" not in version.etag:
        # A store that computes no checksum for a copy (MinIO): a single-part ETag is the MD5 of
        # the bytes, so a copy with the claimed one holds the claimed bytes.
        copied = sha256
    else:  # nor that (a copy of a multipart upload): the copy is read back once and hashed
        copied = object_sha256(client, bucket, destination_key)
    if copied != sha256:
        client.delete_object(Bucket=bucket, Key=destination_key)
        raise ObjectChangedError(
            f"s3://{bucket}/{version.key}: the copy to {destination_key} is not the bytes checked "
            f"(SHA-256 {sha256[:12]}, the copy's {copied[:12]})"
        )


def object_sha256(client: Any, bucket: str, key: str) -> str:
    """The SHA-256 of an object's bytes, streamed (never whole in memory)."""
    digest = hashlib.sha256()
    for chunk in client.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(MB):
        digest.update(chunk)
    return digest.hexdigest()


def copy_version(hook: Any, bucket: str, version: ObjectVersion, destination_key: str) -> str:
    """Copy one version to `destination_key` unless a copy is there already; safe to repeat.

    Returns ``copied``, ``already_copied`` or ``not_there`` (the key holds no object, or another
    version, so there is nothing of this version to copy).
    """
    client = hook.get_conn()
    if holds_version(client, bucket, destination_key, version):
        return "already_copied"
    source = _head(client, bucket, version.key)
    if source is None or not _is_version(source, version):
        return "not_there"
    # The source may itself be a copy (an archived file) whose own ETag is not the version's: the
    # condition is its own ETag, seen just now with the metadata that names the version.
    condition = source["ETag"].strip('"')
    return "copied" if _copy_if_version(client, bucket, version, destination_key, condition) else "not_there"


def _copy_if_version(
    client: Any, bucket: str, version: ObjectVersion, destination_key: str, condition: str | None = None
) -> bool:
    """Copy ``version`` to ``destination_key`` if its key still holds that version (If-Match on
    ``condition``, the version's ETag unless said); the copy names the version's ETag in its
    metadata (``holds_version``)."""
    source = {"Bucket": bucket, "Key": version.key}
    conditions = {
        "CopySourceIfMatch": f'"{condition or version.etag}"',
        # The copy names the version's ETag (``holds_version``); a multipart copy takes metadata of
        # its own only under REPLACE.
        "MetadataDirective": "REPLACE",
        "Metadata": {SOURCE_ETAG_METADATA: version.etag},
    }
    try:
        if version.size > MULTIPART_COPY_BYTES:
            from boto3.s3.transfer import TransferConfig

            parts = TransferConfig(
                multipart_threshold=MULTIPART_COPY_BYTES, multipart_chunksize=MULTIPART_COPY_BYTES
            )
            client.copy(source, bucket, destination_key, ExtraArgs=conditions, Config=parts)
        else:
            client.copy_object(Bucket=bucket, Key=destination_key, CopySource=source, **conditions)
    except client.exceptions.ClientError as error:
        if _code(error) not in NOT_THE_VERSION:
            raise
        return False
    return True


def move_version(hook: Any, bucket: str, version: ObjectVersion, destination_key: str) -> str:
    """Move one claimed version to `destination_key` in the same bucket; safe to repeat.

    Copies only if the source is still the claimed version, and deletes the source only if it still
    is after the copy (both requests carry the claimed ETag as a condition; conditional deletes
    need AWS S3 or a store that honours If-Match on DELETE, as moto does): a newer file uploaded
    under the same key meanwhile stays where it is. Two requests per file. Returns what happened:
    ``moved``, ``already_moved`` (the destination holds this version), ``source_replaced`` (the key
    holds a newer version, left alone) or ``another_version_there`` (the source is gone and the
    destination holds another version of the key: this one was moved and later replaced there).
    """
    if version.key == destination_key:  # a reprocessed file read where it already belongs
        return "already_moved"
    client = hook.get_conn()
    if not _copy_if_version(client, bucket, version, destination_key):
        # The source is gone or another version: moved by an earlier try, or replaced.
        held = holds_version(client, bucket, destination_key, version)
        if held:
            return "already_moved"
        if object_exists(client, bucket, version.key):
            return "source_replaced"
        if held is False:
            return "another_version_there"
        raise ObjectChangedError(
            f"s3://{bucket}/{version.key} is gone and was not moved to {destination_key}"
        )
    try:
        # Deleted only if the source is still the claimed version: S3 checks the ETag (If-Match).
        client.delete_object(Bucket=bucket, Key=version.key, IfMatch=f'"{version.etag}"')
    except client.exceptions.ClientError as error:
        if _code(error) in NOT_THE_VERSION:
            return "source_replaced"
        raise
    return "moved"
