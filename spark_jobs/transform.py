"""The run's one Spark job: row rules, enrichment, marts and analytics, loaded in one transaction.

Input: the run's spec (``salesflow.contracts.JobSpec``, written by ``download_files``) naming the
files the file checks accepted, each staged under the run's S3 prefix. Steps:

1. extract: the accepted files of the run still VALIDATED in the ledger, read once (one read per
   header) into a Parquet copy under the run's prefix with every row typed, enriched and judged
   (``check_rows``);
2. per batch of files, under a MySQL named lock (one writer of the marts at a time):
   - plan: the months the batch touches (its own, those of an earlier version it supersedes, any
     month to recompute), and the months of the marts and analytics that change with them;
   - compute: this batch's summaries per file, key and month, plus the summaries already loaded
     for the months needed (never the facts), give the marts of the touched months and the
     analytics of the months they reach;
   - load: in one transaction the facts, summaries, marts, analytics, the ledger (LOADED with the
     counts) and the rejects per reason: readers see all of a batch or none of it;
3. a batch that fails because of its data is split until the file at fault is found: that file
   is quarantined (``load_failed:``), the others load in the same run. A file that failed in an
   earlier run loads in a batch of its own.

Outputs under the run's S3 prefix, each batch in folders of its own (``batch-<first id>-<files>``),
written by Spark through S3A and committed by the magic committer: the load CSVs (streamed into
MySQL), Parquet of the batch's facts and of the months rewritten, the rejected rows (CSV per file),
and ``result.json`` (``TransformResult``) for the DAG's later tasks.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from salesflow.config import Tables
from salesflow.contracts import (
    MONTHLY_DATASETS,
    FileOutcome,
    IntakeFile,
    JobSpec,
    TransformResult,
    dumps,
    loads,
)
from salesflow.faults import fault_point
from salesflow.ledger import LOAD_FAILED, FileLedger, StatusMove
from salesflow.months import add_months, month_range, shifted
from salesflow.sql import named_lock, render
from salesflow.statuses import FileStatus
from spark_jobs import marts, mysql_load, object_store
from spark_jobs.analytics import RFM_WINDOW_MONTHS, customer_segments, sales_comparison
from spark_jobs.common import read_jdbc_table, run_job
from spark_jobs.marts import SUMMARY_KEYS
from spark_jobs.readers import READERS, ROW_ID, line_starts, number_lines, read_group
from spark_jobs.rules import RAW_RECORD, TEXT_SUFFIX, Dimensions, apply_row_rules

log = logging.getLogger("salesflow.transform")

LOCK_TIMEOUT_SECONDS = 1800
FACT_KEY = ["file_id", "line_number"]
WRITE_THREADS = 4
# The primary key of each monthly dataset's table, and the row order within a month of its Parquet.
MONTHLY_KEYS = {
    "customers_data_mart": ["customer_id", "sales_date_month"],
    "sales_team_data_mart": ["store_id", "sales_person_id", "sales_month"],
    "sales_comparison": ["level", "entity_id", "month"],
    "customer_segments": ["customer_id", "snapshot_month"],
}
FACT_PARTITIONS = ["sales_month", "store_id"]
# A comparison row of month M reads the totals of M, the month before and the year before.
COMPARISON_PRIORS = (0, 1, 12)


# ------------------------------------------------------------------------------- the job's parts
@dataclass
class FileStats:
    """One file's rows as the rules judged them (all known before anything is loaded)."""

    rows_read: int = 0
    rows_valid: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    months: set[str] = field(default_factory=set)
    max_sales_date: date | None = None

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected_by_reason.values())


@dataclass
class BatchPlan:
    """What one batch changes: its files, the ones it supersedes, the months of each output."""

    file_ids: list[int]
    recompute: list[str]
    superseded: dict[int, str]  # earlier version id -> its key
    superseded_months: dict[int, list[str]]
    touched: list[str]  # months of the marts rewritten
    data_months: list[str]  # every month holding a fact once the batch is in
    comparison_months: list[str]  # months of sales_comparison_mart computed
    comparison_cleared: list[str]  # months of sales_comparison_mart deleted first
    snapshot_months: list[str]  # snapshots of customer_segments computed
    snapshot_cleared: list[str]

    @property
    def replaced(self) -> list[int]:
        return sorted({*self.file_ids, *self.superseded})


