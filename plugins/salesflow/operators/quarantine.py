"""QuarantineOperator: files that fail go to the error prefix and folder, with their reason.

A quarantined file moves to the S3 error prefix (its key kept below it) with a ``.reason.json``
beside it, and is QUARANTINED in the ledger with its reason: that is the record, read from any
worker. It is also copied, streamed from the error prefix, with the same reason file into the local
error folder of the worker that quarantined it (kept until a user removes it; with workers that
share no disk, each worker's folder holds the files it quarantined).
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from salesflow.config import Settings, load_settings
from salesflow.contracts import IntakeFile
from salesflow.ledger import FileLedger, LedgerEntry, StatusMove
from salesflow.paths import path_inside, rebase_key, relative_key, write_atomically
from salesflow.statuses import FileStatus

log = logging.getLogger(__name__)

STAGES = ("intake", "load")


def local_error_path(settings: Settings, object_key: str, file_id: int) -> Path:
    """Where a quarantined file goes in the local error folder (its key below the source prefix)."""
    relative = relative_key(object_key, settings.prefixes.source)
    inside = path_inside(settings.error_dir, relative) if relative else None
    # A key that would escape the folder is stored under its ledger id instead.
    return inside or settings.error_dir / "unsafe_keys" / f"{file_id:010d}"


def reason_document(entry: LedgerEntry, reason: str, bucket: str, error_key: str) -> bytes:
    document = {
        "reason": reason,
        "source": f"s3://{bucket}/{entry.object_key}",
        "quarantined_to": f"s3://{bucket}/{error_key}",
        "ledger_id": entry.id,
        "sha256": entry.sha256,
        "size_bytes": entry.size_bytes,
        "run_id": entry.run_id,
        "attempts": entry.attempts,
    }
    return (json.dumps(document, indent=2) + "\n").encode()


def quarantine_one(settings: Settings, hook: Any, entry: LedgerEntry, reason: str) -> str:
    """The S3 move, the reason file and the local copy of one file; its log line."""
    from salesflow.storage import copy_version, move_version

    error_key = rebase_key(entry.object_key, settings.prefixes.source, settings.prefixes.error)
    if (entry.source_key or "").startswith(settings.prefixes.processed):
        # A reprocessed file read from the archive: those bytes stay the archive of the version
        # that is still LOADED, so they are copied, not moved.
        moved = copy_version(hook, settings.bucket, entry.version(), error_key)
    else:
        moved = move_version(hook, settings.bucket, entry.version(), error_key)
    document = reason_document(entry, reason, settings.bucket, error_key)
    hook.load_bytes(document, key=error_key + ".reason.json", bucket_name=settings.bucket, replace=True)
    local = local_error_path(settings, entry.object_key, entry.id)
    if moved in ("moved", "already_moved", "copied", "already_copied"):  # the bytes are in the error prefix
        with tempfile.TemporaryDirectory() as scratch:
            streamed = Path(scratch) / "object"  # streamed to disk, never whole in memory
            hook.get_conn().download_file(settings.bucket, error_key, str(streamed))
            write_atomically(local, source=streamed)
    write_atomically(local.with_name(local.name + ".reason.json"), document)
    destination = f"s3://{settings.bucket}/{error_key}"
    return f"quarantined {entry.object_key}: {reason} (S3: {moved} to {destination}; local: {local})"


def quarantine_files(
    settings: Settings,
    items: Sequence[tuple[LedgerEntry, str]],
    *,
    record: bool = True,
    fault_name: str = "quarantine_invalid_files",
) -> Counter[str]:
    """Quarantine (entry, reason) items: the first alone, the rest pooled.

    ``record``: the ledger moves to QUARANTINED (batched) as the files are moved; a DUPLICATE keeps
    its status. Returns the count per reason code.
    """
    from salesflow.db import connect
    from salesflow.storage import first_alone_then_pooled, s3_hook

    hook = s3_hook()
    hook.get_conn()  # one S3 client, shared by the threads
    counts: Counter[str] = Counter()
    with connect(settings) as conn:
        ledger = FileLedger(conn, settings.tables)

        def settle(done: Sequence[tuple[LedgerEntry, str]], lines: list[str]) -> None:
            if record:
                moves = [StatusMove(e.id, reason=r) for e, r in done if e.status != FileStatus.DUPLICATE]
                ledger.transition_many(FileStatus.QUARANTINED, moves)
            for line in lines:
                log.info("%s", line)
            counts.update(reason.split(":", 1)[0] for _, reason in done)

        first_alone_then_pooled(lambda item: quarantine_one(settings, hook, *item), items, fault_name, settle)
    return counts


class QuarantineOperator(BaseOperator):
    """Quarantines the run's files at one stage of the run.

    ``stage="intake"`` (before the Spark job): files the download's checks failed (and duplicates,
    unsafe keys, files past their attempts) are quarantined; the accepted ones become VALIDATED.
    ``stage="load"`` (after it): files the Spark job set aside as QUARANTINED (``load_failed:``)
    are moved. Safe to run again: a file already moved is ``already_moved``.
    """

    template_fields: Sequence[str] = ()
    ui_color = "#f4a6a6"

    def __init__(self, *, stage: str = "intake", **kwargs: Any) -> None:
        if stage not in STAGES:
            raise ValueError(f"stage must be one of {STAGES}, not {stage!r}")
        super().__init__(**kwargs)
        self.stage = stage

    def execute(self, context: Any) -> dict[str, Any]:
        from salesflow.db import connect
        from salesflow.run_files import read_spec

        settings = load_settings()
        run_id = context["run_id"]
        spec = read_spec(settings, run_id)
        if spec is None:
            return {"quarantined": 0, "validated": 0, "quarantined_by_reason": {}}
        intake = {f.file_id: f for f in spec.files}
        with connect(settings) as conn:
            ledger = FileLedger(conn, settings.tables)
            entries = ledger.entries_for_run(settings.bucket, run_id)
            items = self._items(entries, intake)
            validated = self._validate(ledger, entries, intake) if self.stage == "intake" else 0
        counts = quarantine_files(settings, items, record=self.stage == "intake", fault_name=self.task_id)
        self.log.info(
            "quarantine (%s): %d files quarantined, %d validated", self.stage, len(items), validated
        )
        return {"quarantined": len(items), "validated": validated, "quarantined_by_reason": dict(counts)}

    def _items(
        self, entries: list[LedgerEntry], intake: dict[int, IntakeFile]
    ) -> list[tuple[LedgerEntry, str]]:
        """The files to quarantine at this stage, each with its reason."""
        items = []
        for entry in entries:
            if self.stage == "load":
                if entry.failed_its_load():
                    items.append((entry, entry.reason or ""))
                continue
            file = intake.get(entry.id)
            if file is None or file.accepted:
                continue
            if entry.status in (
                FileStatus.CLAIMED,
                FileStatus.VALIDATED,
                FileStatus.DUPLICATE,
                FileStatus.QUARANTINED,
            ):
                items.append((entry, file.reason or ""))
        return items

    def _validate(self, ledger: FileLedger, entries: list[LedgerEntry], intake: dict[int, IntakeFile]) -> int:
        """Accepted files go on to the load: CLAIMED -> VALIDATED (batched)."""
        accepted = [
            e for e in entries if e.id in intake and intake[e.id].accepted and e.status == FileStatus.CLAIMED
        ]
        ledger.transition_many(FileStatus.VALIDATED, [StatusMove(e.id) for e in accepted])
        for entry in accepted:
            self.log.info(
                "validated %s: accepted for the load (%s)", entry.object_key, intake[entry.id].file_format
            )
        return len(accepted)
