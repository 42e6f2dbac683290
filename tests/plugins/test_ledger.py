"""The file ledger against the real MariaDB/MySQL."""

from __future__ import annotations

import threading
import uuid

import pytest

from salesflow.contents import ContentOwners
from salesflow.ledger import (
    CLAIM_BATCH,
    TEXT_LIMIT,
    FileLedger,
    LedgerTransitionError,
    StatusMove,
)
from salesflow.objects import ObjectVersion
from salesflow.statuses import FileStatus
from tests.support.services import mysql_connection


@pytest.fixture
def ledger(db, settings):
    return FileLedger(db, settings.tables)


def unique_bucket() -> str:
    # Each test uses its own bucket name: ledger rows of other tests never get in the way.
    return f"ledger-{uuid.uuid4().hex[:10]}"


def versions(*names: str, etag: str = "e1", size: int = 10) -> list[ObjectVersion]:
    return [ObjectVersion(f"sales_data/{name}", f"{etag}-{name}", size) for name in names]


def fail(ledger: FileLedger, entry_id: int, reason: str) -> None:
    ledger.transition_many(FileStatus.FAILED, [StatusMove(entry_id, reason=reason)])


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
    assert ContentOwners(ledger).record([(first.id, "ab" * 32)]) == {}
    assert ContentOwners(ledger).record([(first.id, "ab" * 32)]) == {}  # a retry: still the owner
    owner = ContentOwners(ledger).record([(second.id, "ab" * 32)])[second.id]
    assert owner.id == first.id
    (duplicate,) = ledger.get([second.id])
    assert duplicate.status == FileStatus.DUPLICATE
    assert duplicate.duplicate_of == first.id
    assert duplicate.reason == "duplicate_of:sales_data/a.csv (CLAIMED)"


def test_failed_files_are_claimed_again_and_keep_their_content(ledger):
    bucket = unique_bucket()
    (entry,) = ledger.claim(bucket, "run-1", versions("a.csv"))
    ContentOwners(ledger).record([(entry.id, "cd" * 32)])
    fail(ledger, entry.id, "changed_during_run")
    (again,) = ledger.claim(bucket, "run-2", versions("a.csv"))
    assert (again.id, again.status, again.run_id, again.attempts, again.reason, again.last_error) == (
        entry.id,
        FileStatus.CLAIMED,
        "run-2",
        2,
        None,
        "changed_during_run",  # why the last attempt ended stays with the file
    )
    assert ContentOwners(ledger).record([(entry.id, "cd" * 32)]) == {}


def test_files_a_finished_run_left_in_flight_are_claimed_again(ledger):
    bucket = unique_bucket()
    _claimed, validated, elsewhere = ledger.claim(bucket, "run-1", versions("a.csv", "b.csv", "c.csv"))
    ledger.transition_many(FileStatus.VALIDATED, [StatusMove(validated.id)])
    ledger.record_error(bucket, "run-1", "transform_and_load: OperationalError: MySQL server has gone away")
    states = {"run-1": "failed"}
    # run-1 still running: its files stay with it.
    assert ledger.release_stranded(bucket, "run-2", lambda run: "running") == []
    again = {e.object_key: e for e in ledger.claim(bucket, "run-2", versions("a.csv", "b.csv"), states.get)}
    assert {k: (e.status, e.run_id, e.attempts) for k, e in again.items()} == {
        "sales_data/a.csv": (FileStatus.CLAIMED, "run-2", 2),
        "sales_data/b.csv": (FileStatus.CLAIMED, "run-2", 2),
        "sales_data/c.csv": (FileStatus.GONE, "run-2", 1),  # in run-2's report
    }
    assert again["sales_data/b.csv"].last_error == (
        "stranded: run run-1 is failed and left the file VALIDATED "
        "(transform_and_load: OperationalError: MySQL server has gone away)"
    )
    # c.csv is no longer listed: not left in flight, and not FAILED for ever either (issue 26.3).
    (c,) = ledger.get([elsewhere.id])
    assert (c.status, c.run_id) == (FileStatus.GONE, "run-2")
    assert c.reason.startswith("gone:deleted_before_load (stranded: run run-1 is failed")
    # A run Airflow does not know is over too.
    (d,) = ledger.claim(bucket, "run-3", versions("d.csv"))
    ledger.release_stranded(bucket, "run-4", lambda run: None)
    assert ledger.get([d.id])[0].status == FileStatus.FAILED


