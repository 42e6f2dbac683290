"""Load: one batch in one MySQL transaction: the facts, summaries, marts and analytics of its months
replaced, its rejects per reason recorded and the ledger moved (LOADED with the counts; an earlier
version SUPERSEDED); readers see all of a batch or none of it. The result is written before the
commit, so a job that dies right after it is retried into publishing the same outputs."""

from __future__ import annotations

import logging
from typing import Any

from salesflow.contracts import RESULT_NAME, FileOutcome, TransformResult, dumps
from salesflow.faults import fault_point
from salesflow.ledger import StatusMove
from salesflow.sql import render
from salesflow.statuses import FileStatus
from spark_jobs import mysql_load, object_store
from spark_jobs.context import JobContext
from spark_jobs.plan import BatchPlan
from spark_jobs.write import LoadParts, batch_folder

log = logging.getLogger("salesflow.transform")

SUMMARIES = ["customer_month_summary", "sales_team_month_summary", "product_month_summary"]


def commit(job: JobContext, plan: BatchPlan, parts: LoadParts, result: TransformResult) -> TransformResult:
    """One transaction: facts, summaries, marts, analytics, rejects and the ledger; then commit."""
    with job.conn.cursor() as cursor:
        loaded = load_facts_and_summaries(job, cursor, plan, parts)
        check_counts(job, plan, loaded)
        fault_point("transform_and_load")
        rows = {"sales": loaded, **load_monthly(job, cursor, plan, parts)}
        outcome = batch_result(job, plan)
        cursor.executemany(
            render("load/record_month_writers.sql", job.tables),
            [
                (dataset, month, job.spec.run_id, batch)
                for dataset, months in sorted(outcome["month_batches"].items())
                for month, batch in sorted(months.items())
            ],
        )
        cursor.executemany(
            render("load/record_rejects.sql", job.tables),
            [
                (f, reason, n)
                for f in plan.file_ids
                for reason, n in sorted(job.stats[f].rejected_by_reason.items())
            ],
        )
    job.ledger.transition_many(FileStatus.LOADED, loaded_moves(job, plan), commit=False)
    job.ledger.transition_many(
        FileStatus.SUPERSEDED,
        [
            StatusMove(old, reason=superseded_reason(job, old, newest_of(job, plan, key)))
            for old, key in plan.superseded.items()
        ],
        commit=False,
    )
    merged = result.merged(TransformResult(run_id=job.spec.run_id, rows_written=rows, **outcome))
    write_result(job, merged)
    job.conn.commit()
    fault_point("transform_and_load.after_commit")
    log_batch(job, plan, rows)
    return merged


def write_result(job: JobContext, result: TransformResult) -> None:
    object_store.write_bytes(f"{job.out}/{RESULT_NAME}", dumps(result))


def load_facts_and_summaries(job: JobContext, cursor: Any, plan: BatchPlan, parts: LoadParts) -> int:
    """The batch's facts and summaries in place of its files' (and the months recomputed)."""
    replaced = plan.replaced
    for attribute in ["sales", *SUMMARIES]:
        if replaced:
            delete(job, cursor, "delete_by_file", attribute, replaced, file_ids=len(replaced))
        if plan.recompute and attribute != "sales":
            delete(job, cursor, "delete_by_month", attribute, plan.recompute, month_column="sales_month")
    loaded = mysql_load.load_csv(cursor, render("load/load_sales.sql", job.tables), parts["sales"])
    for attribute in SUMMARIES:
        mysql_load.load_csv(cursor, render(f"load/load_{attribute}.sql", job.tables), parts[attribute])
    return loaded


def load_monthly(job: JobContext, cursor: Any, plan: BatchPlan, parts: LoadParts) -> dict[str, int]:
    """The marts of the touched months and the analytics of the months they reach, replaced."""
    first_last = (plan.data_months[0], plan.data_months[-1]) if plan.data_months else ("9999-12", "0000-01")
    outputs = [
        ("customers_data_mart", "sales_date_month", plan.touched, False),
        ("sales_team_data_mart", "sales_month", plan.touched, False),
        ("sales_comparison_mart", "month", plan.comparison_cleared, True),
        ("customer_segments", "snapshot_month", plan.snapshot_cleared, True),
    ]
    rows = {}
    for attribute, month_column, cleared, bounded in outputs:
        if cleared:
            delete(job, cursor, "delete_by_month", attribute, cleared, month_column=month_column)
        if bounded:  # no analytics row outside the data's first to last month
            sql = render(
                "load/delete_outside_months.sql",
                job.tables,
                identifiers=identifiers(job, attribute, month_column),
            )
            cursor.execute(sql, first_last)
        rows[getattr(job.tables, attribute)] = mysql_load.load_csv(
            cursor, render(f"load/load_{attribute}.sql", job.tables), parts[attribute]
        )
    return rows


