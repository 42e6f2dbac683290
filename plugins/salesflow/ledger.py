"""The file ledger: one MySQL row per file version and what happened to it.

Statuses move forward only::

    CLAIMED -> VALIDATED -> LOADED
    CLAIMED | VALIDATED -> QUARANTINED
    CLAIMED -> DUPLICATE            (same bytes as a live version, under any name)
    CLAIMED | VALIDATED -> FAILED   (retryable: the next run claims the version again)
    LOADED -> SUPERSEDED            (a corrected file under the same key, or the file
                                     reprocessed, replaced its rows)
    FAILED -> GONE                  (its object left the landing prefix before it loaded)

A FAILED version is claimed again by the next run (``attempts`` counts the claims, but for a run
ended by a lost service: ``outage:``); so is a version left in flight by a run that is over (the
claim moves it to FAILED first, saying so). The
download quarantines a version claimed more than ``pipeline.max_attempts`` times, with its last
error: no file stays in flight, and none blocks the runs forever.

Every method is safe to call again with the same arguments (a task retry): a move to the status a
row already has is a no-op, and a move from a status it may not start from is refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from salesflow.config import Tables
from salesflow.isolation import OUTAGE
from salesflow.objects import ObjectVersion
from salesflow.sql import named_lock, render
from salesflow.statuses import FileStatus

log = logging.getLogger(__name__)

# MySQL/MariaDB error number the claim retries on.
ER_LOCK_DEADLOCK = 1213
CLAIM_ATTEMPTS = 5
CLAIM_BATCH = 1000  # rows per INSERT and per UPDATE: no MySQL round trip per file
NAMED_LOCK_TIMEOUT_SECONDS = 300


# The reason of a version the load set aside (spark_jobs/transform.py): it goes to the error prefix.
LOAD_FAILED = "load_failed:"


ALLOWED_FROM: dict[FileStatus, tuple[FileStatus, ...]] = {
    FileStatus.VALIDATED: (FileStatus.CLAIMED, FileStatus.VALIDATED),
    FileStatus.LOADED: (FileStatus.VALIDATED, FileStatus.LOADED),
    FileStatus.QUARANTINED: (FileStatus.CLAIMED, FileStatus.VALIDATED, FileStatus.QUARANTINED),
    FileStatus.DUPLICATE: (FileStatus.CLAIMED, FileStatus.DUPLICATE),
    FileStatus.FAILED: (FileStatus.CLAIMED, FileStatus.VALIDATED, FileStatus.FAILED),
    FileStatus.SUPERSEDED: (FileStatus.LOADED, FileStatus.SUPERSEDED),
    FileStatus.GONE: (FileStatus.FAILED, FileStatus.GONE),
}


# Airflow run states in which a run still holds its files.
ACTIVE_RUN_STATES = frozenset({"queued", "running"})


class LedgerTransitionError(RuntimeError):
    """A status move the ledger refuses (it would move a file backwards)."""


@dataclass(frozen=True)
class StatusMove:
    """One entry's move in ``FileLedger.transition_many``; None keeps the value the entry has."""

    entry_id: int
    reason: str | None = None
    duplicate_of: int | None = None
    rows_read: int | None = None
    rows_loaded: int | None = None
    rows_rejected: int | None = None
    last_error: str | None = None
    max_sales_date: str | None = None  # yyyy-MM-dd

    def values(self) -> tuple[Any, ...]:
        return (
            self.entry_id,
            fit_text(self.reason),
            self.duplicate_of,
            self.rows_read,
            self.rows_loaded,
            self.rows_rejected,
            fit_text(self.last_error),
            self.max_sales_date,
        )


TEXT_LIMIT = 1024  # reason and last_error columns