def test_a_failed_version_whose_object_left_the_landing_prefix_is_gone_and_its_bytes_pass_on(ledger):
    """Issue 26, point 3: a FAILED version is claimed again only from the listing; one whose key
    was overwritten or deleted becomes GONE (in the report of the run that saw it), not FAILED for
    ever, and its bytes, never loaded, may still load under another name."""
    bucket = unique_bucket()
    replaced, deleted, kept = ledger.claim(bucket, "run-1", versions("a.csv", "b.csv", "c.csv"))
    ContentOwners(ledger).record([(deleted.id, "b0" * 32)])
    for entry in (replaced, deleted, kept):
        fail(ledger, entry.id, "boom")
    listing = [*versions("a.csv", etag="e2", size=12), *versions("c.csv"), *versions("copy_of_b.csv")]
    held = {e.object_key: e for e in ledger.claim(bucket, "run-2", listing)}
    assert {k: (e.status, e.attempts) for k, e in held.items()} == {
        "sales_data/a.csv": (FileStatus.CLAIMED, 1),  # the new version
        "sales_data/c.csv": (FileStatus.CLAIMED, 2),
        "sales_data/copy_of_b.csv": (FileStatus.CLAIMED, 1),
        "sales_data/b.csv": (FileStatus.GONE, 1),
    }
    old_a, old_b = ledger.get([replaced.id, deleted.id])
    assert (old_a.status, old_a.run_id, old_a.reason) == (
        FileStatus.GONE,
        "run-2",
        "gone:replaced_before_load:etag e2-a.csv, 12 bytes (boom)",
    )
    assert (old_b.status, old_b.reason) == (FileStatus.GONE, "gone:deleted_before_load (boom)")
    copy = held["sales_data/copy_of_b.csv"]
    assert ContentOwners(ledger).record([(copy.id, "b0" * 32)]) == {}  # its own bytes: not a duplicate
    assert ledger.claim(bucket, "run-2", listing) == ledger.claim(bucket, "run-2", listing)  # a retry


def test_a_run_a_lost_service_ended_is_no_attempt_at_its_files(ledger):
    """Issue 21: files stranded by a run whose task lost MySQL or S3 (``outage:``) are claimed again
    with their attempts unchanged; a run whose job died of its files counts one."""
    bucket = unique_bucket()
    outage, _ = ledger.claim(bucket, "run-1", versions("outage.csv", "died.csv"))
    ledger.record_error(
        bucket, "run-1", "transform_and_load: ServiceOutageError: outage: MySQL does not answer"
    )
    ledger.transition_many(FileStatus.VALIDATED, [StatusMove(outage.id)])
    ledger.release_stranded(bucket, "run-2", lambda run: "failed")
    (outage,) = ledger.get([outage.id])
    assert outage.reason.startswith("outage: stranded: run run-1 is failed")
    again = {e.object_key: e for e in ledger.claim(bucket, "run-3", versions("outage.csv", "died.csv"))}
    assert (again["sales_data/outage.csv"].attempts, again["sales_data/died.csv"].attempts) == (1, 1)
    ledger.record_error(bucket, "run-3", "transform_and_load: SparkJobFailedError: spark_job_failed: OOM")
    ledger.release_stranded(bucket, "run-4", lambda run: "failed")
    again = {e.object_key: e for e in ledger.claim(bucket, "run-5", versions("outage.csv", "died.csv"))}
    assert (again["sales_data/outage.csv"].attempts, again["sales_data/died.csv"].attempts) == (2, 2)


def test_only_a_run_airflow_says_it_does_not_know_is_taken_for_over():
    """Issue 26, point 6: an error while asking for a run's state fails the claim."""
    from airflow.sdk.api.datamodels._generated import DagRunState
    from airflow.sdk.exceptions import AirflowRuntimeError, ErrorType
    from airflow.sdk.execution_time.comms import ErrorResponse

    from salesflow.steps.claim import known_run_state

    def answer(status_code: int):
        def ask():
            raise AirflowRuntimeError(
                ErrorResponse(error=ErrorType.API_SERVER_ERROR, detail={"status_code": status_code})
            )

        return ask

    assert known_run_state(lambda: "running") == "running"
    assert known_run_state(lambda: DagRunState.RUNNING) == "running"  # what the SDK returns
    assert known_run_state(answer(404)) is None
    with pytest.raises(AirflowRuntimeError):
        known_run_state(answer(500))


