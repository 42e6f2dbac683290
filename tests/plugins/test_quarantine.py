"""QuarantineOperator against the moto S3 server, a temporary folder and the real ledger."""

from __future__ import annotations

import json
import uuid

from salesflow.db import connect
from salesflow.ledger import FileLedger, FileStatus, ObjectVersion
from salesflow.operators.quarantine import QuarantineOperator
from salesflow.pipeline import local_download_path, validation_dir
from salesflow.storage import s3_hook


def keys(bucket: str, prefix: str) -> list[str]:
    return sorted(item["Key"] for item in s3_hook().iter_file_metadata(prefix=prefix, bucket_name=bucket))


def test_quarantine_moves_invalid_files_and_marks_valid_ones(bucket, mysql_database, settings):
    run_id = f"manual__{uuid.uuid4().hex[:8]}"
    sub = f"q-{uuid.uuid4().hex[:6]}"
    hook = s3_hook()
    contents = {
        f"sales_data/{sub}/empty.csv": b"",
        f"sales_data/{sub}/good.csv": b"customer_id\n1\n2\n",
        f"sales_data/{sub}/../../escape.csv": b"x\n",
    }
    for key, content in contents.items():
        hook.load_bytes(content, key=key, bucket_name=bucket, replace=True)
    listed = {
        item["Key"]: ObjectVersion(item["Key"], item["ETag"].strip('"'), item["Size"])
        for item in hook.iter_file_metadata(prefix=f"sales_data/{sub}/", bucket_name=bucket)
    }
    with connect(settings) as conn:
        ledger = FileLedger(conn, settings.tables)
        entries = {e.object_key: e for e in ledger.claim(bucket, run_id, listed.values())}
    manifest_files = []
    for key, entry in entries.items():
        local = local_download_path(settings, run_id, entry.id)
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(contents[key])
        valid = key.endswith("good.csv")
        manifest_files.append(
            {
                "file_id": entry.id,
                "object_key": key,
                "local_path": str(local),
                "sha256": "0" * 64,
                "size_bytes": entry.size_bytes,
                "status": "valid" if valid else "invalid",
                "reason": None if valid else ("empty_file" if "empty" in key else "unsafe_key"),
                "rows_read": 3 if valid else 0,
                "rows_valid": 2 if valid else 0,
                "rows_rejected": 1 if valid else 0,
                "rejected_by_reason": {"total_cost_mismatch": 1} if valid else {},
            }
        )
    out = validation_dir(settings, run_id)
    rejects = out / "rejected" / f"file_id={entries[f'sales_data/{sub}/good.csv'].id}"
    rejects.mkdir(parents=True)
    (rejects / "part-00000.csv").write_text("line_number,reject_reason\n3,total_cost_mismatch\n")
    (out / "manifest.json").write_text(json.dumps({"run_id": run_id, "files": manifest_files}))

    operator = QuarantineOperator(task_id="quarantine_invalid_files")
    for _ in range(2):  # a retry after success changes nothing
        outcome = operator.execute({"run_id": run_id})
        assert outcome == {
            "quarantined": 2,
            "validated": 1,
            "quarantined_by_reason": {"empty_file": 1, "unsafe_key": 1},
        }

        assert keys(bucket, f"sales_data/{sub}/") == [f"sales_data/{sub}/good.csv"]
        assert keys(bucket, f"sales_data_error/{sub}/") == [
            f"sales_data_error/{sub}/../../escape.csv",
            f"sales_data_error/{sub}/../../escape.csv.reason.json",
            f"sales_data_error/{sub}/empty.csv",
            f"sales_data_error/{sub}/empty.csv.reason.json",
        ]
        reason = json.loads(hook.read_key(f"sales_data_error/{sub}/empty.csv.reason.json", bucket))
        assert (
            reason["reason"] == "empty_file"
            and reason["source"] == f"s3://{bucket}/sales_data/{sub}/empty.csv"
        )
        good_id = entries[f"sales_data/{sub}/good.csv"].id
        assert hook.read_key(
            f"sales_data_rejects/{sub}/good.csv.{good_id}.rejected.csv", bucket
        ).splitlines() == [
            "line_number,reject_reason",
            "3,total_cost_mismatch",
        ]

        # Locally: the key below the source prefix, or its ledger id when the key would escape.
        escape_id = entries[f"sales_data/{sub}/../../escape.csv"].id
        assert sorted(
            str(p.relative_to(settings.error_dir))
            for p in settings.error_dir.rglob("*")
            if p.is_file()
            if sub in str(p) or "unsafe_keys" in str(p)
        ) == sorted(
            [
                f"{sub}/empty.csv",
                f"{sub}/empty.csv.reason.json",
                f"unsafe_keys/{escape_id:010d}",
                f"unsafe_keys/{escape_id:010d}.reason.json",
            ]
        )
        assert (settings.error_dir / f"unsafe_keys/{escape_id:010d}").read_bytes() == b"x\n"
        assert not (settings.error_dir.parent / "escape.csv").exists()

    with connect(settings) as conn:
        final = {e.object_key: e for e in FileLedger(conn, settings.tables).entries_for_run(bucket, run_id)}
    assert {k: (e.status, e.reason, e.rows_read, e.rows_rejected) for k, e in final.items()} == {
        f"sales_data/{sub}/empty.csv": (FileStatus.QUARANTINED, "empty_file", None, None),
        f"sales_data/{sub}/good.csv": (FileStatus.VALIDATED, None, 3, 1),
        f"sales_data/{sub}/../../escape.csv": (FileStatus.QUARANTINED, "unsafe_key", None, None),
    }
