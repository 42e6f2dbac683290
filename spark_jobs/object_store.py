"""The Spark job's own S3 requests, beside what Spark reads and writes through S3A: the run's spec and
result, the part files of an output, and a part streamed into ``LOAD DATA LOCAL INFILE``.

boto3 takes its endpoint, region and credentials from the environment the job is started with
(``AWS_ENDPOINT_URL_S3``, ``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``...; set by the operator from
the ``salesflow_s3`` connection) or from its default chain (an instance or pod role). Nothing here
writes to or reads from a local disk: the job runs where no other task's files are.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from salesflow.objects import NOT_FOUND

CHUNK_BYTES = 1024 * 1024
SCHEMES = ("s3a://", "s3://")


def split(uri: str) -> tuple[str, str]:
    """(bucket, key) of an ``s3a://`` or ``s3://`` URI."""
    for scheme in SCHEMES:
        if uri.startswith(scheme):
            bucket, _, key = uri[len(scheme) :].partition("/")
            return bucket, key
    raise ValueError(f"{uri!r} is not an S3 URI (s3a://bucket/key)")


@functools.cache
def client() -> Any:
    import boto3
    from botocore.config import Config

    # A server-side copy of a multipart upload keeps its part checksum, which a default GET of the
    # copy then fails to match (FACTS "S3A"): checksums are checked when the object asks for it.
    return boto3.client("s3", config=Config(response_checksum_validation="when_required"))


def read_bytes(uri: str) -> bytes:
    bucket, key = split(uri)
    return client().get_object(Bucket=bucket, Key=key)["Body"].read()


def read_if_there(uri: str) -> bytes | None:
    """The object's bytes, or None when the key holds none (one GET, no HEAD first)."""
    try:
        return read_bytes(uri)
    except client().exceptions.ClientError as error:
        if error.response.get("Error", {}).get("Code") in NOT_FOUND:
            return None
        raise


def write_bytes(uri: str, content: bytes | str) -> None:
    """One PUT: the object is whole or not there (a reader sees the earlier one or this one)."""
    bucket, key = split(uri)
    body = content.encode() if isinstance(content, str) else content
    client().put_object(Bucket=bucket, Key=key, Body=body)


def part_uris(folder_uri: str, suffix: str) -> list[str]:
    """The part files Spark committed in ``folder_uri`` (``part-*<suffix>``), in name order."""
    bucket, prefix = split(folder_uri.rstrip("/") + "/")
    pages = client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    keys = [item["Key"] for page in pages for item in page.get("Contents", [])]
    return sorted(
        f"s3a://{bucket}/{key}"
        for key in keys
        if "/" not in key[len(prefix) :] and key[len(prefix) :].startswith("part-") and key.endswith(suffix)
    )


@contextmanager
def streamed(uri: str) -> Iterator[str]:
    """A path that reads as the object's bytes, fed from S3 by a thread: a pipe, never a file.

    For ``LOAD DATA LOCAL INFILE``, whose client opens the file it names (``/dev/fd/N``, Linux). An
    error of the download is raised when the block ends, so a load that read a cut stream fails.
    """
    bucket, key = split(uri)
    read_end, write_end = os.pipe()
    errors: list[BaseException] = []

    def feed() -> None:
        try:
            with os.fdopen(write_end, "wb") as sink:
                body = client().get_object(Bucket=bucket, Key=key)["Body"]
                for chunk in body.iter_chunks(CHUNK_BYTES):
                    sink.write(chunk)
        except BrokenPipeError:
            pass  # the reader stopped (its load failed): that error is the one raised
        except BaseException as error:
            errors.append(error)

    feeder = threading.Thread(target=feed, name="salesflow-stream", daemon=True)
    feeder.start()
    try:
        yield f"/dev/fd/{read_end}"
    finally:
        os.close(read_end)
        feeder.join()
    if errors:
        raise errors[0]