def test_long_reasons_and_errors_are_cut_to_their_column(ledger):
    bucket = unique_bucket()
    (entry,) = ledger.claim(bucket, "run-1", versions("a.csv"))
    ledger.record_error(bucket, "run-1", "x" * 5000)
    ledger.transition_many(FileStatus.FAILED, [StatusMove(entry.id, reason="y" * 5000)])
    (failed,) = ledger.get([entry.id])
    assert (len(failed.reason), len(failed.last_error)) == (TEXT_LIMIT, TEXT_LIMIT)
    assert failed.reason.endswith("...")


def test_bytes_of_a_failed_file_pass_to_a_new_file(ledger):
    bucket = unique_bucket()
    (failed,) = ledger.claim(bucket, "run-1", versions("a.csv"))
    ContentOwners(ledger).record([(failed.id, "ef" * 32)])
    fail(ledger, failed.id, "boom")
    gone, renamed = ledger.claim(bucket, "run-2", versions("renamed.csv"))  # a.csv renamed: GONE
    assert (gone.id, gone.status) == (failed.id, FileStatus.GONE)
    assert ContentOwners(ledger).record([(renamed.id, "ef" * 32)]) == {}


def test_statuses_move_forward_only(ledger):
    bucket = unique_bucket()
    (entry,) = ledger.claim(bucket, "run-1", versions("a.csv"))
    validated = StatusMove(entry.id, rows_read=10, rows_rejected=2)
    ledger.transition_many(FileStatus.VALIDATED, [validated])
    ledger.transition_many(FileStatus.VALIDATED, [validated])  # a retry: no-op
    with pytest.raises(LedgerTransitionError, match="is VALIDATED: it cannot move to DUPLICATE"):
        ledger.transition_many(FileStatus.DUPLICATE, [StatusMove(entry.id)])
    ledger.transition_many(FileStatus.LOADED, [StatusMove(entry.id, rows_loaded=8)])
    for backwards in (FileStatus.VALIDATED, FileStatus.QUARANTINED, FileStatus.FAILED):
        with pytest.raises(LedgerTransitionError, match="is LOADED"):
            ledger.transition_many(backwards, [StatusMove(entry.id)])
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
    ledger.transition_many(FileStatus.QUARANTINED, [StatusMove(done.id, reason="empty_file")])
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT file_name, status, ledger_status FROM product_staging_table WHERE bucket = %s ORDER BY id",
            (bucket,),
        )
        assert cursor.fetchall() == (
            ("sales_data/a.csv", "A", "CLAIMED"),
            ("sales_data/b.csv", "I", "QUARANTINED"),
        )


def test_batched_moves_keep_each_files_values_and_refuse_backward_moves_as_a_whole(ledger):
    bucket = unique_bucket()
    names = [f"f{i:04d}.csv" for i in range(CLAIM_BATCH + 5)]  # more than one batch
    entries = ledger.claim(bucket, "run-1", versions(*names))
    ledger.transition_many(
        FileStatus.VALIDATED,
        [StatusMove(e.id, rows_read=i, rows_rejected=i % 3) for i, e in enumerate(entries)],
    )
    ledger.transition_many(
        FileStatus.LOADED, [StatusMove(e.id, rows_loaded=i - i % 3) for i, e in enumerate(entries[:-2])]
    )
    after = ledger.get([e.id for e in entries])
    assert [(e.status, e.rows_read, e.rows_loaded, e.rows_rejected) for e in after[:3]] == [
        (FileStatus.LOADED, 0, 0, 0),
        (FileStatus.LOADED, 1, 0, 1),
        (FileStatus.LOADED, 2, 0, 2),
    ]
    assert {e.status for e in after[:-2]} == {FileStatus.LOADED}
    assert [(e.status, e.rows_loaded) for e in after[-2:]] == [(FileStatus.VALIDATED, None)] * 2
    # A repeat changes nothing and is no error; a new reason on a repeat is kept.
    ledger.transition_many(FileStatus.LOADED, [StatusMove(e.id, rows_loaded=0) for e in entries[:1]])
    # One backward move in a batch refuses the whole batch: the forward moves in it are not kept.
    loaded, waiting = entries[0], entries[-1]
    with pytest.raises(LedgerTransitionError, match=f"ledger entry {loaded.id} .* is LOADED"):
        ledger.transition_many(
            FileStatus.QUARANTINED, [StatusMove(waiting.id, reason="late"), StatusMove(loaded.id, reason="x")]
        )
    (still_waiting, still_loaded) = ledger.get([loaded.id, waiting.id])[::-1]
    assert (still_waiting.status, still_waiting.reason) == (FileStatus.VALIDATED, None)
    assert (still_loaded.status, still_loaded.reason) == (FileStatus.LOADED, None)
    with pytest.raises(LedgerTransitionError, match="does not exist"):
        ledger.transition_many(FileStatus.FAILED, [StatusMove(max(e.id for e in entries) + 10_000)])
    ledger.transition_many(FileStatus.FAILED, [])  # nothing to move: no statement


