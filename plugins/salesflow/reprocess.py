"""The reprocess requests of the ledger (``<ledger>_reprocess``): who asked for which settled file
to load again, when, what the file's outcome was then, and the new entry that reprocesses it or why
none does. ``salesflow.steps.reprocess`` decides; this module records and reads."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from salesflow.ledger import FileLedger, LedgerEntry, fit_text
from salesflow.objects import ObjectVersion


@dataclass(frozen=True)
class ReprocessRequest:
    """One file asked for, as the ledger answers it: taken (``origin`` and ``source``) or refused."""

    requested: str
    origin: LedgerEntry | None = None
    source: ObjectVersion | None = None  # the bytes to read, under their own key and ETag
    refused: str | None = None


def request_key(run_id: str, requested: str) -> str:
    return hashlib.sha256(f"{run_id}\0{requested}".encode()).hexdigest()


def reprocess_version_key(bucket: str, run_id: str, origin: LedgerEntry) -> str:
    """The new entry's identity: one per run and entry reprocessed (a retried claim finds it)."""
    parts = [bucket, origin.object_key, "reprocess", str(origin.id), run_id]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def record(
    ledger: FileLedger, bucket: str, run_id: str, request: ReprocessRequest, requested_by: str
) -> None:
    """The request's row, and for one taken the new entry it claims for the run (not committed)."""
    origin, source, new_id = request.origin, request.source, None
    with ledger.conn.cursor() as cursor:
        if origin is not None and source is not None:
            version_key = reprocess_version_key(bucket, run_id, origin)
            cursor.execute(
                ledger.sql("claim_insert"),
                (bucket, origin.object_key, source.etag, source.size, version_key, origin.landed_at, run_id),
            )
            cursor.execute(ledger.sql("select_version_key"), (version_key,))
            (new_id,) = cursor.fetchone()
        cursor.execute(
            ledger.sql("reprocess_record"),
            (
                request_key(run_id, request.requested),
                run_id,
                fit_text(request.requested),
                requested_by[:255],
                origin.id if origin else None,
                origin.status.value if origin else None,
                fit_text(origin.reason) if origin else None,
                new_id,
                source.key if source else None,
                fit_text(request.refused),
            ),
        )


def requests_of_run(ledger: FileLedger, run_id: str) -> list[dict[str, Any]]:
    """The run's reprocess requests as recorded, in the order asked."""
    with ledger.conn.cursor() as cursor:
        cursor.execute(ledger.sql("reprocess_of_run"), (run_id,))
        names = [column[0] for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
