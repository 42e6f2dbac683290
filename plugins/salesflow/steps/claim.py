"""The ``claim_files`` step: every new file version under the source prefix claimed for the run in
the ledger (atomic), and what an earlier run settled but did not move, moved now."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from enum import Enum
from typing import Any

from salesflow.config import Settings
from salesflow.db import connect
from salesflow.faults import fault_point
from salesflow.ledger import FileLedger, LedgerEntry, naive_utc
from salesflow.objects import ObjectVersion
from salesflow.statuses import IN_FLIGHT, FileStatus
from salesflow.steps.archive import archive
from salesflow.steps.reprocess import request_reprocess
from salesflow.storage import list_versions, s3_hook

log = logging.getLogger(__name__)


NOT_FOUND_STATUS = 404
# Settled versions whose object belongs in the error prefix, not in the landing one.
MOVED_OUT = (FileStatus.QUARANTINED, FileStatus.DUPLICATE)


def known_run_state(ask: Callable[[], Any]) -> str | None:
    """``ask()``'s run state; None only when Airflow answers that it knows no such run (deleted,
    or of another installation). Any other error is raised: taken for "over", it would release the
    files of a run that may still be loading them."""
    from airflow.sdk.exceptions import AirflowRuntimeError

    try:
        state = ask()
    except AirflowRuntimeError as error:
        detail = error.error.detail if isinstance(error.error.detail, dict) else {}
        if detail.get("status_code") == NOT_FOUND_STATUS:
            return None
        raise
    # The SDK answers with a DagRunState (a str Enum whose str() is "DagRunState.RUNNING"): its value.
    return state.value if isinstance(state, Enum) else str(state)


def claim_new_files(
    settings: Settings,
    run_id: str,
    run_state: Callable[[str], str | None] | None = None,
    reprocess: Sequence[str] = (),
    requested_by: str = "unknown",
) -> dict[str, Any]:
    """List the source prefix and claim every file version not seen before, for this run.

    ``run_state`` tells the Airflow state of another run: files a finished run left in flight are
    claimed again (``FileLedger.release_stranded``). ``reprocess`` names settled files (ledger ids
    or object keys) to load again (``salesflow.steps.reprocess``), asked by ``requested_by``.
    """
    hook = s3_hook()
    listed = list(list_versions(hook, settings.bucket, settings.prefixes.source))
    with connect(settings) as conn:
        ledger = FileLedger(conn, settings.tables)
        listed = sent_again(ledger, settings.bucket, listed)
        entries = ledger.claim(settings.bucket, run_id, listed, run_state)
        fault_point("claim_files")
        # Settled by an earlier run that died before moving the file: finish that move now.
        held = {e.id for e in entries}
        settled = [
            e
            for e in ledger.with_status(settings.bucket, listed, (FileStatus.LOADED, *MOVED_OUT))
            if e.id not in held
        ]
        loaded = [e for e in settled if e.status == FileStatus.LOADED]
        failed_loads = [e for e in settled if e.status in MOVED_OUT]
    finish_moves(settings, loaded, failed_loads)
    # After the moves above: a file asked for is read where its settled bytes are.
    requests = request_reprocess(settings, run_id, reprocess, requested_by)
    if requests:
        with connect(settings) as conn:
            entries = FileLedger(conn, settings.tables).entries_for_run(settings.bucket, run_id)
    claimed = [e for e in entries if e.status in IN_FLIGHT]
    log_held(settings, len(listed), entries, len(claimed))
    return {
        "listed": len(listed),
        "claimed": len(claimed),
        "held": len(entries),
        "finished_late": len(loaded),
        "reprocess_taken": sum(1 for r in requests if r["ledger_id"] is not None),
        "reprocess_refused": sum(1 for r in requests if r["refused"]),
    }


def finish_moves(settings: Settings, loaded: list[LedgerEntry], failed_loads: list[LedgerEntry]) -> None:
    """Files an earlier run settled but died before moving: archived, or moved to the error prefix."""
    for entry in loaded:
        log.info(
            "claim: %s was loaded by run %s but not archived; archiving it", entry.object_key, entry.run_id
        )
    archive(settings, loaded)
    for entry in failed_loads:
        log.info("claim: %s was set aside by run %s but not moved; moving it", entry.object_key, entry.run_id)
    move_to_error_prefix(settings, failed_loads)


def log_held(settings: Settings, listed: int, entries: list[LedgerEntry], in_flight: int) -> None:
    """What the claim found: the listing, and each file the run holds with its status."""
    log.info(
        "claim: %d objects under s3://%s/%s; this run holds %d (%d in flight)",
        listed,
        settings.bucket,
        settings.prefixes.source,
        len(entries),
        in_flight,
    )
    for entry in entries:
        log.info(
            "claim: %s -> %s (ledger id %d, attempt %d)",
            entry.object_key,
            entry.status,
            entry.id,
            entry.attempts,
        )


def sent_again(ledger: FileLedger, bucket: str, listed: list[ObjectVersion]) -> list[ObjectVersion]:
    """The listing, with each copy sent again of a version already QUARANTINED or DUPLICATE (same
    key and bytes, a newer LastModified: that version's object was moved out) marked ``resent``: a
    version of its own, which the run claims and the content check makes a DUPLICATE of the one
    it copies, moved out of the landing prefix. The same object still there (its move did not
    finish) is not a copy: its move is finished below."""
    earlier = {e.version().version_key(bucket): e for e in ledger.with_status(bucket, listed, MOVED_OUT)}
    marked = []
    for version in listed:
        entry = earlier.get(version.version_key(bucket))
        again = entry is not None and entry.landed_at is not None and version.landed_at is not None
        if again and naive_utc(version.landed_at) > entry.landed_at:
            log.info(
                "claim: %s was sent again after ledger id %d was %s (%s); a version of its own",
                version.key,
                entry.id,
                entry.status,
                entry.reason,
            )
            version = dataclasses.replace(version, resent=True)
        marked.append(version)
    return marked


def move_to_error_prefix(settings: Settings, entries: list[LedgerEntry]) -> None:
    """Files already QUARANTINED in the ledger whose move to the error prefix did not happen yet."""
    if not entries:
        return
    from salesflow.operators.quarantine import quarantine_files

    quarantine_files(settings, [(e, e.reason or "") for e in entries], record=False)
