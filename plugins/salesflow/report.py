"""The run report: per file its outcome and row counts, the months and rows each output got."""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from salesflow.config import Settings
from salesflow.contracts import TransformResult
from salesflow.db import connect
from salesflow.faults import fault_point
from salesflow.ledger import FileLedger, LedgerEntry
from salesflow.paths import sanitize_name
from salesflow.reprocess import requests_of_run
from salesflow.run_files import read_spec, read_transform_result
from salesflow.statuses import IN_FLIGHT, FileStatus
from salesflow.storage import s3_hook

log = logging.getLogger(__name__)


UNSETTLED = (*IN_FLIGHT, FileStatus.FAILED)


class FilesNotSettledError(RuntimeError):
    """Files of the run are still in flight or failed: the run must not end green."""


def build_report(settings: Settings, run_id: str, hook: Any = None) -> dict[str, Any]:
    """The report of one run, from the ledger (the truth) and the Spark job's result (the details)."""
    with connect(settings) as conn:
        ledger = FileLedger(conn, settings.tables)
        entries = ledger.entries_for_run(settings.bucket, run_id)
        requests = requests_of_run(ledger, run_id)
    result = read_transform_result(settings, run_id, hook) or TransformResult(run_id=run_id)
    files = [_file_line(entry, result) for entry in entries]
    outcomes = Counter(f["outcome"] for f in files)
    return {
        "run_id": run_id,
        "environment": settings.environment,
        "bucket": settings.bucket,
        "totals": {
            "files": len(files),
            **{status.value.lower(): outcomes.get(status.value, 0) for status in FileStatus},
            "rows_read": sum(f["rows_read"] for f in files),
            "rows_loaded": sum(f["rows_loaded"] for f in files),
            "rows_rejected": sum(f["rows_rejected"] for f in files),
        },
        "duplicates_skipped": outcomes.get(FileStatus.DUPLICATE.value, 0),
        "months_rewritten": result.months_written,
        "rows_written": result.rows_written,
        "unsettled": [f for f in files if f["outcome"] in UNSETTLED],
        "files": files,
        "reprocess": [_reprocess_line(request, {e.id: e for e in entries}) for request in requests],
    }


def _file_line(entry: LedgerEntry, result: TransformResult) -> dict[str, Any]:
    outcome = result.files.get(str(entry.id))
    line = {
        "object_key": entry.object_key,
        "ledger_id": entry.id,
        "outcome": entry.status.value,
        "reason": entry.reason,
        "rows_read": entry.rows_read or 0,
        "rows_loaded": entry.rows_loaded or 0,
        "rows_rejected": entry.rows_rejected or 0,
        "rejected_by_reason": dict(sorted(outcome.rejected_by_reason.items())) if outcome else {},
        "duplicate_of": entry.duplicate_of,
        "attempts": entry.attempts,
        "reprocess_of": entry.reprocess_of,
    }
    if entry.status in UNSETTLED:
        line["last_error"] = entry.last_error
        line["claimed_at"] = entry.claimed_at.isoformat() if entry.claimed_at else None
    return line


def _reprocess_line(request: dict[str, Any], entries: dict[int, LedgerEntry]) -> dict[str, Any]:
    """A reprocess request of the run: what was asked, the earlier outcome, and what became of it."""
    new = entries.get(request["ledger_id"]) if request["ledger_id"] is not None else None
    if new is None:
        outcome = f"not reprocessed: {request['refused']}"
    elif new.status == FileStatus.LOADED:
        outcome = (
            f"LOADED as ledger id {new.id}: {new.rows_loaded} rows loaded, {new.rows_rejected} rejected"
            + (" (the rows it loaded before are replaced)" if request["origin_status"] == "LOADED" else "")
        )
    elif new.status == FileStatus.QUARANTINED:
        outcome = f"QUARANTINED again as ledger id {new.id} ({new.reason}): nothing changed"
    else:
        outcome = f"{new.status} as ledger id {new.id}"
    return {
        "requested": request["requested"],
        "requested_by": request["requested_by"],
        "requested_at": request["requested_at"].isoformat() if request["requested_at"] else None,
        "ledger_id": request["origin_id"],
        "earlier_outcome": request["origin_status"],
        "earlier_reason": request["origin_reason"],
        "reprocessed_as": request["ledger_id"],
        "outcome": outcome,
    }


