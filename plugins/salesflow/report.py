"""The run report: per file its outcome and row counts, the months and mart rows recomputed."""

from __future__ import annotations

import json
import logging
from collections import Counter
from typing import Any

from salesflow.config import Settings
from salesflow.db import connect
from salesflow.faults import fault_point
from salesflow.ledger import FileLedger, FileStatus
from salesflow.paths import sanitize_name
from salesflow.pipeline import read_transform_result, run_input, validation_dir
from salesflow.storage import s3_hook

log = logging.getLogger(__name__)


def build_report(settings: Settings, run_id: str) -> dict[str, Any]:
    """The report of one run, from the ledger (the truth) and the run's job outputs (the details)."""
    with connect(settings) as conn:
        entries = FileLedger(conn, settings.tables).entries_for_run(settings.bucket, run_id)
    manifest = json.loads((validation_dir(settings, run_id) / "manifest.json").read_text())
    validated = {f["file_id"]: f for f in manifest["files"]}
    transformed = read_transform_result(settings, run_id) or {"files": {}, "months": [], "mart_rows": {}}

    files = []
    for entry in entries:
        reasons = Counter(validated.get(entry.id, {}).get("rejected_by_reason", {}))
        reasons.update(transformed["files"].get(str(entry.id), {}).get("rows_rejected_at_load", {}))
        files.append(
            {
                "object_key": entry.object_key,
                "ledger_id": entry.id,
                "outcome": entry.status.value,
                "reason": entry.reason,
                "rows_read": entry.rows_read or 0,
                "rows_loaded": entry.rows_loaded or 0,
                "rows_rejected": entry.rows_rejected or 0,
                "rejected_by_reason": dict(sorted(reasons.items())),
                "duplicate_of": entry.duplicate_of,
            }
        )
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
        "months_recomputed": transformed["months"],
        "mart_rows_written": transformed["mart_rows"],
        "files": files,
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
        f"Months recomputed: {', '.join(report['months_recomputed']) or 'none'}; mart rows written: "
        + (", ".join(f"{k} {v}" for k, v in report["mart_rows_written"].items()) or "none")
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
    return "\n".join(lines) + "\n"


def publish_report(settings: Settings, run_id: str) -> dict[str, Any]:
    """Write the report as JSON and Markdown under the reports prefix, and log it.

    Run again after the run folder is gone (the run ended well), the report published then stands:
    the job outputs it was built from are gone with the folder.
    """
    prefix = f"{settings.prefixes.reports}{sanitize_name(run_id)}/"
    hook = s3_hook()
    if run_input(settings, run_id, validation_dir(settings, run_id) / "manifest.json") is None:
        published = hook.read_key(prefix + "report.json", settings.bucket)
        log.info(
            "the report published when the run ended stands: s3://%s/%sreport.json", settings.bucket, prefix
        )
        return json.loads(published)
    report = build_report(settings, run_id)
    markdown = render_markdown(report)
    hook.load_string(
        json.dumps(report, indent=2), key=prefix + "report.json", bucket_name=settings.bucket, replace=True
    )
    fault_point("run_report")
    hook.load_string(markdown, key=prefix + "report.md", bucket_name=settings.bucket, replace=True)
    log.info("run report (s3://%s/%sreport.json, report.md):\n%s", settings.bucket, prefix, markdown)
    return report
