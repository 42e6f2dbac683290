"""Extract: the run's staged files read once (one read per format and header) and every row typed,
enriched and judged by the row rules (``rules``: where a reject is decided), kept on the
executors; per file its counts, months and latest sales date (``JobContext.stats``)."""

from __future__ import annotations

import logging
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_jobs import marts
from spark_jobs.context import FileStats, JobContext
from spark_jobs.readers import READERS, ROW_ID, line_starts, number_lines, read_group
from spark_jobs.rules import Dimensions, apply_row_rules

log = logging.getLogger("salesflow.transform")


def dimensions(job: JobContext) -> Dimensions:
    """The dimension columns the row rules check against and the enrichment joins."""
    customers, sales_team = job.table("customer"), job.table("sales_team")
    return Dimensions(
        customers=customers.select(
            "customer_id", marts.full_name("first_name", "last_name").alias("customer_full_name")
        ),
        stores=job.table("store").select(F.col("id").alias("store_id")),
        products=job.table("product").select(
            F.col("name").alias("product_name"), F.col("id").alias("product_id")
        ),
        sales_people=sales_team.select(
            F.col("id").alias("sales_person_id"),
            marts.full_name("first_name", "last_name").alias("sales_person_full_name"),
        ),
    )


def check_rows(job: JobContext, file_ids: list[int]) -> DataFrame:
    """Read the files once, judge every row, keep the result on the executors; count per file.

    One read per format and header (Parquet: and column types; JSON Lines: all in one).
    """
    groups: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for file_id in file_ids:
        intake = job.files[file_id]
        group = (READERS[intake.file_format], tuple(intake.columns), tuple(intake.column_types))
        groups.setdefault(group, []).append(intake.staged_uri)
    mandatory = list(job.spec.mandatory_columns)
    frames = [
        read_group(job.spark, reader, paths, list(columns), mandatory, job.spec.max_cell_chars)
        for (reader, columns, _types), paths in groups.items()
    ]
    rows = frames[0]
    for frame in frames[1:]:
        rows = rows.unionByName(frame)
    checked = apply_row_rules(
        rows,
        mandatory,
        date.fromisoformat(job.spec.as_of_date),
        dimensions(job),
        as_of_by_file={f: date.fromisoformat(job.files[f].as_of_date) for f in file_ids},
    )
    # Judged once and kept on the executors' own disks (Spark's local storage, not a shared one):
    # every batch, the counts and a retry within the job read these rows, with the same row ids.
    # Lost with an executor, they fail the job, and the task's retry judges them again.
    stored = checked.localCheckpoint(eager=True, storageLevel=StorageLevel.DISK_ONLY)
    job.stats = {file_id: FileStats() for file_id in file_ids}  # a file of a header alone has no row
    first_rows = count_rows(job, stored)
    log.info("transform: %d files read in %d format and header groups", len(file_ids), len(groups))
    return number_lines(stored, first_rows)


def count_rows(job: JobContext, checked: DataFrame) -> DataFrame:
    """Per file its counts, months and latest date (into ``job.stats``); where its lines start."""
    valid_date = F.when(F.col("reject_reason").isNull(), F.col("sales_date"))
    counts = checked.groupBy("file_id", "reject_reason", "sales_month").agg(
        F.count(F.lit(1)).alias("rows"), F.max(valid_date).alias("latest"), F.min(ROW_ID).alias("first")
    )
    first: dict[int, int] = {}
    for row in counts.collect():
        stats = job.stats.setdefault(row["file_id"], FileStats())
        stats.rows_read += row["rows"]
        first[row["file_id"]] = min(row["first"], first.get(row["file_id"], row["first"]))
        if row["reject_reason"] is not None:
            reasons = stats.rejected_by_reason
            reasons[row["reject_reason"]] = reasons.get(row["reject_reason"], 0) + row["rows"]
            continue
        stats.rows_valid += row["rows"]
        stats.months.add(row["sales_month"])
        stats.max_sales_date = max(filter(None, [stats.max_sales_date, row["latest"]]))
    return line_starts(job.spark, first, {f: job.files[f].file_format for f in first})
