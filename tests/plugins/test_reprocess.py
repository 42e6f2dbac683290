"""Issue 26, reprocess: which files a request takes and which it refuses (with the reason), the new
entries it claims, and how their bytes and content are handed over. The whole run, from a request
to the rows in the marts, is in tests/integration/test_reprocess_e2e.py."""

from __future__ import annotations

import pytest

from salesflow.contents import ContentOwners
from salesflow.db import connect
from salesflow.ledger import FileLedger, LedgerEntry, StatusMove
from salesflow.objects import ObjectVersion
from salesflow.statuses import FileStatus
from salesflow.steps.reprocess import request_reprocess
from salesflow.storage import s3_hook


def put(settings, key: str, content: bytes) -> ObjectVersion:
    etag = s3_hook().get_conn().put_object(Bucket=settings.bucket, Key=key, Body=content)["ETag"]
    return ObjectVersion(key, etag.strip('"'), len(content))


def settle(ledger: FileLedger, entry: LedgerEntry, *statuses: FileStatus, reason: str | None = None) -> None:
    for status in statuses:
        ledger.transition_many(status, [StatusMove(entry.id, reason=reason)])


@pytest.fixture
def files(environment):
    """A ledger with one file of each outcome, their bytes where the runs leave them."""
    settings = environment("reprocess")
    loaded = put(settings, "sales_data/loaded.csv", b"loaded bytes")
    quarantined = put(settings, "sales_data/quarantined.csv", b"quarantined bytes")
    old, new = put(settings, "sales_data/twice.csv", b"first"), ObjectVersion("sales_data/twice.csv", "e2", 6)
    failed, gone = (
        ObjectVersion("sales_data/failed.csv", "e3", 3),
        ObjectVersion("sales_data/gone.csv", "e4", 4),
    )
    archived_missing = ObjectVersion("sales_data/lost.csv", "e5", 5)
    hook = s3_hook().get_conn()
    # The runs moved them: loaded ones to the processed prefix, quarantined ones to the error prefix.
    for version, prefix in [(loaded, "sales_data_processed/"), (quarantined, "sales_data_error/")]:
        source = {"Bucket": settings.bucket, "Key": version.key}
        hook.copy_object(
            Bucket=settings.bucket, Key=version.key.replace("sales_data/", prefix), CopySource=source
        )
        hook.delete_object(Bucket=settings.bucket, Key=version.key)
    with connect(settings) as conn:
        ledger = FileLedger(conn, settings.tables)
        entries = {
            e.object_key.removeprefix("sales_data/").removesuffix(".csv"): e
            for e in ledger.claim(
                settings.bucket, "run-1", [loaded, quarantined, old, failed, gone, archived_missing]
            )
        }
        (newer,) = ledger.claim(settings.bucket, "run-2", [new])
        settle(ledger, newer, FileStatus.VALIDATED, FileStatus.LOADED)
        for name in ("loaded", "twice", "lost"):
            settle(ledger, entries[name], FileStatus.VALIDATED, FileStatus.LOADED)
        settle(ledger, entries["quarantined"], FileStatus.QUARANTINED, reason="file_too_large:17 bytes")
        settle(ledger, entries["failed"], FileStatus.FAILED, reason="changed_during_run")
        settle(ledger, entries["gone"], FileStatus.FAILED, reason="changed_during_run")
        ledger.settle_gone(settings.bucket, "run-1", [failed])  # gone.csv left the landing prefix
        ContentOwners(ledger).record(
            [(entries["loaded"].id, "aa" * 32), (entries["quarantined"].id, "bb" * 32)]
        )
        settle(ledger, entries["twice"], FileStatus.SUPERSEDED, reason=f"superseded_by:{newer.id}")
    return settings, {**entries, "newer": newer}


