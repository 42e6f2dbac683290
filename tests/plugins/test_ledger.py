"""The file ledger against the real MariaDB/MySQL."""

from __future__ import annotations

import threading
import uuid

import pytest

from salesflow.ledger import FileLedger, FileStatus, LedgerTransitionError, ObjectVersion
from tests.conftest import mysql_connection


@pytest.fixture
def ledger(db, settings):
    return FileLedger(db, settings.tables)


def unique_bucket() -> str:
    # Each test uses its own bucket name: ledger rows of other tests never get in the way.
    return f"ledger-{uuid.uuid4().hex[:10]}"


def versions(*names: str, etag: str = "e1", size: int = 10) -> list[ObjectVersion]:
    return [ObjectVersion(f"sales_data/{name}", f"{etag}-{name}", size) for name in names]


def test_claim_records_new_versions_once(ledger):
    bucket = unique_bucket()
    claimed = ledger.claim(bucket, "run-1", versions("a.csv", "b.csv"))
    assert [(e.object_key, e.status, e.run_id, e.attempts) for e in claimed] == [
        ("sales_data/a.csv", FileStatus.CLAIMED, "run-1", 1),
        ("sales_data/b.csv", FileStatus.CLAIMED, "run-1", 1),
    ]
    # The same run claiming again (a task retry) gets the same files; another run gets none.
    assert [e.id for e in ledger.claim(bucket, "run-1", versions("a.csv", "b.csv"))] == [
        e.id for e in claimed
    ]
    assert ledger.claim(bucket, "run-2", versions("a.csv", "b.csv")) == []
    # A new version of a known key (other ETag) is a new file version.
    (new_version,) = ledger.claim(bucket, "run-3", versions("a.csv", etag="e2"))
    assert new_version.object_key == "sales_data/a.csv" and new_version.id not in {e.id for e in claimed}


def test_concurrent_claims_never_share_a_file(mysql_database, settings):
    bucket = unique_bucket()
    objects = versions(*[f"f{i:03d}.csv" for i in range(200)])
    results: dict[str, list[int]] = {}
    barrier = threading.Barrier(2)

    def claim(run_id: str) -> None:
        conn = mysql_connection(mysql_database)
        try:
            barrier.wait()
            results[run_id] = [e.id for e in FileLedger(conn, settings.tables).claim(bucket, run_id, objects)]
        finally:
            conn.close()

    threads = [threading.Thread(target=claim, args=(run,)) for run in ("run-a", "run-b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(results["run-a"]).isdisjoint(results["run-b"])
    assert len(results["run-a"]) + len(results["run-b"]) == 200


def test_same_content_under_another_name_is_a_duplicate(ledger):
    bucket = unique_bucket()
    first, second = ledger.claim(bucket, "run-1", versions("a.csv", "copy_of_a.csv"))
    assert ledger.record_content(first.id, "ab" * 32) is None
    assert ledger.record_content(first.id, "ab" * 32) is None  # a retry: still the owner
    owner = ledger.record_content(second.id, "ab" * 32)
    assert owner is not None and owner.id == first.id
    (duplicate,) = ledger.get([second.id])
    assert duplicate.status == FileStatus.DUPLICATE
    assert duplicate.duplicate_of == first.id
    assert duplicate.reason == "duplicate_of:sales_data/a.csv (CLAIMED)"


def test_failed_files_are_claimed_again_and_keep_their_content(ledger):
    bucket = unique_bucket()
    (entry,) = ledger.claim(bucket, "run-1", versions("a.csv"))
    ledger.record_content(entry.id, "cd" * 32)
    ledger.transition(entry.id, FileStatus.FAILED, reason="changed_during_run")
    (again,) = ledger.claim(bucket, "run-2", versions("a.csv"))
    assert (again.id, again.status, again.run_id, again.attempts, again.reason) == (
        entry.id,
        FileStatus.CLAIMED,
        "run-2",
        2,
        None,
    )
    assert ledger.record_content(entry.id, "cd" * 32) is None


def test_bytes_of_a_failed_file_pass_to_a_new_file(ledger):
    bucket = unique_bucket()
    (failed,) = ledger.claim(bucket, "run-1", versions("a.csv"))
    ledger.record_content(failed.id, "ef" * 32)
    ledger.transition(failed.id, FileStatus.FAILED, reason="boom")
    (renamed,) = ledger.claim(bucket, "run-2", versions("renamed.csv"))
    assert ledger.record_content(renamed.id, "ef" * 32) is None


def test_statuses_move_forward_only(ledger):
    bucket = unique_bucket()
    (entry,) = ledger.claim(bucket, "run-1", versions("a.csv"))
    ledger.transition(entry.id, FileStatus.VALIDATED, rows_read=10, rows_rejected=2)
    ledger.transition(entry.id, FileStatus.VALIDATED, rows_read=10, rows_rejected=2)  # a retry: no-op
    with pytest.raises(LedgerTransitionError, match="is VALIDATED: it cannot move to DUPLICATE"):
        ledger.transition(entry.id, FileStatus.DUPLICATE)
    ledger.transition(entry.id, FileStatus.LOADED, rows_loaded=8)
    for backwards in (FileStatus.VALIDATED, FileStatus.QUARANTINED, FileStatus.FAILED):
        with pytest.raises(LedgerTransitionError, match="is LOADED"):
            ledger.transition(entry.id, backwards)
    (loaded,) = ledger.get([entry.id])
    assert (loaded.status, loaded.rows_read, loaded.rows_loaded, loaded.rows_rejected) == (
        FileStatus.LOADED,
        10,
        8,
        2,
    )


def test_classic_view_maps_statuses(ledger, db):
    bucket = unique_bucket()
    _active, done = ledger.claim(bucket, "run-1", versions("a.csv", "b.csv"))
    ledger.transition(done.id, FileStatus.QUARANTINED, reason="empty_file")
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT file_name, status, ledger_status FROM product_staging_table WHERE bucket = %s ORDER BY id",
            (bucket,),
        )
        assert cursor.fetchall() == (
            ("sales_data/a.csv", "A", "CLAIMED"),
            ("sales_data/b.csv", "I", "QUARANTINED"),
        )