def fit_text(text: str | None) -> str | None:
    """A reason or error cut to what its column holds (an error message can be long)."""
    return text if text is None or len(text) <= TEXT_LIMIT else text[: TEXT_LIMIT - 3] + "..."


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
    last_error: str | None = None
    claimed_at: datetime | None = None
    # A version that reprocesses another (``salesflow.reprocess``): that entry, and the key its bytes
    # are read from (in the processed or the error prefix; ``object_key`` stays the landing key).
    reprocess_of: int | None = None
    source_key: str | None = None

    @classmethod
    def fetch_all(cls, cursor: Any) -> list[LedgerEntry]:
        """The entries of a ledger SELECT just executed on ``cursor``, its columns read by name."""
        names = [column[0] for column in cursor.description]
        unknown = set(names) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"ledger SELECT returns columns an entry does not have: {sorted(unknown)}")
        entries = []
        for row in cursor.fetchall():
            values = dict(zip(names, row, strict=True))
            entries.append(cls(**{**values, "status": FileStatus(values["status"])}))
        return entries

    def failed_its_load(self) -> bool:
        """Quarantined by the load (``load_failed:``), not by the checks before it."""
        return self.status == FileStatus.QUARANTINED and (self.reason or "").startswith(LOAD_FAILED)

    def version(self) -> ObjectVersion:
        """The S3 object version this entry is about, where its bytes are now read from."""
        return ObjectVersion(self.source_key or self.object_key, self.etag, self.size_bytes)


