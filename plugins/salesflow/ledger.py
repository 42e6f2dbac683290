"""The file ledger: one MySQL row per file version and what happened to it.

Statuses move forward only::

    CLAIMED -> VALIDATED -> LOADED
    CLAIMED | VALIDATED -> QUARANTINED
    CLAIMED -> DUPLICATE            (same bytes as a live version, under any name)
    CLAIMED | VALIDATED -> FAILED   (retryable: the next run claims the version again)
    LOADED -> SUPERSEDED            (a corrected file under the same key replaced its rows)

Every method is safe to call again with the same arguments (a task retry): a move to the status a
row already has is a no-op, and a move from a status it may not start from is refused.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from salesflow.config import Tables
from salesflow.sql import named_lock, render

log = logging.getLogger(__name__)

# MySQL/MariaDB error number the claim retries on.
ER_LOCK_DEADLOCK = 1213
CLAIM_ATTEMPTS = 5
CLAIM_BATCH = 1000  # rows per INSERT and per UPDATE: no MySQL round trip per file
NAMED_LOCK_TIMEOUT_SECONDS = 300


class FileStatus(StrEnum):
    CLAIMED = "CLAIMED"
    VALIDATED = "VALIDATED"
    LOADED = "LOADED"
    QUARANTINED = "QUARANTINED"
    DUPLICATE = "DUPLICATE"
    FAILED = "FAILED"
    SUPERSEDED = "SUPERSEDED"


ALLOWED_FROM: dict[FileStatus, tuple[FileStatus, ...]] = {
    FileStatus.VALIDATED: (FileStatus.CLAIMED, FileStatus.VALIDATED),
    FileStatus.LOADED: (FileStatus.VALIDATED, FileStatus.LOADED),
    FileStatus.QUARANTINED: (FileStatus.CLAIMED, FileStatus.VALIDATED, FileStatus.QUARANTINED),
    FileStatus.DUPLICATE: (FileStatus.CLAIMED, FileStatus.DUPLICATE),
    FileStatus.FAILED: (FileStatus.CLAIMED, FileStatus.VALIDATED, FileStatus.FAILED),
    FileStatus.SUPERSEDED: (FileStatus.LOADED, FileStatus.SUPERSEDED),
}


class LedgerTransitionError(RuntimeError):
    """A status move the ledger refuses (it would move a file backwards)."""


@dataclass(frozen=True)
class ObjectVersion:
    """One object as listed in S3 (key, ETag and size identify it; landed_at is its LastModified)."""

    key: str
    etag: str
    size: int
    landed_at: datetime | None = field(default=None, compare=False)

    def version_key(self, bucket: str) -> str:
        """The ledger's identity of this version: SHA-256 of bucket, key, ETag and size."""
        return hashlib.sha256("\0".join((bucket, self.key, self.etag, str(self.size))).encode()).hexdigest()


@dataclass(frozen=True)
class LedgerEntry:
    id: int
    bucket: str
    object_key: str
    etag: str
    size_bytes: int
    sha256: str | None
    status: FileStatus
    run_id: str
    attempts: int
    rows_read: int | None
    rows_loaded: int | None
    rows_rejected: int | None
    reason: str | None
    duplicate_of: int | None
    landed_at: datetime | None

    @classmethod
    def from_row(cls, row: Sequence[Any]) -> LedgerEntry:
        values = list(row)
        values[6] = FileStatus(values[6])
        return cls(*values)


def _naive_utc(moment: datetime | None) -> datetime | None:
    """MySQL DATETIME holds no zone: the ledger keeps UTC."""
    if moment is None or moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)


def _error_code(error: Exception) -> int | None:
    code = error.args[0] if error.args else None
    return code if isinstance(code, int) else None