def identifiers(job: JobContext, attribute: str, month_column: str | None = None) -> dict[str, str]:
    return {
        "table": getattr(job.tables, attribute),
        **({"month_column": month_column} if month_column else {}),
    }


def delete(
    job: JobContext, cursor: Any, statement: str, attribute: str, values: list[Any], **names: Any
) -> None:
    month_column = names.pop("month_column", None)
    lists = {"months": len(values)} if month_column else names
    sql = render(
        f"load/{statement}.sql",
        job.tables,
        value_lists=lists,
        identifiers=identifiers(job, attribute, month_column),
    )
    cursor.execute(sql, values)


def check_counts(job: JobContext, plan: BatchPlan, loaded: int) -> None:
    """Rows read = rows loaded + rows rejected, for the batch: anything else rolls back."""
    expected = sum(job.stats[f].rows_valid for f in plan.file_ids)
    if loaded != expected:
        raise RuntimeError(f"loaded {loaded} fact rows, expected {expected}; rolled back")


def loaded_moves(job: JobContext, plan: BatchPlan) -> list[StatusMove]:
    moves = []
    for file_id in plan.file_ids:
        stats = job.stats[file_id]
        moves.append(
            StatusMove(
                file_id,
                rows_read=stats.rows_read,
                rows_loaded=stats.rows_valid,
                rows_rejected=stats.rows_rejected,
                max_sales_date=stats.max_sales_date.isoformat() if stats.max_sales_date else None,
            )
        )
    return moves


def superseded_reason(job: JobContext, old: int, new: int) -> str:
    """Why an earlier version's rows went: a corrected file, or the same file reprocessed."""
    return f"reprocessed_as:{new}" if job.files[new].reprocess_of == old else f"superseded_by:{new}"


def newest_of(job: JobContext, plan: BatchPlan, key: str) -> int:
    return max(f for f in plan.file_ids if job.files[f].object_key == key)


def batch_result(job: JobContext, plan: BatchPlan) -> dict[str, Any]:
    """What the batch did, per file and per output month (``TransformResult`` fields)."""
    batch = batch_folder(plan.file_ids)
    files = {}
    for f in plan.file_ids:
        stats = job.stats[f]
        files[str(f)] = FileOutcome(
            object_key=job.files[f].object_key,
            status=FileStatus.LOADED.value,
            rows_read=stats.rows_read,
            rows_loaded=stats.rows_valid,
            rows_rejected=stats.rows_rejected,
            rejected_by_reason=dict(sorted(stats.rejected_by_reason.items())),
            max_sales_date=stats.max_sales_date.isoformat() if stats.max_sales_date else None,
            facts_folder=batch,
        )
    months = {
        "customers_data_mart": plan.touched,
        "sales_team_data_mart": plan.touched,
        "sales_comparison": plan.comparison_cleared,
        "customer_segments": plan.snapshot_cleared,
    }
    return {
        "files": files,
        "months_written": months,
        "superseded": {str(k): v for k, v in plan.superseded_months.items()},
        "month_batches": {name: dict.fromkeys(cleared, batch) for name, cleared in months.items()},
    }


def log_batch(job: JobContext, plan: BatchPlan, rows: dict[str, int]) -> None:
    for file_id in plan.file_ids:
        stats = job.stats[file_id]
        log.info(
            "file %s (ledger id %d): LOADED, %d rows read, %d loaded, %d rejected %s",
            job.files[file_id].object_key,
            file_id,
            stats.rows_read,
            stats.rows_valid,
            stats.rows_rejected,
            stats.rejected_by_reason or "",
        )
    for old, key in plan.superseded.items():
        log.info(
            "file %s (ledger id %d): SUPERSEDED by ledger id %d, its rows replaced",
            key,
            old,
            newest_of(job, plan, key),
        )
    log.info(
        "transform: batch of %d files loaded; months rewritten %s; rows %s",
        len(plan.file_ids),
        plan.touched,
        rows,
    )
