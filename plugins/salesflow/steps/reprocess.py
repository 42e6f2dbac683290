"""Reprocess on demand: file versions an operator names (ledger ids or object keys) loaded again
from their archived or quarantined bytes, even though their content was seen before.

Each request taken gives the run a new ledger entry for the same key, read from where the earlier
entry's bytes are (the processed prefix for a LOADED one, the error prefix for a QUARANTINED or
DUPLICATE one). From there it is a file of the run like any other: every check again, the row rules
again (so its rejects are recomputed against today's dimensions), and its load replaces the rows
the earlier entry loaded (the same key: ``SUPERSEDED`` with ``reprocessed_as:<id>``), so nothing
is counted twice. A request that cannot be taken is recorded with the reason, and the run report
lists both. The ``<ledger>_reprocess`` table keeps who asked, when, and the earlier outcome.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from salesflow.config import Settings
from salesflow.db import connect
from salesflow.ledger import NAMED_LOCK_TIMEOUT_SECONDS, FileLedger, LedgerEntry
from salesflow.paths import rebase_key
from salesflow.reprocess import ReprocessRequest, record, requests_of_run
from salesflow.sql import named_lock
from salesflow.statuses import FileStatus
from salesflow.storage import find_copy, s3_hook

log = logging.getLogger(__name__)

# Where the bytes of a settled entry are, by its status: the prefix (a ``Prefixes`` attribute).
BYTES_UNDER = {
    FileStatus.LOADED: "processed",
    FileStatus.QUARANTINED: "error",
    FileStatus.DUPLICATE: "error",
}
# Why an entry of another status is not reprocessed.
NOT_REPROCESSED = {
    FileStatus.CLAIMED: "in flight in run {run_id}: it settles there",
    FileStatus.VALIDATED: "in flight in run {run_id}: it settles there",
    FileStatus.FAILED: "FAILED: the next run claims it again by itself",
    FileStatus.SUPERSEDED: "SUPERSEDED ({reason}): reprocess the version that replaced it",
    FileStatus.GONE: "GONE ({reason}): its bytes never reached the processed or the error prefix",
}


def resolve(ledger: FileLedger, bucket: str, requested: str) -> LedgerEntry | str:
    """The entry a request names (a ledger id, or an object key: its newest entry), or why none."""
    if requested.isdigit():
        found = ledger.get([int(requested)])
        if not found or found[0].bucket != bucket:
            return f"no ledger entry {requested} in bucket {bucket}"
        return found[0]
    entry = ledger.latest_of_key(bucket, requested)
    return entry if entry is not None else f"the ledger has no file s3://{bucket}/{requested}"


def judge(settings: Settings, hook: Any, ledger: FileLedger, requested: str) -> ReprocessRequest:
    """Whether a request can be taken, and from which bytes."""
    origin = resolve(ledger, settings.bucket, requested)
    if isinstance(origin, str):
        return ReprocessRequest(requested, refused=origin)
    if origin.status not in BYTES_UNDER:
        why = NOT_REPROCESSED[origin.status].format(run_id=origin.run_id, reason=origin.reason or "")
        return ReprocessRequest(requested, origin, refused=why)
    prefix = getattr(settings.prefixes, BYTES_UNDER[origin.status])
    try:
        key = rebase_key(origin.object_key, settings.prefixes.source, prefix)
    except ValueError:
        return ReprocessRequest(requested, origin, refused="its key is not below the source prefix")
    source = find_copy(hook, settings.bucket, key, origin.version())
    if source is None:
        why = f"its bytes are not at s3://{settings.bucket}/{key} (moved or replaced)"
        return ReprocessRequest(requested, origin, refused=why)
    return ReprocessRequest(requested, origin, source)


def request_reprocess(
    settings: Settings, run_id: str, requested: Sequence[str], requested_by: str
) -> list[dict[str, Any]]:
    """Record this run's reprocess requests and claim a new entry for each one taken; safe to call
    again (a retried claim): a request already recorded for the run is left as it was.

    Returns one line per request: what was asked, the entry it names, the new entry or the refusal.
    """
    if not requested:
        return []
    hook = s3_hook()
    with connect(settings) as conn:
        ledger = FileLedger(conn, settings.tables)
        with named_lock(conn, f"salesflow.claim.{settings.bucket}", NAMED_LOCK_TIMEOUT_SECONDS):
            recorded = {row["requested"] for row in requests_of_run(ledger, run_id)}
            origins: dict[int, str] = {}
            for item in dict.fromkeys(requested):  # each once, in the order asked
                if item in recorded:  # a retried claim: recorded by the earlier try
                    continue
                request = judge(settings, hook, ledger, item)
                if request.origin is not None and request.refused is None:
                    twice = origins.get(request.origin.id)
                    if twice is not None:
                        request = ReprocessRequest(
                            item, request.origin, refused=f"asked twice in this run (as {twice})"
                        )
                    origins[request.origin.id] = item
                record(ledger, settings.bucket, run_id, request, requested_by)
            conn.commit()
            lines = requests_of_run(ledger, run_id)
    for line in lines:
        if line["refused"]:
            log.warning("reprocess %s: not reprocessed: %s", line["requested"], line["refused"])
        else:
            log.info(
                "reprocess %s: ledger id %s (%s) loaded again from s3://%s/%s as ledger id %s, asked by %s",
                line["requested"],
                line["origin_id"],
                line["origin_status"],
                settings.bucket,
                line["source_key"],
                line["ledger_id"],
                line["requested_by"],
            )
    return lines