class FileLedger:
    """The ledger table, used through one DB-API connection (MySQLdb or PyMySQL)."""

    def __init__(self, conn: Any, tables: Tables) -> None:
        self.conn = conn
        self.tables = tables

    def _sql(self, name: str, **value_lists: int) -> str:
        return render(f"ledger/{name}.sql", self.tables, value_lists=value_lists)

    def claim(self, bucket: str, run_id: str, objects: Iterable[ObjectVersion]) -> list[LedgerEntry]:
        """Claim every version not seen before (or FAILED earlier) for `run_id`; atomic.

        Returns every entry this run holds, including those claimed by an earlier try of the same
        run, so a retried claim gives the same answer. Two runs claiming at once never share a file:
        the unique version key lets exactly one INSERT win.
        """
        ordered = sorted(set(objects), key=lambda o: (o.key, o.etag, o.size))
        rows = [
            (bucket, o.key, o.etag, o.size, o.version_key(bucket), _naive_utc(o.landed_at), run_id)
            for o in ordered
        ]
        version_keys = [row[4] for row in rows]
        # Concurrent INSERT IGNOREs of the same unique keys can deadlock in InnoDB; a named lock
        # makes claims take turns (they are short), the unique key still decides who wins.
        with named_lock(self.conn, f"salesflow.claim.{bucket}", NAMED_LOCK_TIMEOUT_SECONDS):
            for attempt in range(1, CLAIM_ATTEMPTS + 1):
                try:
                    with self.conn.cursor() as cursor:
                        for start in range(0, len(rows), CLAIM_BATCH):
                            cursor.executemany(self._sql("claim_insert"), rows[start : start + CLAIM_BATCH])
                            batch = version_keys[start : start + CLAIM_BATCH]
                            cursor.execute(
                                self._sql("claim_failed", version_keys=len(batch)), (run_id, *batch)
                            )
                    self.conn.commit()
                    break
                except Exception as error:
                    self.conn.rollback()
                    if _error_code(error) != ER_LOCK_DEADLOCK or attempt == CLAIM_ATTEMPTS:
                        raise
                    log.warning("claim: deadlock with another run, retrying (%d/%d)", attempt, CLAIM_ATTEMPTS)
        return self.entries_for_run(bucket, run_id)

    def entries_for_run(self, bucket: str, run_id: str) -> list[LedgerEntry]:
        with self.conn.cursor() as cursor:
            cursor.execute(self._sql("select_run"), (run_id, bucket))
            rows = cursor.fetchall()
        self.conn.commit()
        return [LedgerEntry.from_row(row) for row in rows]

    def with_status(
        self, bucket: str, versions: Sequence[ObjectVersion], status: FileStatus
    ) -> list[LedgerEntry]:
        """The entries of these listed versions that have `status` (batched: no round trip per file)."""
        keys = [v.version_key(bucket) for v in versions]
        found: list[LedgerEntry] = []
        with self.conn.cursor() as cursor:
            for start in range(0, len(keys), CLAIM_BATCH):
                batch = keys[start : start + CLAIM_BATCH]
                cursor.execute(
                    self._sql("select_versions_with_status", version_keys=len(batch)), (status.value, *batch)
                )
                found += [LedgerEntry.from_row(row) for row in cursor.fetchall()]
        self.conn.commit()
        return found

    def get(self, ids: Sequence[int]) -> list[LedgerEntry]:
        if not ids:
            return []
        with self.conn.cursor() as cursor:
            cursor.execute(self._sql("select_ids", id_list=len(ids)), tuple(ids))
            rows = cursor.fetchall()
        self.conn.commit()
        return [LedgerEntry.from_row(row) for row in rows]

    def record_content(self, entry_id: int, sha256: str) -> LedgerEntry | None:
        """Store the content hash of a claimed file and decide whether its bytes are new.

        Returns None when they are (this entry now owns them), or the entry that already owns the
        same bytes; this entry is then moved to DUPLICATE, pointing at it. Bytes owned by a FAILED
        entry pass to the new one. One transaction, so two runs can't both own the same bytes.
        """
        with self.conn.cursor() as cursor:
            cursor.execute(self._sql("set_sha256"), (sha256, entry_id))
            cursor.execute(self._sql("content_register"), (sha256, entry_id))
            cursor.execute(self._sql("content_owner"), (sha256,))
            owner_id, owner_key, owner_status = cursor.fetchone()
            if owner_id != entry_id and owner_status == FileStatus.FAILED:
                cursor.execute(self._sql("content_take_over"), (entry_id, sha256, owner_id))
                owner_id = entry_id
        self.conn.commit()
        if owner_id == entry_id:
            return None
        self.transition(
            entry_id,
            FileStatus.DUPLICATE,
            reason=f"duplicate_of:{owner_key} ({owner_status})",
            duplicate_of=owner_id,
        )
        (owner,) = self.get([owner_id])
        return owner

    def transition(
        self,
        entry_id: int,
        status: FileStatus,
        *,
        reason: str | None = None,
        duplicate_of: int | None = None,
        rows_read: int | None = None,
        rows_loaded: int | None = None,
        rows_rejected: int | None = None,
        commit: bool = True,
    ) -> None:
        """Move one entry forward; a repeat of the same move is a no-op, a backward move an error.

        ``commit=False`` leaves the move in the caller's transaction (the load commits the ledger
        with the rows it loaded, so LOADED never stands for rows that are not all in MySQL).
        """
        allowed = ALLOWED_FROM[status]
        with self.conn.cursor() as cursor:
            cursor.execute(
                self._sql("transition", from_statuses=len(allowed)),
                (
                    status.value,
                    reason,
                    duplicate_of,
                    rows_read,
                    rows_loaded,
                    rows_rejected,
                    entry_id,
                    *allowed,
                ),
            )
            changed = cursor.rowcount
            if changed == 0:
                cursor.execute(self._sql("select_ids", id_list=1), (entry_id,))
                row = cursor.fetchone()
        if commit:
            self.conn.commit()
        if changed == 0:
            current = LedgerEntry.from_row(row) if row else None
            if current is None:
                raise LedgerTransitionError(f"ledger entry {entry_id} does not exist")
            if current.status != status:
                raise LedgerTransitionError(
                    f"ledger entry {entry_id} ({current.object_key}) is {current.status}: "
                    f"it cannot move to {status}"
                )