def test_batched_contents_find_duplicates_within_and_across_batches(ledger):
    bucket = unique_bucket()
    a, b, c, d, e = ledger.claim(bucket, "run-1", versions("a.csv", "b.csv", "c.csv", "d.csv", "e.csv"))
    (old,) = ledger.claim(bucket, "run-0", versions("old.csv"))
    ContentOwners(ledger).record([(old.id, "01" * 32)])
    ledger.transition_many(FileStatus.LOADED, [])  # no-op
    ledger.transition_many(FileStatus.VALIDATED, [StatusMove(old.id)])
    ledger.transition_many(FileStatus.LOADED, [StatusMove(old.id, rows_loaded=1)])
    owners = ContentOwners(ledger).record(
        [(a.id, "aa" * 32), (b.id, "bb" * 32), (c.id, "aa" * 32), (d.id, "01" * 32), (e.id, "aa" * 32)]
    )
    # c and e repeat a's bytes (the first given owns them); d repeats bytes loaded earlier.
    assert {entry_id: owner.id for entry_id, owner in owners.items()} == {
        c.id: a.id,
        d.id: old.id,
        e.id: a.id,
    }
    assert owners[d.id].status == FileStatus.LOADED
    got = {x.id: x for x in ledger.get([a.id, b.id, c.id, d.id, e.id])}
    assert [(got[x.id].status, got[x.id].duplicate_of) for x in (a, b, c, d, e)] == [
        (FileStatus.CLAIMED, None),
        (FileStatus.CLAIMED, None),
        (FileStatus.DUPLICATE, a.id),
        (FileStatus.DUPLICATE, old.id),
        (FileStatus.DUPLICATE, a.id),
    ]
    assert got[c.id].reason == "duplicate_of:sales_data/a.csv (CLAIMED)"
    assert got[d.id].reason == "duplicate_of:sales_data/old.csv (LOADED)"
    assert {x.sha256 for x in got.values()} == {"aa" * 32, "bb" * 32, "01" * 32}
    # A retry of the whole batch gives the same answer and changes nothing.
    again = ContentOwners(ledger).record([(a.id, "aa" * 32), (b.id, "bb" * 32), (c.id, "aa" * 32)])
    assert {entry_id: owner.id for entry_id, owner in again.items()} == {c.id: a.id}
    assert ledger.get([c.id])[0].status == FileStatus.DUPLICATE


def test_batched_contents_hand_failed_bytes_to_the_first_new_entry(ledger):
    bucket = unique_bucket()
    (failed,) = ledger.claim(bucket, "run-1", versions("a.csv"))
    ContentOwners(ledger).record([(failed.id, "fa" * 32)])
    fail(ledger, failed.id, "boom")
    _gone, first, second = ledger.claim(bucket, "run-2", versions("renamed.csv", "renamed_again.csv"))
    owners = ContentOwners(ledger).record([(first.id, "fa" * 32), (second.id, "fa" * 32)])
    assert {entry_id: owner.id for entry_id, owner in owners.items()} == {second.id: first.id}
    assert owners[second.id].object_key == "sales_data/renamed.csv"
    (dup,) = ledger.get([second.id])
    assert (dup.status, dup.duplicate_of, dup.reason) == (
        FileStatus.DUPLICATE,
        first.id,
        "duplicate_of:sales_data/renamed.csv (CLAIMED)",
    )
    (renamed_away,) = ledger.get([failed.id])
    assert renamed_away.status == FileStatus.GONE  # its bytes moved on, its version stays on record


def test_sql_files_take_the_statuses_from_the_enum():
    """A status is written once (``statuses.FileStatus``): no SQL file spells one out."""
    import re

    from salesflow.config import load_settings
    from salesflow.paths import SQL_DIR
    from salesflow.sql import render
    from salesflow.statuses import FileStatus

    spelled = re.compile(r"'(" + "|".join(FileStatus) + r")'")
    files = sorted(SQL_DIR.rglob("*.sql"))
    assert [f.relative_to(SQL_DIR).as_posix() for f in files if spelled.search(f.read_text())] == []
    tables = load_settings().tables
    assert "status IN ('CLAIMED', 'VALIDATED')" in render("ledger/record_error.sql", tables)
    assert "'SUPERSEDED'" in render("ledger/superseded_of_keys.sql", tables, value_lists={"object_keys": 1})