@dataclass
class BatchOutputs:
    facts: DataFrame
    summaries: dict[str, DataFrame]  # table attribute -> rows to load
    customers_data_mart: DataFrame
    sales_team_data_mart: DataFrame
    sales_comparison: DataFrame
    customer_segments: DataFrame


def comparison_months_to_rewrite(touched: list[str], before: list[str], after: list[str]) -> set[str]:
    """The months of sales_comparison_mart whose rows can change (SPEC "Analytics").

    A month's rows use its totals, the month before and the year before (``COMPARISON_PRIORS``),
    exist from the data's first month to its last, and have NULL priors before the first: when the
    first or last month moves, the months between the old and new bound (and a year on from the
    first) change too. ``before`` and ``after`` are the data's months without and with the batch.
    """
    months = shifted(touched, COMPARISON_PRIORS)
    if before and after and (before[0], before[-1]) != (after[0], after[-1]):
        firsts, lasts = sorted((before[0], after[0])), sorted((before[-1], after[-1]))
        months |= set(month_range(firsts[0], add_months(firsts[1], 11)))
        months |= set(month_range(lasts[0], lasts[1]))
    return months


@contextlib.contextmanager
def timed(step: str) -> Iterator[None]:
    """Log how long a step of the job took (the task log tells where a run spends its time)."""
    started = time.monotonic()
    yield
    log.info("transform: %s took %.1f s", step, time.monotonic() - started)


def analytics_months(
    months: set[str], before: list[str], after: list[str], *, with_next: bool = False
) -> tuple[list[str], list[str]]:
    """Of the months an analytics table may change in: those to compute, and those to clear first.

    Rows can only exist in the data's months (``with_next``: and the month after each, where a drop
    to nothing shows), within the data's first and last month: a change far back in time (a new
    first month) rewrites those months only, not every calendar month in between.
    """

    def possible(data: list[str]) -> set[str]:
        rows = set(data) | (shifted(data, (1,)) if with_next else set())
        return {m for m in rows if data and data[0] <= m <= data[-1]}

    return sorted(months & possible(after)), sorted(months & (possible(before) | possible(after)))