def render_markdown(report: dict[str, Any]) -> str:
    totals = report["totals"]
    lines = [
        f"# salesflow run `{report['run_id']}`",
        "",
        f"Environment `{report['environment']}`, bucket `{report['bucket']}`: {totals['files']} files, "
        f"{totals['loaded']} loaded, {totals['quarantined']} quarantined, {totals['duplicate']} duplicates "
        f"skipped, {totals['failed']} failed.",
        f"Rows: {totals['rows_read']} read, {totals['rows_loaded']} loaded, "
        f"{totals['rows_rejected']} rejected.",
        "Months rewritten: "
        + ("; ".join(f"{k} {', '.join(v)}" for k, v in report["months_rewritten"].items() if v) or "none")
        + ". Rows written: "
        + (", ".join(f"{k} {v}" for k, v in report["rows_written"].items()) or "none")
        + ".",
        "",
        "| file | outcome | read | loaded | rejected | reasons |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    for f in report["files"]:
        reasons = ", ".join(f"{k}: {v}" for k, v in f["rejected_by_reason"].items())
        if f["reason"]:
            reasons = f["reason"] + (f"; {reasons}" if reasons else "")
        key = f["object_key"].replace("|", "\\|")
        counts = f"{f['rows_read']} | {f['rows_loaded']} | {f['rows_rejected']}"
        lines.append(f"| `{key}` | {f['outcome']} | {counts} | {reasons} |")
    if report["reprocess"]:
        lines += ["", "**Reprocess requests**:", ""]
        for r in report["reprocess"]:
            earlier = (
                f"ledger id {r['ledger_id']}, {r['earlier_outcome']}"
                + (f" ({r['earlier_reason']})" if r["earlier_reason"] else "")
                if r["ledger_id"] is not None
                else "no entry"
            )
            lines.append(f"- `{r['requested']}` ({earlier}), asked by {r['requested_by']}: {r['outcome']}")
    if report["unsettled"]:
        lines += ["", "**Not settled** (the run fails; the next run claims these again):", ""]
        lines += [
            f"- `{f['object_key']}`: {f['outcome']} since {f.get('claimed_at')}, attempt {f['attempts']}"
            + (f", last error: {f['last_error']}" if f.get("last_error") else "")
            for f in report["unsettled"]
        ]
    return "\n".join(lines) + "\n"


def publish_report(settings: Settings, run_id: str) -> dict[str, Any]:
    """Write the report as JSON and Markdown under the reports prefix, and log it.

    Run again after the run's files are gone (the run ended well), the report published then
    stands: the job outputs it was built from are gone with them.
    """
    prefix = f"{settings.prefixes.reports}{sanitize_name(run_id)}/"
    hook = s3_hook()
    if read_spec(settings, run_id, hook) is None:
        published = hook.read_key(prefix + "report.json", settings.bucket)
        log.info(
            "the report published when the run ended stands: s3://%s/%sreport.json", settings.bucket, prefix
        )
        return json.loads(published)
    report = build_report(settings, run_id, hook)
    markdown = render_markdown(report)
    hook.load_string(
        json.dumps(report, indent=2), key=prefix + "report.json", bucket_name=settings.bucket, replace=True
    )
    fault_point("run_report")
    hook.load_string(markdown, key=prefix + "report.md", bucket_name=settings.bucket, replace=True)
    log.info("run report (s3://%s/%sreport.json, report.md):\n%s", settings.bucket, prefix, markdown)
    if report["unsettled"]:
        names = ", ".join(f"{f['object_key']} ({f['outcome']})" for f in report["unsettled"][:10])
        raise FilesNotSettledError(
            f"{len(report['unsettled'])} files of run {run_id} are not settled: {names}; "
            "the next run claims them again"
        )
    return report
