"""What every stage of the transform job shares: the run's spec, Spark, the MySQL connection of the
load, the files and what the rules found in them, the dimension frames and the batch's cache.

The stages (``extract``, ``plan``, ``compute``, ``write``, ``load``) are functions of a
``JobContext`` and their own typed inputs; ``transform`` runs them batch by batch.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from salesflow.config import Tables
from salesflow.contracts import IntakeFile, JobSpec
from salesflow.ledger import FileLedger
from salesflow.sql import render
from spark_jobs.common import read_jdbc_table

log = logging.getLogger("salesflow.transform")

DIMENSIONS = ("customer", "store", "product", "sales_team")


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


@contextlib.contextmanager
def timed(step: str) -> Iterator[None]:
    """Log how long a step of the job took (the task log tells where a run spends its time)."""
    started = time.monotonic()
    yield
    log.info("transform: %s took %.1f s", step, time.monotonic() - started)


class JobContext:
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
        self._tables: dict[str, DataFrame] = {}
        self._batch_cache: list[DataFrame] = []

    def table(self, attribute: str) -> DataFrame:
        """A MySQL table of the config over JDBC (dimension tables are read once and cached)."""
        if attribute not in self._tables:
            frame = read_jdbc_table(
                self.spark, self.spec.jdbc, self.spec.database, getattr(self.tables, attribute)
            )
            if attribute in DIMENSIONS:
                frame = frame.cache()
            self._tables[attribute] = frame
        return self._tables[attribute]

    def query(self, name: str, values: list[Any], **lists: int) -> list[tuple]:
        """The rows of ``include/sql/load/<name>.sql`` (a read of its own, committed)."""
        with self.conn.cursor() as cursor:
            cursor.execute(render(f"load/{name}.sql", self.tables, value_lists=lists or None), values)
            rows = list(cursor.fetchall())
        self.conn.commit()
        return rows

    def stats_of(self, file_id: int) -> FileStats:
        return self.stats.get(file_id, FileStats())

    def of_batch(self, file_ids: list[int]) -> Column:
        """The rows of the batch's files: all of the checked rows unless the batch is a part of them
        (a literal list of 10,000 ids in every plan costs seconds)."""
        if set(file_ids) >= set(self.stats):
            return F.lit(True)
        return F.col("file_id").isin(file_ids)

    def cached(self, frame: DataFrame) -> DataFrame:
        """``frame`` cached until the batch ends (small frames used by more than one output)."""
        self._batch_cache.append(frame.cache())
        return frame

    def release_batch_cache(self) -> None:
        for frame in self._batch_cache:
            frame.unpersist()
        self._batch_cache.clear()

    def release_caches(self) -> None:
        """Unpersist every frame the job cached. A Connect server's cache is its JVM's, shared by
        its sessions: a frame cached by a session outlives the session's release, so a job that
        left its dimension tables cached grew the server's heap by them, job after job."""
        self.release_batch_cache()
        for attribute in DIMENSIONS:
            if attribute in self._tables:
                self._tables.pop(attribute).unpersist()