class TransformJob:
    """One run of the job: the spec, the MySQL connection of the load, the dimension frames."""

    def __init__(self, spark: SparkSession, spec: JobSpec, conn: Any) -> None:
        self.spark = spark
        self.spec = spec
        self.conn = conn
        self.tables = Tables(**spec.tables)
        self.out = spec.run_uri.rstrip("/")
        self.ledger = FileLedger(conn, self.tables)
        self.files: dict[int, IntakeFile] = {f.file_id: f for f in spec.accepted_files()}
        self.stats: dict[int, FileStats] = {}
        self._dims: dict[str, DataFrame] = {}
        self._batch_cache: list[DataFrame] = []

    # ---------------------------------------------------------------------------------- reading
    def table(self, attribute: str) -> DataFrame:
        """A MySQL table of the config over JDBC (dimension tables are read once and cached)."""
        if attribute not in self._dims:
            frame = read_jdbc_table(
                self.spark, self.spec.jdbc, self.spec.database, getattr(self.tables, attribute)
            )
            if attribute in ("customer", "store", "product", "sales_team"):
                frame = frame.cache()
            self._dims[attribute] = frame
        return self._dims[attribute]

    def query(self, name: str, values: list[Any], **lists: int) -> list[tuple]:
        with self.conn.cursor() as cursor:
            cursor.execute(render(f"load/{name}.sql", self.tables, value_lists=lists or None), values)
            rows = list(cursor.fetchall())
        self.conn.commit()
        return rows

    def pending(self) -> list[int]:
        """The accepted files still VALIDATED (a retry skips those an earlier try loaded)."""
        ids = sorted(self.files)
        if not ids:
            return []
        return sorted(row[0] for row in self.query("validated_files", ids, file_ids=len(ids)))

    def dimensions(self) -> Dimensions:
        customers, sales_team = self.table("customer"), self.table("sales_team")
        return Dimensions(
            customers=customers.select(
                "customer_id", marts.full_name("first_name", "last_name").alias("customer_full_name")
            ),
            stores=self.table("store").select(F.col("id").alias("store_id")),
            products=self.table("product").select(
                F.col("name").alias("product_name"), F.col("id").alias("product_id")
            ),
            sales_people=sales_team.select(
                F.col("id").alias("sales_person_id"),
                marts.full_name("first_name", "last_name").alias("sales_person_full_name"),
            ),
        )

    def check_rows(self, file_ids: list[int]) -> DataFrame:
        """Read the files once, judge every row, keep the result as local Parquet; count per file.

        One read per format and header (Parquet: and column types; JSON Lines: all in one).
        """
        groups: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[str]] = {}
        for file_id in file_ids:
            intake = self.files[file_id]
            group = (READERS[intake.file_format], tuple(intake.columns), tuple(intake.column_types))
            groups.setdefault(group, []).append(intake.staged_uri)
        mandatory = list(self.spec.mandatory_columns)
        frames = [
            read_group(self.spark, reader, paths, list(columns), mandatory, self.spec.max_cell_chars)
            for (reader, columns, _types), paths in groups.items()
        ]
        rows = frames[0]
        for frame in frames[1:]:
            rows = rows.unionByName(frame)
        checked = apply_row_rules(
            rows,
            mandatory,
            date.fromisoformat(self.spec.as_of_date),
            self.dimensions(),
            as_of_by_file={f: date.fromisoformat(self.files[f].as_of_date) for f in file_ids},
        )
        path = f"{self.out}/checked"
        checked.write.mode("overwrite").parquet(path)
        self.stats = {file_id: FileStats() for file_id in file_ids}  # a file of a header alone has no row
        stored = self.spark.read.parquet(path)
        first_rows = self._count_rows(stored)
        log.info("transform: %d files read in %d format and header groups", len(file_ids), len(groups))
        return number_lines(stored, first_rows)

    def _count_rows(self, checked: DataFrame) -> DataFrame:
        """Per file its counts, months and latest date (into ``stats``); where its lines start."""
        valid_date = F.when(F.col("reject_reason").isNull(), F.col("sales_date"))
        counts = checked.groupBy("file_id", "reject_reason", "sales_month").agg(
            F.count(F.lit(1)).alias("rows"), F.max(valid_date).alias("latest"), F.min(ROW_ID).alias("first")
        )
        first: dict[int, int] = {}
        for row in counts.collect():
            stats = self.stats.setdefault(row["file_id"], FileStats())
            stats.rows_read += row["rows"]
            first[row["file_id"]] = min(row["first"], first.get(row["file_id"], row["first"]))
            if row["reject_reason"] is not None:
                reasons = stats.rejected_by_reason
                reasons[row["reject_reason"]] = reasons.get(row["reject_reason"], 0) + row["rows"]
                continue
            stats.rows_valid += row["rows"]
            stats.months.add(row["sales_month"])
            stats.max_sales_date = max(filter(None, [stats.max_sales_date, row["latest"]]))
        return line_starts(self.spark, first, {f: self.files[f].file_format for f in first})

    # ---------------------------------------------------------------------------------- planning
    def plan(self, file_ids: list[int], recompute: list[str]) -> BatchPlan:
        """The months this batch changes, from the ledger and the summaries (never the facts)."""
        superseded: dict[int, str] = {}
        if file_ids:
            superseded = dict(self.query("superseded_versions", file_ids, file_ids=len(file_ids)))
        superseded_months = self._months_of(sorted(superseded))
        touched = sorted(
            {m for f in file_ids for m in self.stats.get(f, FileStats()).months}
            | {m for months in superseded_months.values() for m in months}
            | set(recompute)
        )
        before = sorted(row[0] for row in self.query("data_months", []))
        after = sorted(self._data_months_after(before, touched, file_ids, superseded))
        comparison, comparison_cleared = analytics_months(
            comparison_months_to_rewrite(touched, before, after), before, after, with_next=True
        )
        snapshots, snapshots_cleared = analytics_months(
            shifted(touched, range(RFM_WINDOW_MONTHS)), before, after
        )
        return BatchPlan(
            file_ids=file_ids,
            recompute=recompute,
            superseded=superseded,
            superseded_months=superseded_months,
            touched=touched,
            data_months=after,
            comparison_months=comparison,
            comparison_cleared=comparison_cleared,
            snapshot_months=snapshots,
            snapshot_cleared=snapshots_cleared,
        )

    def _months_of(self, file_ids: list[int]) -> dict[int, list[str]]:
        """The months each of these file versions has rows in (one query)."""
        months: dict[int, list[str]] = {file_id: [] for file_id in file_ids}
        if file_ids:
            for file_id, month in self.query("months_of_files", file_ids, file_ids=len(file_ids)):
                months[int(file_id)].append(month)
        return {file_id: sorted(found) for file_id, found in months.items()}

    def _data_months_after(
        self, before: list[str], touched: list[str], file_ids: list[int], superseded: dict[int, str]
    ) -> set[str]:
        """The data's months once the batch is in: a touched month keeps facts of other files, or
        gets this batch's."""
        if not touched:
            return set(before)
        replaced = sorted({*file_ids, *superseded}) or [-1]
        kept = self.query(
            "months_with_other_files", [*touched, *replaced], months=len(touched), file_ids=len(replaced)
        )
        own = {m for f in file_ids for m in self.stats.get(f, FileStats()).months}
        return (set(before) - set(touched)) | {row[0] for row in kept} | own

    # --------------------------------------------------------------------------------- computing
    def compute(self, plan: BatchPlan, checked: DataFrame | None) -> BatchOutputs:
        """The batch's facts and summaries, and the marts and analytics of the months it changes.

        The small frames each output is built from, and the outputs, are cached: each is written
        twice (the load CSV and the Parquet) and the summaries feed several outputs.
        """
        facts = self._batch_facts(plan, checked)
        recomputed = self._recomputed_facts(plan)
        # The recomputed months' facts feed three summaries: read from MySQL once.
        summarised = facts if recomputed is None else self._cached(facts.unionByName(recomputed))
        batch = {
            "customer_month_summary": self._cached(marts.customer_summary(summarised)),
            "sales_team_month_summary": self._cached(marts.sales_team_summary(summarised)),
            "product_month_summary": self._cached(marts.product_summary(summarised)),
        }
        team_needed = shifted(plan.comparison_months, [-n for n in COMPARISON_PRIORS]) | set(plan.touched)
        customer_needed = shifted(plan.snapshot_months, range(1 - RFM_WINDOW_MONTHS, 1)) | set(plan.touched)
        customer_months = marts.customer_months(
            self._post_summary(plan, "customer_month_summary", batch, customer_needed)
        )
        team_months = marts.sales_team_months(
            self._post_summary(plan, "sales_team_month_summary", batch, team_needed)
        )
        product_months = marts.product_months(
            self._post_summary(plan, "product_month_summary", batch, team_needed)
        )
        entities = self._cached(
            marts.entity_months(
                team_months,
                product_months,
                self.table("store"),
                self.table("product"),
                self.table("sales_team"),
            )
        )
        touched = F.col("month").isin(plan.touched)
        first = plan.data_months[0] if plan.data_months else "0000-01"
        return BatchOutputs(
            facts=facts,
            summaries=batch,
            customers_data_mart=self._cached(
                marts.customers_data_mart(customer_months.where(touched), self.table("customer"))
            ),
            sales_team_data_mart=self._cached(
                marts.sales_team_data_mart(team_months.where(touched), self.table("sales_team"))
            ),
            sales_comparison=self._cached(sales_comparison(entities, plan.comparison_months, first)),
            customer_segments=self._cached(customer_segments(customer_months, plan.snapshot_months)),
        )

    def _batch_facts(self, plan: BatchPlan, checked: DataFrame | None) -> DataFrame:
        if checked is None:  # only months to recompute: no new rows
            return self.table("sales").select(*marts.FACT_COLUMNS).limit(0)
        valid = F.col("reject_reason").isNull() & self._of_batch(plan)
        return checked.where(valid).select(*marts.FACT_COLUMNS)

    def _recomputed_facts(self, plan: BatchPlan) -> DataFrame | None:
        """The loaded facts of the months to recompute (the full rebuild reads them on purpose)."""
        if not plan.recompute:
            return None
        return (
            self.table("sales")
            .where(F.col("sales_month").isin(plan.recompute) & ~F.col("file_id").isin(plan.replaced or [-1]))
            .select(*marts.FACT_COLUMNS)
        )

    def _post_summary(
        self, plan: BatchPlan, attribute: str, batch: dict[str, DataFrame], months: set[str]
    ) -> DataFrame:
        """A summary table as it will be once the batch is in, for ``months`` only (cached: small)."""
        earlier = self.table(attribute).where(
            F.col("sales_month").isin(sorted(months))
            & ~F.col("sales_month").isin(plan.recompute or ["-"])
            # A file of the batch has no summary yet (it is VALIDATED): only an earlier version's
            # rows are left out.
            & ~F.col("file_id").isin(sorted(plan.superseded) or [-1])
        )
        return self._cached(
            earlier.unionByName(batch[attribute].where(F.col("sales_month").isin(sorted(months))))
        )

    def _of_batch(self, plan: BatchPlan) -> Column:
        """The rows of the batch's files: all of the checked rows unless the batch is a part of them
        (a literal list of 10,000 ids in every plan costs seconds)."""
        if set(plan.file_ids) >= set(self.stats):
            return F.lit(True)
        return F.col("file_id").isin(plan.file_ids)

    def _cached(self, frame: DataFrame) -> DataFrame:
        """``frame`` cached until the batch ends (small frames used by more than one output)."""
        self._batch_cache.append(frame.cache())
        return frame

    def _release_batch_cache(self) -> None:
        for frame in self._batch_cache:
            frame.unpersist()
        self._batch_cache.clear()

    # ---------------------------------------------------------------------------------- outputs
    def write_outputs(
        self, plan: BatchPlan, outputs: BatchOutputs, checked: DataFrame | None
    ) -> dict[str, list[str]]:
        """The load CSVs (each in its table's key order), the Parquet and the reject files, in the
        batch's own folders under the run's prefix (a batch that fails never mixes into another's).

        The writes are independent Spark jobs, most of them small: they run from a few threads at
        once, so one job's scheduling and code generation overlap another's work.
        """
        batch = batch_folder(plan.file_ids)
        load, parquet = f"{self.out}/load/{batch}", f"{self.out}/parquet"
        monthly = {
            "customers_data_mart": (outputs.customers_data_mart, "customers_data_mart", plan.touched),
            "sales_team_data_mart": (outputs.sales_team_data_mart, "sales_team_data_mart", plan.touched),
            "sales_comparison": (outputs.sales_comparison, "sales_comparison_mart", plan.comparison_cleared),
            "customer_segments": (outputs.customer_segments, "customer_segments", plan.snapshot_cleared),
        }
        writes: dict[str, Callable[[], list[str]]] = {
            "sales": lambda: self._write_facts(plan, outputs.facts, load, parquet),
            **{
                table: (
                    lambda frame=frame, table=table: write_load_csv(
                        frame, f"{load}/{table}", SUMMARY_KEYS[table]
                    )
                )
                for table, frame in outputs.summaries.items()
            },
            **{
                table: (
                    lambda name=name, frame=frame, table=table: self._write_monthly(
                        name, frame, f"{load}/{table}", f"{parquet}/{name}/{batch}"
                    )
                )
                for name, (frame, table, _cleared) in monthly.items()
            },
        }
        if checked is not None and plan.file_ids:
            rejected = checked.where(self._of_batch(plan))
            writes["rejects"] = lambda: write_rejects(
                rejected, list(self.spec.mandatory_columns), f"{self.out}/rejected/{batch}"
            )
        with ThreadPoolExecutor(max_workers=WRITE_THREADS, thread_name_prefix="salesflow-write") as pool:
            futures = {name: pool.submit(write) for name, write in writes.items()}
            return {name: future.result() for name, future in futures.items() if name != "rejects"}

    def _write_facts(self, plan: BatchPlan, facts: DataFrame, load: str, parquet: str) -> list[str]:
        """The facts' load CSV, and their Parquet in the batch's own folder (by month and store).

        ``publish_outputs`` splits the Parquet per file version: Spark writing one partition per
        file version would cost seconds per thousand files. The folder is the batch's alone, so a
        batch that failed never leaves rows in another's (and the result names it per file).
        """
        parts = write_load_csv(facts, f"{load}/sales", FACT_KEY, whole_files=True)
        if plan.file_ids:
            folder = f"{parquet}/sales/{batch_folder(plan.file_ids)}"
            write_parquet(facts, folder, FACT_PARTITIONS, FACT_KEY, shuffle=False)
        return parts

    def _write_monthly(self, name: str, frame: DataFrame, load: str, folder: str) -> list[str]:
        """One mart or analytics output: its load CSV, and its months' Parquet in the batch's folder
        (a month cleared with no rows has no folder there: ``publish_outputs`` empties it)."""
        month_column = MONTHLY_DATASETS[name].month_column
        parts = write_load_csv(frame, load, MONTHLY_KEYS[name])
        order = [c for c in MONTHLY_KEYS[name] if c != month_column]
        write_parquet(frame, folder, [month_column], order)
        return parts

    # ------------------------------------------------------------------------------------ loading
    def commit(
        self, plan: BatchPlan, parts: dict[str, list[str]], result: TransformResult
    ) -> TransformResult:
        """One transaction: facts, summaries, marts, analytics, rejects and the ledger; then commit."""
        batch_result = self._batch_result(plan)
        with self.conn.cursor() as cursor:
            loaded = self._load_facts_and_summaries(cursor, plan, parts)
            self._check_counts(plan, loaded)
            fault_point("transform_and_load")
            rows = {"sales": loaded, **self._load_monthly(cursor, plan, parts)}
            cursor.executemany(
                render("load/record_rejects.sql", self.tables),
                [
                    (f, reason, n)
                    for f in plan.file_ids
                    for reason, n in sorted(self.stats[f].rejected_by_reason.items())
                ],
            )
        self.ledger.transition_many(FileStatus.LOADED, self._loaded_moves(plan), commit=False)
        self.ledger.transition_many(
            FileStatus.SUPERSEDED,
            [
                StatusMove(old, reason=f"superseded_by:{self._newest_of(plan, key)}")
                for old, key in plan.superseded.items()
            ],
            commit=False,
        )
        merged = result.merged(TransformResult(run_id=self.spec.run_id, rows_written=rows, **batch_result))
        # Written before the commit: a job that dies right after it is retried into publishing the
        # same outputs (the retry finds the files LOADED and keeps this result).
        self.write_result(merged)
        self.conn.commit()
        fault_point("transform_and_load.after_commit")
        self._log_batch(plan, rows)
        return merged

    def _load_facts_and_summaries(self, cursor: Any, plan: BatchPlan, parts: dict[str, list[str]]) -> int:
        replaced = plan.replaced
        tables = ["sales", "customer_month_summary", "sales_team_month_summary", "product_month_summary"]
        for attribute in tables:
            if replaced:
                self._delete(cursor, "delete_by_file", attribute, replaced, file_ids=len(replaced))
            if plan.recompute and attribute != "sales":
                self._delete(cursor, "delete_by_month", attribute, plan.recompute, month_column="sales_month")
        loaded = mysql_load.load_csv(cursor, render("load/load_sales.sql", self.tables), parts["sales"])
        for attribute in tables[1:]:
            mysql_load.load_csv(cursor, render(f"load/load_{attribute}.sql", self.tables), parts[attribute])
        return loaded

    def _load_monthly(self, cursor: Any, plan: BatchPlan, parts: dict[str, list[str]]) -> dict[str, int]:
        """The marts of the touched months and the analytics of the months they reach, replaced."""
        first_last = (
            (plan.data_months[0], plan.data_months[-1]) if plan.data_months else ("9999-12", "0000-01")
        )
        outputs = [
            ("customers_data_mart", "sales_date_month", plan.touched, False),
            ("sales_team_data_mart", "sales_month", plan.touched, False),
            ("sales_comparison_mart", "month", plan.comparison_cleared, True),
            ("customer_segments", "snapshot_month", plan.snapshot_cleared, True),
        ]
        rows = {}
        for attribute, month_column, cleared, bounded in outputs:
            if cleared:
                self._delete(cursor, "delete_by_month", attribute, cleared, month_column=month_column)
            if bounded:  # no analytics row outside the data's first to last month
                sql = render(
                    "load/delete_outside_months.sql",
                    self.tables,
                    identifiers=self._ids(attribute, month_column),
                )
                cursor.execute(sql, first_last)
            rows[getattr(self.tables, attribute)] = mysql_load.load_csv(
                cursor, render(f"load/load_{attribute}.sql", self.tables), parts[attribute]
            )
        return rows

    def _ids(self, attribute: str, month_column: str | None = None) -> dict[str, str]:
        return {
            "table": getattr(self.tables, attribute),
            **({"month_column": month_column} if month_column else {}),
        }

    def _delete(self, cursor: Any, statement: str, attribute: str, values: list[Any], **names: Any) -> None:
        month_column = names.pop("month_column", None)
        lists = {"months": len(values)} if month_column else names
        sql = render(
            f"load/{statement}.sql",
            self.tables,
            value_lists=lists,
            identifiers=self._ids(attribute, month_column),
        )
        cursor.execute(sql, values)

    def _check_counts(self, plan: BatchPlan, loaded: int) -> None:
        """Rows read = rows loaded + rows rejected, for the batch: anything else rolls back."""
        expected = sum(self.stats[f].rows_valid for f in plan.file_ids)
        if loaded != expected:
            raise RuntimeError(f"loaded {loaded} fact rows, expected {expected}; rolled back")

    def _loaded_moves(self, plan: BatchPlan) -> list[StatusMove]:
        moves = []
        for file_id in plan.file_ids:
            stats = self.stats[file_id]
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

    def _newest_of(self, plan: BatchPlan, key: str) -> int:
        return max(f for f in plan.file_ids if self.files[f].object_key == key)

    def _batch_result(self, plan: BatchPlan) -> dict[str, Any]:
        files = {
            str(f): FileOutcome(
                object_key=self.files[f].object_key,
                status=FileStatus.LOADED.value,
                rows_read=self.stats[f].rows_read,
                rows_loaded=self.stats[f].rows_valid,
                rows_rejected=self.stats[f].rows_rejected,
                rejected_by_reason=dict(sorted(self.stats[f].rejected_by_reason.items())),
                max_sales_date=self.stats[f].max_sales_date.isoformat()
                if self.stats[f].max_sales_date
                else None,
                facts_folder=batch_folder(plan.file_ids),
            )
            for f in plan.file_ids
        }
        months = {
            "customers_data_mart": plan.touched,
            "sales_team_data_mart": plan.touched,
            "sales_comparison": plan.comparison_cleared,
            "customer_segments": plan.snapshot_cleared,
        }
        batch = batch_folder(plan.file_ids)
        return {
            "files": files,
            "months_written": months,
            "superseded": {str(k): v for k, v in plan.superseded_months.items()},
            "month_batches": {name: dict.fromkeys(cleared, batch) for name, cleared in months.items()},
        }

    def _log_batch(self, plan: BatchPlan, rows: dict[str, int]) -> None:
        for file_id in plan.file_ids:
            stats = self.stats[file_id]
            log.info(
                "file %s (ledger id %d): LOADED, %d rows read, %d loaded, %d rejected %s",
                self.files[file_id].object_key,
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
                self._newest_of(plan, key),
            )
        log.info(
            "transform: batch of %d files loaded; months rewritten %s; rows %s",
            len(plan.file_ids),
            plan.touched,
            rows,
        )

    # -------------------------------------------------------------------------- batches, isolation
    def load_batch(
        self, file_ids: list[int], recompute: list[str], checked: DataFrame | None, result: TransformResult
    ) -> TransformResult:
        plan = self.plan(file_ids, recompute)
        fault_point("transform_and_load.batch", subject=" ".join(self.files[f].object_key for f in file_ids))
        try:
            with timed("compute and write the outputs"):
                parts = self.write_outputs(plan, self.compute(plan, checked), checked)
            with timed("load into MySQL"):
                return self.commit(plan, parts, result)
        finally:
            self._release_batch_cache()

    def load_all(
        self, pending: list[int], checked: DataFrame | None, result: TransformResult
    ) -> TransformResult:
        """Load the pending files: new ones in one batch, each file an earlier run failed with alone.

        A batch that fails because of its data (or of an error nobody classified) is split in two
        and each half tried on its own, until the one file at fault is alone: that file is set
        aside (``set_aside``), every other file loads. A service that does not answer fails the
        task (Airflow retries it); nothing is set aside for that.
        """
        fresh = [f for f in pending if self.files[f].attempts <= 1]
        queue = ([fresh] if fresh else []) + [[f] for f in pending if self.files[f].attempts > 1]
        recompute = sorted(self.spec.recompute_months)
        if not queue:
            queue = [[]]  # only months to recompute
        while queue:
            batch = queue.pop(0)
            try:
                result = self.load_batch(batch, recompute, checked, result)
                recompute = []
            except Exception as error:
                self.conn.rollback()
                kind = mysql_load.failure_kind(error)
                if kind == "infrastructure" or not batch:
                    raise
                if len(batch) > 1:
                    log.warning(
                        "transform: a batch of %d files failed (%s); trying each half alone",
                        len(batch),
                        mysql_load.short_reason(error),
                    )
                    queue[:0] = [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
                    continue
                result = self.set_aside(batch[0], kind, error, result)
        if recompute:  # every batch that would have carried them failed: the months still count
            result = self.load_batch([], recompute, checked, result)
        return result

    def set_aside(
        self, file_id: int, kind: str, error: BaseException, result: TransformResult
    ) -> TransformResult:
        """The file a failed batch came down to: QUARANTINED when its data is at fault
        (``load_failed:<reason>``), else FAILED (the next run claims it again, alone)."""
        reason = f"{LOAD_FAILED}{mysql_load.short_reason(error)}"
        status = FileStatus.QUARANTINED if kind == "data" else FileStatus.FAILED
        stats = self.stats.get(file_id, FileStats())
        move = StatusMove(
            file_id, reason=reason, last_error=mysql_load.short_reason(error), rows_read=stats.rows_read
        )
        self.ledger.transition_many(status, [move])
        key = self.files[file_id].object_key
        log.error(
            "file %s (ledger id %d): %s, %s; the other files load without it", key, file_id, status, reason
        )
        outcome = FileOutcome(object_key=key, status=status.value, rows_read=stats.rows_read, reason=reason)
        merged = result.merged(TransformResult(run_id=self.spec.run_id, files={str(file_id): outcome}))
        self.write_result(merged)
        return merged

    def write_result(self, result: TransformResult) -> None:
        object_store.write_bytes(f"{self.out}/{RESULT_NAME}", dumps(result))

    def earlier_result(self) -> TransformResult:
        """The result an earlier try of the job left (its batches stay loaded), or an empty one."""
        found = object_store.read_if_there(f"{self.out}/{RESULT_NAME}")
        return TransformResult(run_id=self.spec.run_id) if found is None else loads(found, TransformResult)

    def run(self) -> TransformResult:
        result = self.earlier_result()
        pending = self.pending()
        if not pending and not self.spec.recompute_months:
            log.info("transform: no file of this run waits for its load; nothing to do")
            # Run again after the load committed: what that load did stands (publish and the
            # report read it).
            self.write_result(result)
            return result
        checked = None
        if pending:
            with timed(f"read and check the rows of {len(pending)} files"):
                checked = self.check_rows(pending)
        return self.load_all(pending, checked, result)


# ------------------------------------------------------------------------------------------ I/O
RESULT_NAME = "result.json"


def batch_folder(file_ids: list[int]) -> str:
    """The name of a batch's output folders: its first file and its size (unique within a run; a
    batch of months to recompute alone is ``batch-recompute``)."""
    return f"batch-{min(file_ids):010d}-{len(file_ids)}" if file_ids else "batch-recompute"


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


def run(spark: SparkSession, spec: JobSpec) -> TransformResult:
    """Load the run's accepted files (and rebuild the months to recompute), under the marts' lock."""
    conn = mysql_load.connect(spec.jdbc, spec.database)
    try:
        with named_lock(conn, f"salesflow.marts.{spec.database}", LOCK_TIMEOUT_SECONDS):
            return TransformJob(spark, spec, conn).run()
    except BaseException:
        with contextlib.suppress(Exception):  # a broken connection has nothing left to roll back
            conn.rollback()
        raise
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def main() -> int:
    return run_job("salesflow-transform", "salesflow: check, transform and load the run's files", run)


if __name__ == "__main__":
    sys.exit(main())