def test_each_request_is_taken_or_refused_with_its_reason(files):
    settings, entries = files
    asked = [
        str(entries["loaded"].id),
        "sales_data/quarantined.csv",
        "sales_data/loaded.csv",  # by its key: the key's newest entry, the one this run just claimed
        f"0{entries['loaded'].id}",  # the same entry again
        str(entries["twice"].id),
        str(entries["failed"].id),
        str(entries["gone"].id),
        str(entries["lost"].id),
        "sales_data/never_seen.csv",
        "999999999",
    ]
    lines = request_reprocess(settings, "run-3", asked, "ops@example.com")
    with connect(settings) as conn:
        first_new = FileLedger(conn, settings.tables).entries_for_run(settings.bucket, "run-3")[0]
    said = {line["requested"]: (line["origin_id"], line["origin_status"], line["refused"]) for line in lines}
    bucket = settings.bucket
    assert said == {
        str(entries["loaded"].id): (entries["loaded"].id, "LOADED", None),
        "sales_data/quarantined.csv": (entries["quarantined"].id, "QUARANTINED", None),
        "sales_data/loaded.csv": (first_new.id, "CLAIMED", "in flight in run run-3: it settles there"),
        f"0{entries['loaded'].id}": (
            entries["loaded"].id,
            "LOADED",
            f"asked twice in this run (as {entries['loaded'].id})",
        ),
        str(entries["twice"].id): (
            entries["twice"].id,
            "SUPERSEDED",
            f"SUPERSEDED (superseded_by:{entries['newer'].id}): reprocess the version that replaced it",
        ),
        str(entries["failed"].id): (
            entries["failed"].id,
            "FAILED",
            "FAILED: the next run claims it again by itself",
        ),
        str(entries["gone"].id): (
            entries["gone"].id,
            "GONE",
            "GONE (gone:deleted_before_load (changed_during_run)): its bytes never reached the processed or "
            "the error prefix",
        ),
        str(entries["lost"].id): (
            entries["lost"].id,
            "LOADED",
            f"its bytes are not at s3://{bucket}/sales_data_processed/lost.csv (moved or replaced)",
        ),
        "sales_data/never_seen.csv": (
            None,
            None,
            f"the ledger has no file s3://{bucket}/sales_data/never_seen.csv",
        ),
        "999999999": (None, None, f"no ledger entry 999999999 in bucket {bucket}"),
    }
    assert [line["requested_by"] for line in lines] == ["ops@example.com"] * len(asked)
    with connect(settings) as conn:
        ledger = FileLedger(conn, settings.tables)
        claimed = ledger.entries_for_run(bucket, "run-3")
        # The run holds a new entry per request taken: the same key, read where the bytes are.
        assert [(e.object_key, e.status, e.reprocess_of, e.source_key, e.attempts) for e in claimed] == [
            (
                "sales_data/loaded.csv",
                FileStatus.CLAIMED,
                entries["loaded"].id,
                "sales_data_processed/loaded.csv",
                1,
            ),
            (
                "sales_data/quarantined.csv",
                FileStatus.CLAIMED,
                entries["quarantined"].id,
                "sales_data_error/quarantined.csv",
                1,
            ),
        ]
        # The earlier outcomes are untouched until the new entries settle.
        assert [e.status for e in ledger.get([entries["loaded"].id, entries["quarantined"].id])] == [
            FileStatus.LOADED,
            FileStatus.QUARANTINED,
        ]
        # A retried claim finds the requests recorded and claims nothing more.
        assert request_reprocess(settings, "run-3", asked, "someone else") == lines
        assert [e.id for e in ledger.entries_for_run(bucket, "run-3")] == [e.id for e in claimed]


def test_a_reprocessed_entry_takes_its_bytes_over_and_is_never_a_duplicate(files):
    settings, entries = files
    request_reprocess(settings, "run-3", [str(entries["loaded"].id)], "ops")
    put(settings, "sales_data/copy_of_loaded.csv", b"loaded bytes")
    with connect(settings) as conn:
        ledger = FileLedger(conn, settings.tables)
        (again,) = ledger.entries_for_run(settings.bucket, "run-3")
        owners = ContentOwners(ledger)
        assert owners.record([(again.id, "aa" * 32)], reprocessed={again.id: entries["loaded"].id}) == {}
        assert ledger.get([again.id])[0].status == FileStatus.CLAIMED
        # The bytes are the new entry's now: the same bytes under another name name it as owner.
        claimed = ledger.claim(
            settings.bucket, "run-4", [ObjectVersion("sales_data/copy_of_loaded.csv", "x", 12)]
        )
        (copy,) = [e for e in claimed if e.status == FileStatus.CLAIMED]
        assert owners.record([(copy.id, "aa" * 32)])[copy.id].id == again.id


def test_a_reprocessed_entry_that_failed_is_claimed_again_not_taken_for_gone(files):
    settings, entries = files
    request_reprocess(settings, "run-3", [str(entries["quarantined"].id)], "ops")
    with connect(settings) as conn:
        ledger = FileLedger(conn, settings.tables)
        (again,) = ledger.entries_for_run(settings.bucket, "run-3")
        ledger.transition_many(FileStatus.FAILED, [StatusMove(again.id, reason="spark_job_failed")])
        # The next run lists nothing in the landing prefix, and still claims it again (attempt 2).
        held = ledger.claim(settings.bucket, "run-4", [])
        assert [
            (e.id, e.status, e.attempts, e.last_error, e.source_key)
            for e in held
            if e.status == FileStatus.CLAIMED
        ] == [(again.id, FileStatus.CLAIMED, 2, "spark_job_failed", "sales_data_error/quarantined.csv")]


def test_the_command_says_what_each_file_names_before_it_triggers_a_run(files, capsys):
    from salesflow.cli import main

    settings, entries = files
    assert main(["reprocess", "--dry-run", str(entries["loaded"].id), "sales_data/never_seen.csv"]) == 0
    printed = capsys.readouterr().out.splitlines()  # with the providers' log lines, if any
    asked = (str(entries["loaded"].id), "sales_data/never_seen.csv")
    assert [line for line in printed if line.startswith(asked)] == [
        f"{entries['loaded'].id}: ledger id {entries['loaded'].id}, sales_data/loaded.csv, LOADED: "
        f"from s3://{settings.bucket}/sales_data_processed/loaded.csv",
        f"sales_data/never_seen.csv: no entry: not reprocessed: the ledger has no file "
        f"s3://{settings.bucket}/sales_data/never_seen.csv",
    ]
    # Nothing was recorded or claimed: the run decides again when it starts.
    with connect(settings) as conn:
        assert FileLedger(conn, settings.tables).entries_for_run(settings.bucket, "run-3") == []
