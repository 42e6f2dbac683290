"""QuarantineOperator: files the validation rejected go to the error prefix and folder."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from salesflow.config import Settings, load_settings
from salesflow.ledger import FileLedger, FileStatus, LedgerEntry, ObjectVersion, StatusMove
from salesflow.paths import path_inside, rebase_key, relative_key, write_atomically


def _reason_document(entry: dict[str, Any], bucket: str, run_id: str, error_key: str) -> bytes:
    document = {
        "reason": entry["reason"],
        "source": f"s3://{bucket}/{entry['object_key']}",
        "quarantined_to": f"s3://{bucket}/{error_key}",
        "ledger_id": entry["file_id"],
        "sha256": entry.get("sha256"),
        "size_bytes": entry.get("size_bytes"),
        "run_id": run_id,
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def local_error_path(settings: Settings, entry: dict[str, Any]) -> Path:
    """Where a quarantined file goes in the local error folder (its key below the source prefix)."""
    relative = relative_key(entry["object_key"], settings.prefixes.source)
    inside = path_inside(settings.error_dir, relative) if relative else None
    # A key that would escape the folder is stored under its ledger id instead.
    return inside or settings.error_dir / "unsafe_keys" / f"{entry['file_id']:010d}"


class QuarantineOperator(BaseOperator):
    """Acts on the validation manifest of the run.

    Each invalid file is moved to the S3 error prefix (keeping its key below it) with a
    ``.reason.json`` beside it, copied with the same reason file into the local error folder, and
    set to QUARANTINED in the ledger with its reason. Each valid file becomes VALIDATED with its
    row counts, and its rejected rows are written to the S3 rejects prefix. Safe to run again.
    """

    template_fields: Sequence[str] = ()
    ui_color = "#f4a6a6"

    def execute(self, context: Any) -> dict[str, Any]:
        from salesflow.db import connect
        from salesflow.faults import fault_point
        from salesflow.pipeline import run_input, validation_dir
        from salesflow.storage import concurrently, move_version, s3_hook

        settings = load_settings()
        run_id = context["run_id"]
        # Counts only go to XCom; the log names every file.
        outcome: dict[str, Any] = {"quarantined": 0, "validated": 0, "quarantined_by_reason": Counter()}
        manifest_path = run_input(settings, run_id, validation_dir(settings, run_id) / "manifest.json")
        if manifest_path is None:
            return {**outcome, "quarantined_by_reason": {}}
        manifest = json.loads(manifest_path.read_text())
        hook = s3_hook()
        hook.get_conn()  # one S3 client, shared by the threads
        rejected_dir = validation_dir(settings, run_id) / "rejected"

        def quarantine(entry: dict[str, Any], ledger_entry: LedgerEntry) -> str:
            """The S3 move, the reason file and the local copy of an invalid file; its log line."""
            error_key = rebase_key(entry["object_key"], settings.prefixes.source, settings.prefixes.error)
            version = ObjectVersion(ledger_entry.object_key, ledger_entry.etag, ledger_entry.size_bytes)
            moved = move_version(hook, settings.bucket, version, error_key)
            reason_file = _reason_document(entry, settings.bucket, run_id, error_key)
            hook.load_bytes(
                reason_file, key=error_key + ".reason.json", bucket_name=settings.bucket, replace=True
            )
            local = local_error_path(settings, entry)
            downloaded = Path(entry["local_path"])
            if downloaded.exists():
                write_atomically(local, source=downloaded)
            write_atomically(local.with_name(local.name + ".reason.json"), reason_file)
            return (
                f"quarantined {entry['object_key']}: {entry['reason']} (S3: {moved} to "
                f"s3://{settings.bucket}/{error_key}; local: {local})"
            )

        def validate(entry: dict[str, Any]) -> str:
            """The rejected rows of a valid file to S3; its log line."""
            rejects_key = None
            if entry["rows_rejected"]:
                parts = sorted((rejected_dir / f"file_id={entry['file_id']}").glob("part-*.csv"))
                rejected_file = rebase_key(
                    entry["object_key"], settings.prefixes.source, settings.prefixes.rejects
                )
                rejects_key = f"{rejected_file}.{entry['file_id']}.rejected.csv"
                hook.load_bytes(
                    b"".join(_csv_parts(parts)), key=rejects_key, bucket_name=settings.bucket, replace=True
                )
            return (
                f"validated {entry['object_key']}: {entry['rows_read']} rows read, {entry['rows_valid']} "
                f"valid, {entry['rows_rejected']} rejected {entry['rejected_by_reason'] or ''}"
                + (f" (rejected rows: s3://{settings.bucket}/{rejects_key})" if rejects_key else "")
            )

        with connect(settings) as conn:
            ledger = FileLedger(conn, settings.tables)
            current = {e.id: e for e in ledger.get([f["file_id"] for f in manifest["files"]])}
            todo = []
            for entry in manifest["files"]:
                ledger_entry = current[entry["file_id"]]
                if entry["status"] != "invalid" and ledger_entry.status not in (
                    FileStatus.CLAIMED,
                    FileStatus.VALIDATED,
                ):
                    # Cleared and run again after the load: the file has moved on.
                    self.log.info("%s is %s already, nothing to do", entry["object_key"], ledger_entry.status)
                    continue
                todo.append((entry, ledger_entry))

            def work(item: tuple[dict[str, Any], LedgerEntry]) -> str:
                entry, ledger_entry = item
                return quarantine(entry, ledger_entry) if entry["status"] == "invalid" else validate(entry)

            def settle(items: list[tuple[dict[str, Any], LedgerEntry]], lines: list[str]) -> None:
                """The ledger moves of files whose S3 and local work is done, batched; their log lines."""
                invalid = [entry for entry, _ in items if entry["status"] == "invalid"]
                ledger.transition_many(
                    FileStatus.QUARANTINED,
                    [
                        StatusMove(entry["file_id"], reason=entry["reason"])
                        for entry, ledger_entry in items
                        if entry["status"] == "invalid"
                        and ledger_entry.status != FileStatus.DUPLICATE  # a duplicate keeps its status
                    ],
                )
                ledger.transition_many(
                    FileStatus.VALIDATED,
                    [
                        StatusMove(
                            entry["file_id"],
                            rows_read=entry["rows_read"],
                            rows_rejected=entry["rows_rejected"],
                        )
                        for entry, _ in items
                        if entry["status"] != "invalid"
                    ],
                )
                for line in lines:
                    self.log.info("%s", line)
                outcome["quarantined"] += len(invalid)
                outcome["validated"] += len(items) - len(invalid)
                outcome["quarantined_by_reason"].update(entry["reason"].split(":", 1)[0] for entry in invalid)

            if todo:
                # The first file alone (S3, local folder and ledger), then the rest from a thread
                # pool with the ledger moves batched.
                settle(todo[:1], [work(todo[0])])
                fault_point("quarantine_invalid_files")
                settle(todo[1:], concurrently(work, todo[1:]))
        self.log.info(
            "quarantine: %d files quarantined, %d validated",
            outcome["quarantined"],
            outcome["validated"],
        )
        return {**outcome, "quarantined_by_reason": dict(outcome["quarantined_by_reason"])}


def _csv_parts(parts: list[Path]) -> list[bytes]:
    """The part files of one Spark CSV output as one file: the header once."""
    chunks = []
    for index, part in enumerate(parts):
        content = part.read_bytes()
        if index > 0:
            content = content.split(b"\n", 1)[1] if b"\n" in content else b""
        chunks.append(content)
    return chunks
