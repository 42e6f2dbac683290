"""S3 transfers against the moto S3 server: ETag guards, and the thread pool's order and errors."""

from __future__ import annotations

import hashlib
import threading
import uuid

import pytest

from salesflow.objects import ObjectVersion
from salesflow.storage import (
    ObjectChangedError,
    concurrently,
    copy_version,
    download_version,
    move_version,
    s3_hook,
)


def put(bucket: str, key: str, content: bytes) -> ObjectVersion:
    hook = s3_hook()
    hook.load_bytes(content, key=key, bucket_name=bucket, replace=True)
    head = hook.get_conn().head_object(Bucket=bucket, Key=key)
    return ObjectVersion(key, head["ETag"].strip('"'), int(head["ContentLength"]))


def test_download_takes_only_the_claimed_version(bucket, tmp_path):
    key = f"sales_data/st-{uuid.uuid4().hex[:8]}/a.csv"
    claimed = put(bucket, key, b"a,b\n1,2\n")
    hook = s3_hook()
    sha256 = download_version(hook, bucket, claimed, tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_bytes() == b"a,b\n1,2\n"
    assert sha256 == hashlib.sha256(b"a,b\n1,2\n").hexdigest()
    put(bucket, key, b"a,b\n9,9\n")  # replaced under the same key
    with pytest.raises(ObjectChangedError, match="changed since it was claimed"):
        download_version(hook, bucket, claimed, tmp_path / "b.csv")
    assert not (tmp_path / "b.csv").exists()


def test_move_is_repeatable_and_leaves_a_newer_version_alone(bucket):
    base = f"sales_data/st-{uuid.uuid4().hex[:8]}"
    hook = s3_hook()
    claimed = put(bucket, f"{base}/a.csv", b"first")
    assert move_version(hook, bucket, claimed, f"done/{base}/a.csv") == "moved"
    assert move_version(hook, bucket, claimed, f"done/{base}/a.csv") == "already_moved"
    other = put(bucket, f"{base}/b.csv", b"old")
    put(bucket, f"{base}/b.csv", b"newer bytes")
    assert move_version(hook, bucket, other, f"done/{base}/b.csv") == "source_replaced"
    # The newer version stays where it landed.
    body = hook.get_key(f"{base}/b.csv", bucket).get()["Body"].read()
    assert body == b"newer bytes"


def test_a_version_replaced_between_the_copy_and_the_delete_stays_where_it_landed(bucket):
    """The conditional delete itself: a newer upload lands right after the copy of the claimed
    version (a hook on the client's CopyObject), so only the delete's If-Match can keep it."""
    base = f"sales_data/st-{uuid.uuid4().hex[:8]}"
    hook = s3_hook()
    client = hook.get_conn()
    claimed = put(bucket, f"{base}/c.csv", b"claimed bytes")

    def newer_upload(**_: object) -> None:
        client.put_object(Bucket=bucket, Key=f"{base}/c.csv", Body=b"a newer upload")

    client.meta.events.register("after-call.s3.CopyObject", newer_upload)
    try:
        assert move_version(hook, bucket, claimed, f"done/{base}/c.csv") == "source_replaced"
    finally:
        client.meta.events.unregister("after-call.s3.CopyObject", newer_upload)
    assert client.get_object(Bucket=bucket, Key=f"{base}/c.csv")["Body"].read() == b"a newer upload"
    assert client.get_object(Bucket=bucket, Key=f"done/{base}/c.csv")["Body"].read() == b"claimed bytes"


def test_a_move_is_already_done_only_when_the_destination_holds_that_version(bucket):
    """Issue 26, point 6: a version moved, then replaced at the destination by a newer version's
    move, is not reported as sitting there (nor read back as if it were)."""
    base = f"sales_data/st-{uuid.uuid4().hex[:8]}"
    hook = s3_hook()
    first = put(bucket, f"{base}/a.csv", b"first bytes")
    assert move_version(hook, bucket, first, f"done/{base}/a.csv") == "moved"
    second = put(bucket, f"{base}/a.csv", b"second, corrected bytes")
    assert move_version(hook, bucket, second, f"done/{base}/a.csv") == "moved"
    assert move_version(hook, bucket, first, f"done/{base}/a.csv") == "another_version_there"
    assert move_version(hook, bucket, second, f"done/{base}/a.csv") == "already_moved"
    # A copy names the version it holds, whatever its own ETag: a copy of it aside is kept once.
    archived = ObjectVersion(f"done/{base}/a.csv", second.etag, second.size)
    assert copy_version(hook, bucket, archived, f"done/{base}/a.csv.kept") == "copied"
    assert copy_version(hook, bucket, archived, f"done/{base}/a.csv.kept") == "already_copied"
    gone = ObjectVersion(f"done/{base}/a.csv", first.etag, first.size)
    assert copy_version(hook, bucket, gone, f"done/{base}/a.csv.first") == "not_there"
    assert hook.get_key(f"done/{base}/a.csv.kept", bucket).get()["Body"].read() == b"second, corrected bytes"


def test_concurrently_keeps_order_and_raises_the_first_error():
    seen = set()
    lock = threading.Lock()

    def work(n: int) -> int:
        with lock:
            seen.add(threading.current_thread().name)
        return n * n

    assert concurrently(work, list(range(50))) == [n * n for n in range(50)]
    assert len(seen) > 1  # more than one thread did the work

    def fail_on_seven(n: int) -> int:
        if n == 7:
            raise ValueError("seven")
        return n

    with pytest.raises(ValueError, match="seven"):
        concurrently(fail_on_seven, list(range(20)))