def naive_utc(moment: datetime | None) -> datetime | None:
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

    def sql(self, name: str, **placeholders: int | tuple[int, int]) -> str:
        """The statement; an int placeholder is an IN list, a (rows, columns) one a row list."""
        lists = {key: n for key, n in placeholders.items() if isinstance(n, int)}
        rows = {key: n for key, n in placeholders.items() if isinstance(n, tuple)}
        return render(f"ledger/{name}.sql", self.tables, value_lists=lists, value_rows=rows)

    def claim(
        self,
        bucket: str,
        run_id: str,
        objects: Iterable[ObjectVersion],
        run_state: Callable[[str], str | None] | None = None,
    ) -> list[LedgerEntry]:
        """Claim every version not seen before (or FAILED earlier) for `run_id`; atomic.

        ``run_state`` tells the state of another run (None when it is unknown): a version another
        run holds in flight while that run is over is moved to FAILED first, so it is claimed
        again here (see ``release_stranded``).

        Returns every entry this run holds, including those claimed by an earlier try of the same
        run, so a retried claim gives the same answer. Two runs claiming at once never share a file:
        the unique version key lets exactly one INSERT win.
        """
        ordered = sorted(set(objects), key=lambda o: (o.key, o.etag, o.size))
        rows = [
            (bucket, o.key, o.etag, o.size, o.version_key(bucket), naive_utc(o.landed_at), run_id)
            for o in ordered
        ]
        version_keys = [row[4] for row in rows]
        # Concurrent INSERT IGNOREs of the same unique keys can deadlock in InnoDB; a named lock
        # makes claims take turns (they are short), the unique key still decides who wins.

        def insert() -> None:
            with self.conn.cursor() as cursor:
                for start in range(0, len(rows), CLAIM_BATCH):
                    cursor.executemany(self.sql("claim_insert"), rows[start : start + CLAIM_BATCH])
                    batch = version_keys[start : start + CLAIM_BATCH]
                    cursor.execute(self.sql("claim_failed", version_keys=len(batch)), (run_id, *batch))
                cursor.execute(self.sql("claim_failed_reprocess"), (run_id, bucket))
            self.conn.commit()

        with named_lock(self.conn, f"salesflow.claim.{bucket}", NAMED_LOCK_TIMEOUT_SECONDS):
            if run_state is not None:
                self.release_stranded(bucket, run_id, run_state)
            self.with_deadlock_retry("claim", insert)
            self.settle_gone(bucket, run_id, ordered)
        return self.entries_for_run(bucket, run_id)

    def settle_gone(self, bucket: str, run_id: str, listed: Sequence[ObjectVersion]) -> list[LedgerEntry]:
        """FAILED versions the listing no longer has, moved to GONE by this run (its report lists
        them): a FAILED version is claimed again only from the landing prefix, so one whose object
        was deleted or replaced there would otherwise stay FAILED for ever. The reason says which,
        naming the version now under the key."""
        with self.conn.cursor() as cursor:
            cursor.execute(self.sql("select_failed"), (bucket,))
            failed = LedgerEntry.fetch_all(cursor)
        self.conn.commit()
        listed_versions = {v.version_key(bucket) for v in listed}
        now_under_key = {v.key: v for v in listed}
        gone = [e for e in failed if e.version().version_key(bucket) not in listed_versions]
        moves = []
        for entry in gone:
            newer = now_under_key.get(entry.object_key)
            reason = (
                f"gone:replaced_before_load:etag {newer.etag}, {newer.size} bytes"
                if newer is not None
                else "gone:deleted_before_load"
            )
            why_failed = entry.reason or entry.last_error or "failed"
            moves.append((run_id, fit_text(f"{reason} ({why_failed})"), entry.id))
            log.warning(
                "claim: %s (ledger id %d) was FAILED and is no longer in the landing prefix: GONE, %s",
                entry.object_key,
                entry.id,
                reason,
            )
        if moves:
            with self.conn.cursor() as cursor:
                cursor.executemany(self.sql("settle_gone"), moves)
            self.conn.commit()
        return gone

    def release_stranded(
        self, bucket: str, run_id: str, run_state: Callable[[str], str | None]
    ) -> list[LedgerEntry]:
        """Move to FAILED the versions other runs hold in flight while those runs are over.

        A run that failed, was marked failed, or died leaves its files CLAIMED or VALIDATED; the
        next claim takes them again (attempts counted), so no file waits in silence. A run that is
        queued or running keeps its files. Returns the entries moved.
        """
        with self.conn.cursor() as cursor:
            cursor.execute(self.sql("in_flight_elsewhere"), (bucket, run_id))
            held = LedgerEntry.fetch_all(cursor)
        self.conn.commit()
        states = {owner: run_state(owner) for owner in sorted({e.run_id for e in held})}
        stranded = [e for e in held if states[e.run_id] not in ACTIVE_RUN_STATES]
        self.transition_many(
            FileStatus.FAILED,
            [
                StatusMove(
                    e.id,
                    # A run ended by a lost service does not count as an attempt at its files.
                    reason=(OUTAGE + " " if OUTAGE in (e.last_error or "") else "")
                    + f"stranded: run {e.run_id} is {states[e.run_id] or 'unknown'} "
                    f"and left the file {e.status}" + (f" ({e.last_error})" if e.last_error else ""),
                )
                for e in stranded
            ],
        )
        for entry in stranded:
            log.warning(
                "claim: %s was left %s by run %s (%s); claimed again (attempt %d)",
                entry.object_key,
                entry.status,
                entry.run_id,
                states[entry.run_id] or "unknown to Airflow",
                entry.attempts + 1,
            )
        return stranded

    def record_error(self, bucket: str, run_id: str, error: str) -> None:
        """Keep what made a task of the run fail on the files the run still holds in flight."""
        with self.conn.cursor() as cursor:
            cursor.execute(self.sql("record_error"), (fit_text(error), run_id, bucket))
        self.conn.commit()

    def entries_for_run(self, bucket: str, run_id: str) -> list[LedgerEntry]:
        with self.conn.cursor() as cursor:
            cursor.execute(self.sql("select_run"), (run_id, bucket))
            entries = LedgerEntry.fetch_all(cursor)
        self.conn.commit()
        return entries

    def with_status(
        self, bucket: str, versions: Sequence[ObjectVersion], statuses: Sequence[FileStatus]
    ) -> list[LedgerEntry]:
        """The entries of these listed versions that have one of `statuses`."""
        return self._select_batched(
            "select_versions_with_status",
            "version_keys",
            [v.version_key(bucket) for v in versions],
            [status.value for status in statuses],
            statuses=len(statuses),
        )

    def superseded_of(self, bucket: str, keys: Sequence[str]) -> list[LedgerEntry]:
        """The SUPERSEDED versions of these keys."""
        return self._select_batched("superseded_of_keys", "object_keys", sorted(set(keys)), [bucket])

    def get(self, ids: Sequence[int]) -> list[LedgerEntry]:
        return self._select_batched("select_ids", "id_list", list(ids), [])

    def latest_of_key(self, bucket: str, key: str) -> LedgerEntry | None:
        """The newest entry of an object key, or None when the ledger never saw the key."""
        with self.conn.cursor() as cursor:
            cursor.execute(self.sql("select_latest_of_key"), (bucket, key))
            found = LedgerEntry.fetch_all(cursor)
        self.conn.commit()
        return found[0] if found else None

    def _select_batched(
        self, name: str, placeholder: str, values: Sequence[Any], leading: Sequence[Any], **lists: int
    ) -> list[LedgerEntry]:
        """The entries a ``SELECT`` finds for ``values`` (its ``IN`` list), CLAIM_BATCH values a
        statement: no round trip per file. ``leading`` are the parameters before that list."""
        found: list[LedgerEntry] = []
        with self.conn.cursor() as cursor:
            for start in range(0, len(values), CLAIM_BATCH):
                batch = values[start : start + CLAIM_BATCH]
                cursor.execute(self.sql(name, **{placeholder: len(batch)}, **lists), (*leading, *batch))
                found += LedgerEntry.fetch_all(cursor)
        self.conn.commit()
        return found

    def with_deadlock_retry(self, what: str, work: Any) -> Any:
        """``work()``, rolled back and run again when InnoDB picks it as a deadlock victim."""
        for attempt in range(1, CLAIM_ATTEMPTS + 1):
            try:
                return work()
            except Exception as error:
                self.conn.rollback()
                if _error_code(error) != ER_LOCK_DEADLOCK or attempt == CLAIM_ATTEMPTS:
                    raise
                log.warning("%s: deadlock with another run, retrying (%d/%d)", what, attempt, CLAIM_ATTEMPTS)
        raise AssertionError("unreachable")

    def transition_many(
        self, status: FileStatus, moves: Iterable[StatusMove], *, commit: bool = True
    ) -> None:
        """Move entries forward to `status`, each with its own values; a batched UPDATE per CLAIM_BATCH.

        A repeat of the same move is a no-op; a backward move (or an unknown entry) raises
        LedgerTransitionError and, with ``commit=True``, none of the moves is kept. ``commit=False``
        leaves the moves in the caller's transaction (the load commits the ledger with the rows it
        loaded, so LOADED never stands for rows that are not all in MySQL).
        """
        moves = list({move.entry_id: move for move in moves}.values())
        allowed = [s.value for s in ALLOWED_FROM[status]]
        try:
            with self.conn.cursor() as cursor:
                for start in range(0, len(moves), CLAIM_BATCH):
                    batch = moves[start : start + CLAIM_BATCH]
                    cursor.execute(
                        self.sql("transition", moves=(len(batch), 8), from_statuses=len(allowed)),
                        [value for move in batch for value in move.values()] + [status.value, *allowed],
                    )
                    if cursor.rowcount < len(batch):  # repeats change nothing; refusals neither
                        self._check_moved(cursor, status, [move.entry_id for move in batch])
        except BaseException:
            if commit:
                self.conn.rollback()
            raise
        if commit:
            self.conn.commit()

    def _check_moved(self, cursor: Any, status: FileStatus, ids: list[int]) -> None:
        cursor.execute(self.sql("select_ids", id_list=len(ids)), ids)
        current = {entry.id: entry for entry in LedgerEntry.fetch_all(cursor)}
        for entry_id in ids:
            entry = current.get(entry_id)
            if entry is None:
                raise LedgerTransitionError(f"ledger entry {entry_id} does not exist")
            if entry.status != status:
                raise LedgerTransitionError(
                    f"ledger entry {entry_id} ({entry.object_key}) is {entry.status}: "
                    f"it cannot move to {status}"
                )
