"""The ``archive_files`` step: the exact versions the run loaded moved to the processed prefix."""

from __future__ import annotations

import logging
from typing import Any

from salesflow.config import Settings
from salesflow.db import connect
from salesflow.ledger import FileLedger, LedgerEntry
from salesflow.objects import ObjectVersion
from salesflow.paths import rebase_key
from salesflow.statuses import FileStatus
from salesflow.storage import copy_version, first_alone_then_pooled, move_version, s3_hook

log = logging.getLogger(__name__)


def archive_loaded_files(settings: Settings, run_id: str) -> dict[str, str]:
    """Move this run's LOADED files from the source prefix to the processed prefix (key kept below it).

    Only the exact versions this run claimed move: a file that arrived during the run, or a new
    version uploaded under the same key, stays for the next run.
    """
    with connect(settings) as conn:
        entries = FileLedger(conn, settings.tables).entries_for_run(settings.bucket, run_id)
    return archive(settings, [e for e in entries if e.status == FileStatus.LOADED])


def archive(settings: Settings, entries: list[LedgerEntry]) -> dict[str, str]:
    """Move the entries' versions to the processed prefix: the first alone, then from a thread pool.

    A corrected file (same key, new bytes) would replace its earlier version's copy there: that
    copy is kept first, beside it, under ``<key>.superseded-<ledger id>`` (no source file is lost
    without bucket versioning).
    """
    hook = s3_hook()
    hook.get_conn()  # one S3 client, shared by the threads
    keep_superseded_copies(settings, hook, entries)

    def move(entry: LedgerEntry) -> str:
        destination = rebase_key(entry.object_key, settings.prefixes.source, settings.prefixes.processed)
        moved = move_version(hook, settings.bucket, entry.version(), destination)
        log.info("archive: %s -> s3://%s/%s (%s)", entry.object_key, settings.bucket, destination, moved)
        return moved

    outcomes = first_alone_then_pooled(move, entries, "archive_files")
    return {entry.object_key: moved for entry, moved in zip(entries, outcomes, strict=True)}


def keep_superseded_copies(settings: Settings, hook: Any, entries: list[LedgerEntry]) -> None:
    """Copy each earlier version's archived file aside before the new version takes its key."""
    if not entries:
        return
    with connect(settings) as conn:
        superseded = FileLedger(conn, settings.tables).superseded_of(
            settings.bucket, [e.object_key for e in entries]
        )
    for old in superseded:
        archived = rebase_key(old.object_key, settings.prefixes.source, settings.prefixes.processed)
        kept = copy_version(
            hook,
            settings.bucket,
            ObjectVersion(archived, old.etag, old.size_bytes),
            f"{archived}.superseded-{old.id}",
        )
        log.info("archive: the earlier version %d of %s: %s", old.id, old.object_key, kept)
