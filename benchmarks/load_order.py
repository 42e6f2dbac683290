"""Measures the fact load as transform.py runs it: row order, month index, session flags.

    python -m benchmarks.load_order --rows 1000000

Spark writes the CSV parts of two runs of ``--files`` file versions each (run 2 lands on a table
that already holds run 1, as in steady state), once in the order ``repartition`` leaves them
(random) and once range-partitioned and sorted by the primary key. Each scenario then loads them
like transform.py does: one transaction, ``DELETE`` of the file versions, ``LOAD DATA`` of each part,
``COMMIT``. Scratch database ``sf_load_<pid>``, dropped at the end.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from benchmarks.common import local_spark, sales_table_ddl
from benchmarks.services import pymysql_connect, scratch_database
from salesflow.config import load_settings
from salesflow.sql import render
from spark_jobs.write import FACT_KEY, write_load_csv

CSV_OPTIONS = {"header": False, "quote": '"', "escape": '"', "nullValue": "", "emptyValue": '""'}


def facts(spark: SparkSession, rows: int, files: int, first_file_id: int) -> DataFrame:
    """Rows shaped like enrich()'s output: files of consecutive lines, dates over three months."""
    n = F.col("id")
    per_file = -(-rows // files)
    h = F.abs(F.hash(n, F.lit(first_file_id)))
    quantity = (h % 10 + 1).cast("int")
    price = (F.lit(20) + (h % 97)).cast("decimal(10,2)")
    sales_date = F.date_add(F.lit("2024-01-01").cast("date"), (F.abs(F.hash(n)) % 91).cast("int"))
    return spark.range(rows).select(
        (F.lit(first_file_id) + n / per_file).cast("long").alias("file_id"),
        (n % per_file + 2).alias("line_number"),
        (h % 250 + 1).cast("int").alias("customer_id"),
        (h % 4 + 121).cast("int").alias("store_id"),
        (h % 12 + 1).cast("int").alias("product_id"),
        F.concat(F.lit("product "), (h % 12).cast("string")).alias("product_name"),
        sales_date.alias("sales_date"),
        F.date_format(sales_date, "yyyy-MM").alias("sales_month"),
        (h % 16 + 1).cast("int").alias("sales_person_id"),
        price.alias("price"),
        quantity.alias("quantity"),
        (price * quantity).cast("decimal(12,2)").alias("total_cost"),
        F.when(h % 5 == 0, F.lit('{"payment_mode":"UPI"}')).alias("additional_column"),
        F.lit("Aarav Sharma").alias("customer_full_name"),
        F.lit("Diya Iyer").alias("sales_person_full_name"),
    )


def write_csv(df: DataFrame, path: Path, ordered: bool) -> list[Path]:
    if ordered:
        return write_load_csv(df, path, FACT_KEY)
    # transform.py's write_load_csv before it sorted the rows
    df.repartition(2).write.mode("overwrite").options(**CSV_OPTIONS, dateFormat="yyyy-MM-dd").csv(str(path))
    return sorted(path.glob("part-*.csv"))


TABLE_DDL = {
    "pk_and_month_index": "PRIMARY KEY (file_id, line_number), KEY ix_sales_month (sales_month)",
    "pk_only": "PRIMARY KEY (file_id, line_number)",
}
# name: (row order, table keys, session flags, load run 2 as well)
SCENARIOS = {
    "random_pk_ix": ("random", "pk_and_month_index", "", False),
    "sorted_pk_ix": ("sorted", "pk_and_month_index", "", True),
    "sorted_pk_ix_unique_checks_0": ("sorted", "pk_and_month_index", "unique_checks=0", True),
    "sorted_pk_only": ("sorted", "pk_only", "", True),
    "random_pk_only": ("random", "pk_only", "", True),
}


@dataclass(frozen=True)
class Statements:
    """transform.py's load statements on a plain ``sales`` table, and its DDL without the keys."""

    load: str
    delete: str
    ddl: str  # with a {keys} placeholder

    @classmethod
    def render(cls, settings: Any, files: int) -> Statements:
        tables = dataclasses.replace(settings.tables, sales="sales")
        ddl = sales_table_ddl(tables)
        ddl = ddl[: ddl.index("PRIMARY KEY")].replace("IF NOT EXISTS ", "")
        return cls(
            load=render("load/load_sales.sql", tables),
            delete=render(
                "load/delete_by_file.sql",
                tables,
                value_lists={"file_ids": files},
                identifiers={"table": tables.sales},
            ),
            ddl=ddl.replace("{", "{{").replace("}", "}}") + "{keys}\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
        )


def write_parts(
    orders: set[str], rows: int, files: int, folder: Path
) -> tuple[dict[tuple[str, int], list[Path]], dict[str, float]]:
    """The CSV parts of runs 1 and 2 in each row order, and the seconds Spark took for each."""
    spark = local_spark({"spark.driver.memory": "2g"})
    parts: dict[tuple[str, int], list[Path]] = {}
    spark_seconds: dict[str, float] = {}
    try:
        for order in sorted(orders):
            for run, first in ((1, 1), (2, 1 + files)):
                started = time.perf_counter()
                df = facts(spark, rows, files, first)
                parts[order, run] = write_csv(df, folder / f"{order}_{run}", order == "sorted")
                spark_seconds[f"{order}_run{run}"] = round(time.perf_counter() - started, 1)
    finally:
        spark.stop()
    return parts, spark_seconds


def load_run(conn: Any, statements: Statements, parts: list[Path], file_ids: list[int], rows: int) -> dict:
    """One run as transform.py loads it: DELETE of its files, LOAD DATA of each part, COMMIT."""
    started = time.perf_counter()
    try:
        with conn.cursor() as cursor:
            cursor.execute(statements.delete, file_ids)
            loaded = sum(cursor.execute(statements.load, (str(p),)) for p in parts)
        load_done = time.perf_counter()
        conn.commit()
    except pymysql.MySQLError as error:
        conn.rollback()
        return {"aborted": f"aborted after {time.perf_counter() - started:.0f} s: {error}"}
    entry: dict[str, Any] = {
        "seconds": round(time.perf_counter() - started, 1),
        "commit_seconds": round(time.perf_counter() - load_done, 1),
    }
    return entry if loaded == rows else {**entry, "rows": loaded}


def run_scenario(conn: Any, name: str, statements: Statements, parts: dict, args: argparse.Namespace) -> dict:
    order, keys, flags, second = SCENARIOS[name]
    with conn.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS sales")
        cursor.execute(statements.ddl.format(keys=TABLE_DDL[keys]))
        cursor.execute("SET SESSION unique_checks=1, foreign_key_checks=1")
        if flags:
            cursor.execute(f"SET SESSION {flags}")
        cursor.execute(f"SET SESSION max_statement_time={args.cap_seconds}")
    entry: dict[str, float | str] = {}
    for run in (1, 2) if second else (1,):
        file_ids = list(range(1 + (run - 1) * args.files, 1 + run * args.files))
        result = load_run(conn, statements, parts[order, run], file_ids, args.rows)
        entry.update(
            {f"run{run}" if key == "aborted" else f"run{run}_{key}": value for key, value in result.items()}
        )
        if "aborted" in result:
            break
    return entry


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each run")
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--scenarios", default="all", help="comma-separated scenario names")
    parser.add_argument("--cap-seconds", type=int, default=600, help="max_statement_time of a LOAD")
    args = parser.parse_args()
    chosen = list(SCENARIOS) if args.scenarios == "all" else args.scenarios.split(",")
    statements = Statements.render(load_settings(), args.files)
    results: dict[str, dict[str, float | str]] = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR")) as tmp:
        parts, spark_seconds = write_parts(
            {SCENARIOS[s][0] for s in chosen}, args.rows, args.files, Path(tmp)
        )
        with scratch_database(f"sf_load_{os.getpid()}") as database:
            conn = pymysql_connect(database, local_infile=True, autocommit=False)
            try:
                for name in chosen:
                    results[name] = run_scenario(conn, name, statements, parts, args)
                    print(name, results[name], flush=True)
            finally:
                conn.close()
    print(json.dumps({"rows": args.rows, "spark_csv_seconds": spark_seconds, "load": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
