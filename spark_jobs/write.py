"""Write: a batch's outputs under the run's S3 prefix, each batch in folders of its own
(``batch-<first id>-<files>``), written by Spark through S3A and committed by the magic committer:
the load CSVs (streamed into MySQL by ``load``), Parquet of the batch's facts and of the months
rewritten, and the rejected rows (CSV per file)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from salesflow.contracts import MONTHLY_DATASETS
from spark_jobs import object_store
from spark_jobs.compute import BatchOutputs
from spark_jobs.context import JobContext, timed
from spark_jobs.marts import SUMMARY_KEYS
from spark_jobs.plan import BatchPlan
from spark_jobs.rules import RAW_RECORD, TEXT_SUFFIX

FACT_KEY = ["file_id", "line_number"]
FACT_PARTITIONS = ["sales_month", "store_id"]
WRITE_THREADS = 4
# The primary key of each monthly dataset's table, and the row order within a month of its Parquet.
MONTHLY_KEYS = {
    "customers_data_mart": ["customer_id", "sales_date_month"],
    "sales_team_data_mart": ["store_id", "sales_person_id", "sales_month"],
    "sales_comparison": ["level", "entity_id", "month"],
    "customer_segments": ["customer_id", "snapshot_month"],
}

# Each table's load CSV parts (S3 URIs), by table attribute: what ``load`` streams into MySQL.
LoadParts = dict[str, list[str]]


def batch_folder(file_ids: list[int]) -> str:
    """The name of a batch's output folders: its first file and its size (unique within a run; a
    batch of months to recompute alone is ``batch-recompute``)."""
    return f"batch-{min(file_ids):010d}-{len(file_ids)}" if file_ids else "batch-recompute"


def write_outputs(
    job: JobContext, plan: BatchPlan, outputs: BatchOutputs, checked: DataFrame | None
) -> LoadParts:
    """The load CSVs (each in its table's key order), the Parquet and the reject files, in the
    batch's own folders under the run's prefix (a batch that fails never mixes into another's).

    The writes are independent Spark jobs, most of them small: they run from a few threads at once,
    so one job's scheduling and code generation overlap another's work.
    """
    batch = batch_folder(plan.file_ids)
    load, parquet = f"{job.out}/load/{batch}", f"{job.out}/parquet"
    monthly = {
        "customers_data_mart": (outputs.customers_data_mart, "customers_data_mart"),
        "sales_team_data_mart": (outputs.sales_team_data_mart, "sales_team_data_mart"),
        "sales_comparison": (outputs.sales_comparison, "sales_comparison_mart"),
        "customer_segments": (outputs.customer_segments, "customer_segments"),
    }
    writes: dict[str, Callable[[], list[str]]] = {
        "sales": lambda: write_facts(plan, outputs.facts, load, parquet),
        **{
            table: (
                lambda frame=frame, table=table: write_load_csv(frame, f"{load}/{table}", SUMMARY_KEYS[table])
            )
            for table, frame in outputs.summaries.items()
        },
        **{
            table: (
                lambda name=name, frame=frame, table=table: write_monthly(
                    name, frame, f"{load}/{table}", f"{parquet}/{name}/{batch}"
                )
            )
            for name, (frame, table) in monthly.items()
        },
    }
    if checked is not None and plan.file_ids:
        rejected = checked.where(job.of_batch(plan.file_ids))
        writes["rejects"] = lambda: write_rejects(
            rejected, list(job.spec.mandatory_columns), f"{job.out}/rejected/{batch}"
        )

    def timed_write(name: str) -> list[str]:
        with timed(f"write {name}"):  # each output's share of the step, in the task log
            return writes[name]()

    with ThreadPoolExecutor(max_workers=WRITE_THREADS, thread_name_prefix="salesflow-write") as pool:
        futures = {name: pool.submit(timed_write, name) for name in writes}
        return {name: future.result() for name, future in futures.items() if name != "rejects"}


def write_facts(plan: BatchPlan, facts: DataFrame, load: str, parquet: str) -> list[str]:
    """The facts' load CSV, and their Parquet in the batch's own folder (by month and store).

    ``publish_outputs`` splits the Parquet per file version: Spark writing one partition per file
    version would cost seconds per thousand files. The folder is the batch's alone, so a batch that
    failed never leaves rows in another's (and the result names it per file).
    """
    parts = write_load_csv(facts, f"{load}/sales", FACT_KEY, whole_files=True)
    if plan.file_ids:
        folder = f"{parquet}/sales/{batch_folder(plan.file_ids)}"
        write_parquet(facts, folder, FACT_PARTITIONS, FACT_KEY, shuffle=False)
    return parts


def write_monthly(name: str, frame: DataFrame, load: str, folder: str) -> list[str]:
    """One mart or analytics output: its load CSV, and its months' Parquet in the batch's folder
    (a month cleared with no rows has no folder there: ``publish_outputs`` empties it)."""
    month_column = MONTHLY_DATASETS[name].month_column
    parts = write_load_csv(frame, load, MONTHLY_KEYS[name])
    order = [c for c in MONTHLY_KEYS[name] if c != month_column]
    write_parquet(frame, folder, [month_column], order)
    return parts


def write_load_csv(df: DataFrame, path: str, key: list[str], *, whole_files: bool = False) -> list[str]:
    """CSV for LOAD DATA: RFC 4180 quoting with doubled quotes, NULL as an empty field.

    The rows are sorted by ``key`` (the table's primary key), so a load inserts them in key order:
    in random order the inserts land at random pages, and once the indexes outgrow the buffer pool
    each row costs a page read (5M facts: more than 7 minutes against about 28 s sorted;
    docs/performance.md). A small output is one part, sorted. The facts (``whole_files``) keep the
    partitioning they were read with, each file's rows together, and are sorted within it: each
    part then inserts file after file in key order, with no shuffle of all the rows first.
    """
    ordered = df.sortWithinPartitions(*key) if whole_files else df.coalesce(1).sortWithinPartitions(*key)
    ordered.write.mode("overwrite").options(
        header=False, quote='"', escape='"', nullValue="", emptyValue='""', dateFormat="yyyy-MM-dd"
    ).csv(path)
    return object_store.part_uris(path, ".csv")


def write_parquet(
    df: DataFrame, path: str, partition_by: list[str], sort_by: list[str], *, shuffle: bool = True
) -> None:
    """Rows in a fixed order (the same run, the same rows), one file per partition.

    ``shuffle=False`` (the facts, partitioned by file version among others, each file's rows read
    by one task) skips gathering each partition's rows first: a file split between tasks gives
    its partition one file per task. ``path`` (a batch's own folder) is replaced whole. The sort
    starts with the partition columns: the writer needs rows grouped by them and would otherwise
    add its own sort on them alone, dropping the order by ``sort_by``.
    """
    grouped = df.repartition(*partition_by) if shuffle else df
    grouped.sortWithinPartitions(*partition_by, *sort_by).write.mode("overwrite").partitionBy(
        *partition_by
    ).parquet(path)


def write_rejects(checked: DataFrame, mandatory: list[str], path: str) -> None:
    """The rejected rows, one CSV folder per file, with the reason, the line and the original text.

    RFC 4180 (quotes doubled), so any CSV reader reads the reject files back.
    """
    rejected = checked.where(F.col("reject_reason").isNotNull()).select(
        "file_id",
        "line_number",
        "reject_reason",
        *[F.col(c + TEXT_SUFFIX).alias(c) for c in mandatory],
        "additional_column",
        RAW_RECORD,
    )
    rejected.repartition("file_id").sortWithinPartitions("file_id", "line_number").write.mode(
        "overwrite"
    ).partitionBy("file_id").options(header=True, quote='"', escape='"').csv(path)
