"""QuarantineOperator against the moto S3 server, a temporary folder and the real ledger, on a
spec written by the DAG's own download step."""

from __future__ import annotations

import json
from datetime import date

from include.sample_data.generate import HEADER
from salesflow.db import connect
from salesflow.ledger import FileLedger, StatusMove
from salesflow.operators.quarantine import QuarantineOperator
from salesflow.statuses import FileStatus
from salesflow.steps.claim import claim_new_files
from salesflow.steps.download import download_claimed_files
from salesflow.storage import s3_hook

RUN_ID = "manual__2024-06-01T00:00:00+00:00"


def keys(bucket: str, prefix: str) -> list[str]:
    return sorted(item["Key"] for item in s3_hook().iter_file_metadata(prefix=prefix, bucket_name=bucket))


def local_files(settings) -> list[str]:
    return sorted(
        str(p.relative_to(settings.error_dir)) for p in settings.error_dir.rglob("*") if p.is_file()
    )


def statuses(settings) -> dict[str, tuple]:
    with connect(settings) as conn:
        entries = FileLedger(conn, settings.tables).entries_for_run(settings.bucket, RUN_ID)
    return {e.object_key: (e.status, e.reason) for e in entries}


def test_files_failing_their_checks_are_quarantined_and_the_others_validated(environment):
    settings = environment("quarantine")
    hook = s3_hook()
    good = (",".join(HEADER) + "\n1,121,sugar,2024-01-02,2,50.00,3,150.00\n").encode()
    contents = {
        "sales_data/q/empty.csv": b"",
        "sales_data/q/good.csv": good,
        "sales_data/q/../../escape.csv": b"x\n",
    }
    for key, content in contents.items():
        hook.load_bytes(content, key=key, bucket_name=settings.bucket)
    claim_new_files(settings, RUN_ID)
    download_claimed_files(settings, RUN_ID, date(2024, 6, 1))

    operator = QuarantineOperator(task_id="quarantine_invalid_files", stage="intake")
    for attempt in range(2):  # a retry after success changes nothing
        outcome = operator.execute({"run_id": RUN_ID})
        assert outcome == {
            "quarantined": 2,
            "validated": 1 if attempt == 0 else 0,
            "quarantined_by_reason": {"empty_file": 1, "unsafe_key": 1},
        }
        assert keys(settings.bucket, "sales_data/") == ["sales_data/q/good.csv"]
        assert keys(settings.bucket, "sales_data_error/") == [
            "sales_data_error/q/../../escape.csv",
            "sales_data_error/q/../../escape.csv.reason.json",
            "sales_data_error/q/empty.csv",
            "sales_data_error/q/empty.csv.reason.json",
        ]
        reason = json.loads(hook.read_key("sales_data_error/q/empty.csv.reason.json", settings.bucket))
        assert (reason["reason"], reason["source"]) == (
            "empty_file",
            f"s3://{settings.bucket}/sales_data/q/empty.csv",
        )
        # Locally: the key below the source prefix, or its ledger id when the key would escape.
        escape_id = ledger_id(settings, "sales_data/q/../../escape.csv")
        assert local_files(settings) == [
            "q/empty.csv",
            "q/empty.csv.reason.json",
            f"unsafe_keys/{escape_id:010d}",
            f"unsafe_keys/{escape_id:010d}.reason.json",
        ]
        assert (settings.error_dir / f"unsafe_keys/{escape_id:010d}").read_bytes() == b"x\n"
        assert not (settings.error_dir.parent / "escape.csv").exists()
    assert statuses(settings) == {
        "sales_data/q/empty.csv": (FileStatus.QUARANTINED, "empty_file"),
        "sales_data/q/good.csv": (FileStatus.VALIDATED, None),
        "sales_data/q/../../escape.csv": (FileStatus.QUARANTINED, "unsafe_key"),
    }

    # After the load: a file the Spark job set aside is moved with its reason, once.
    good_id = ledger_id(settings, "sales_data/q/good.csv")
    with connect(settings) as conn:
        FileLedger(conn, settings.tables).transition_many(
            FileStatus.QUARANTINED, [StatusMove(good_id, reason="load_failed:DataError: value too long")]
        )
    after = QuarantineOperator(task_id="quarantine_failed_loads", stage="load")
    for _ in range(2):
        assert after.execute({"run_id": RUN_ID})["quarantined_by_reason"] == {"load_failed": 1}
    assert keys(settings.bucket, "sales_data/") == []
    assert (settings.error_dir / "q/good.csv").read_bytes() == good
    assert json.loads((settings.error_dir / "q/good.csv.reason.json").read_text())["reason"] == (
        "load_failed:DataError: value too long"
    )


def ledger_id(settings, key: str) -> int:
    with connect(settings) as conn:
        entries = FileLedger(conn, settings.tables).entries_for_run(settings.bucket, RUN_ID)
    return next(e.id for e in entries if e.object_key == key)
