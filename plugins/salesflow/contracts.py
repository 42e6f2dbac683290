"""What crosses a process boundary, typed: the Spark job's spec and its result.

The Airflow tasks write the spec (``download_files``) and read the result (``publish_outputs``,
``run_report``); the Spark job reads the spec and writes the result. Both sides import these
classes, so a field is named, typed and documented once. Each has one writer (``dumps``) and one
reader (``loads``); both are JSON objects under the run's S3 prefix (``salesflow.run_files``), and
an S3 PUT is whole, so a retry reads the earlier object or none, never half of one.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ConfigDict, TypeAdapter

# The Spark job's result under the run's prefix: written by the job, read by the DAG's later tasks.
RESULT_NAME = "result.json"
# The Spark Connect server a job runs on as a client, in its environment (pyspark's own variables):
# the URL (``sc://host:port``), and the server's token apart from it, as a URL may be logged.
SPARK_REMOTE_ENV = "SPARK_REMOTE"
SPARK_TOKEN_ENV = "SPARK_CONNECT_AUTHENTICATE_TOKEN"

T = TypeVar("T")

# Each contract refuses a field it does not have, and takes JSON values of its fields' types only
# (no "3" for 3): a spec or result from another version of the code fails where it is read.
CONTRACT = ConfigDict(extra="forbid", strict=True)


@dataclass(frozen=True)
class MonthlyDataset:
    month_column: str  # its month partition column
    prefix: str  # the attribute of ``Settings.prefixes`` it is published under


# The monthly datasets the job writes (MySQL tables and Parquet) and the DAG publishes.
MONTHLY_DATASETS = {
    "customers_data_mart": MonthlyDataset("sales_date_month", "customers_data_mart"),
    "sales_team_data_mart": MonthlyDataset("sales_month", "sales_team_data_mart"),
    "sales_comparison": MonthlyDataset("month", "comparison_mart"),
    "customer_segments": MonthlyDataset("snapshot_month", "customer_segments"),
}


@dataclass(frozen=True)
class IntakeFile:
    """One file of the run as the download pass left it: where it is and what its checks found."""

    __pydantic_config__ = CONTRACT

    file_id: int  # the ledger id of the file version
    object_key: str
    # The run's own copy of the version claimed (s3a://), made server-side and checked to hold the
    # bytes the file checks read (their SHA-256); empty for a file that is quarantined.
    staged_uri: str
    size_bytes: int
    sha256: str | None
    # The latest sales date its rows may carry: the run's day, or the day the file landed if later.
    as_of_date: str
    # Why the file is quarantined whole (file checks, duplicate, unsafe key, attempts), or None.
    reason: str | None = None
    # The header's column names, normalised (lower case, trimmed), in file order.
    columns: list[str] = field(default_factory=list)
    # What the file is, told by its extension and confirmed by its content: csv, csv.gz, parquet,
    # jsonl (salesflow.intake.FORMATS). A JSON Lines file has no header: ``columns`` is empty.
    file_format: str = "csv"
    # Parquet: each column's type as pyarrow names it, in ``columns`` order (files of one schema
    # are read together); empty for the text formats.
    column_types: list[str] = field(default_factory=list)
    # Claims of this version so far: above 1, earlier runs failed with it (its own batch).
    attempts: int = 1
    # The ledger id of the entry this one reprocesses (the operator asked), or None.
    reprocess_of: int | None = None

    @property
    def accepted(self) -> bool:
        return self.reason is None


@dataclass(frozen=True)
class JdbcTarget:
    """MySQL for the Spark job (JDBC reads, and PyMySQL on the driver for the load).

    The password travels in the job's environment, never in a file or on a command line.
    """

    __pydantic_config__ = CONTRACT

    host: str
    port: int
    user: str
    driver: str  # the JDBC driver class

    def url(self, database: str) -> str:
        # jdbc:mysql (not jdbc:mariadb) so that Spark picks its MySQL dialect.
        return f"jdbc:mysql://{self.host}:{self.port}/{database}"


@dataclass(frozen=True)
class JobSpec:
    """The input of the run's Spark job."""

    __pydantic_config__ = CONTRACT

    run_id: str
    as_of_date: str
    mandatory_columns: list[str]
    files: list[IntakeFile]
    # The run's S3 prefix (s3a://bucket/prefix/): the job's outputs and result go below it.
    run_uri: str
    recompute_months: list[str]
    jdbc: JdbcTarget
    database: str
    tables: dict[str, str]  # salesflow.config.Tables as a mapping
    # The largest value Spark's readers take (limits.max_cell_bytes): past it a file fails alone.
    max_cell_chars: int = 16 * 1024 * 1024

    def accepted_files(self) -> list[IntakeFile]:
        return [f for f in self.files if f.accepted]


@dataclass(frozen=True)
class FileOutcome:
    """What the Spark job did with one file: LOADED with its counts, or quarantined or failed."""

    __pydantic_config__ = CONTRACT

    object_key: str
    status: str  # LOADED, QUARANTINED (load_failed:...) or FAILED (retried by the next run)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    max_sales_date: str | None = None
    reason: str | None = None
    # The batch that loaded the file: its facts' Parquet and its rejects are in that batch's
    # folders under the run's prefix (parquet/sales/<batch>/, rejected/<batch>/).
    facts_folder: str | None = None


@dataclass(frozen=True)
class TransformResult:
    """The output of the run's Spark job: per file its outcome, per output the months rewritten."""

    __pydantic_config__ = CONTRACT

    run_id: str
    files: dict[str, FileOutcome] = field(default_factory=dict)  # by ledger id (JSON keys are text)
    # Per monthly dataset (marts, analytics): the months this run rewrote, in MySQL and Parquet.
    months_written: dict[str, list[str]] = field(default_factory=dict)
    rows_written: dict[str, int] = field(default_factory=dict)  # per MySQL table, by this run
    # Earlier versions whose rows this run replaced (a corrected file), with the months they held.
    superseded: dict[str, list[str]] = field(default_factory=dict)
    # Per monthly dataset, the batch whose Parquet holds each month as it ends (the last to write it).
    month_batches: dict[str, dict[str, str]] = field(default_factory=dict)

    def merged(self, later: TransformResult) -> TransformResult:
        """This result and a later batch's of the same run (the job loads in one or more batches)."""
        months = {
            name: sorted(set(self.months_written.get(name, [])) | set(later.months_written.get(name, [])))
            for name in {*self.months_written, *later.months_written}
        }
        rows = {
            table: self.rows_written.get(table, 0) + later.rows_written.get(table, 0)
            for table in {*self.rows_written, *later.rows_written}
        }
        return TransformResult(
            run_id=self.run_id,
            files={**self.files, **later.files},
            months_written=months,
            rows_written=rows,
            superseded={**self.superseded, **later.superseded},
            month_batches={
                name: {**self.month_batches.get(name, {}), **later.month_batches.get(name, {})}
                for name in {*self.month_batches, *later.month_batches}
            },
        )


def dumps(contract: Any) -> str:
    """A contract as JSON."""
    plain = _adapter(type(contract)).dump_python(contract, mode="json")
    return json.dumps(plain, indent=2, sort_keys=True)


def loads(text: str | bytes, kind: type[T]) -> T:
    """The contract of type ``kind`` in the JSON ``text``, every field checked against its type
    (nested contracts too); a field the type does not have is an error."""
    return _adapter(kind).validate_json(text)


@functools.cache
def _adapter(kind: type[T]) -> TypeAdapter[T]:
    return TypeAdapter(kind)
