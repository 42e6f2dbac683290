"""Measures the bulk-load methods for the fact table on this machine (the README quotes the result).

    python -m benchmarks.load_methods --rows 1000000

Each method loads the same rows into a fresh copy of the real ``sales`` table (primary key and the
month index) in a scratch database, which is dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from benchmarks.common import local_spark, sales_table_ddl
from benchmarks.services import mysql_login, scratch_database
from salesflow.config import load_settings
from salesflow.db import connect
from salesflow.sql import render
from spark_jobs.marts import FACT_COLUMNS
from spark_jobs.transform import FACT_KEY, write_load_csv


def facts(spark: SparkSession, rows: int):
    n = F.col("id")
    return spark.range(rows).select(
        (n % 10 + 1).alias("file_id"),
        (n + 2).alias("line_number"),
        (n % 250 + 1).cast("int").alias("customer_id"),
        (n % 4 + 121).cast("int").alias("store_id"),
        (n % 12 + 1).cast("int").alias("product_id"),
        F.lit("basmati rice").alias("product_name"),
        F.date_add(F.lit("2024-01-01").cast("date"), (n % 90).cast("int")).alias("sales_date"),
        F.concat(F.lit("2024-0"), (n % 3 + 1).cast("string")).alias("sales_month"),
        (n % 16 + 1).cast("int").alias("sales_person_id"),
        F.lit("145.75").cast("decimal(10,2)").alias("price"),
        (n % 10 + 1).cast("int").alias("quantity"),
        (F.lit("145.75").cast("decimal(10,2)") * (n % 10 + 1)).cast("decimal(12,2)").alias("total_cost"),
        F.when(n % 5 == 0, F.lit('{"payment_mode":"UPI"}')).alias("additional_column"),
        F.lit("Aarav Sharma").alias("customer_full_name"),
        F.lit("Diya Iyer").alias("sales_person_full_name"),
    )


JDBC_FLAGS = {
    "spark_jdbc_rewrite_batched_2_partitions": "rewriteBatchedStatements=true",
    "spark_jdbc_bulk_stmts_2_partitions": "useBulkStmts=true",
}
EXECUTEMANY_ROWS = 200_000  # at most; the time is scaled to all rows
BATCH = 10_000


def fresh_table(settings: Any) -> None:
    """The real ``sales`` table (primary key and month index), empty."""
    with connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS sales")
        cursor.execute(sales_table_ddl(settings.tables))


def time_load_data(settings: Any, parts: list[Path]) -> float:
    fresh_table(settings)
    with connect(settings) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        for part in parts:
            cursor.execute(render("load/load_sales.sql", settings.tables), (str(part),))
        conn.commit()
        return time.perf_counter() - started


def time_spark_jdbc(data: DataFrame, settings: Any, flags: str) -> float:
    fresh_table(settings)
    login = mysql_login()
    started = time.perf_counter()
    data.repartition(2).write.format("jdbc").mode("append").options(
        url=f"jdbc:mysql://{login['host']}:{login['port']}/{settings.database}?{flags}",
        driver=settings.jdbc_driver, dbtable="sales", user=login["user"], password=login["password"],
        batchsize=str(BATCH), isolationLevel="READ_COMMITTED",
    ).save()  # fmt: skip
    return time.perf_counter() - started


def time_executemany(settings: Any, data: DataFrame, rows: int) -> float:
    """``executemany`` in 10,000-row batches of up to EXECUTEMANY_ROWS rows, scaled to `rows`."""
    fresh_table(settings)
    values = [tuple(r) for r in data.limit(min(rows, EXECUTEMANY_ROWS)).collect()]
    placeholders = ", ".join(["%s"] * len(FACT_COLUMNS))
    statement = f"INSERT INTO sales ({', '.join(FACT_COLUMNS)}) VALUES ({placeholders})"  # noqa: S608
    with connect(settings) as conn, conn.cursor() as cursor:
        started = time.perf_counter()
        for start in range(0, len(values), BATCH):
            cursor.executemany(statement, values[start : start + BATCH])
        conn.commit()
        return (time.perf_counter() - started) * rows / len(values)


def measure(spark: SparkSession, settings: Any, rows: int, folder: Path) -> dict[str, float]:
    data = facts(spark, rows).cache()
    data.count()
    started = time.perf_counter()
    parts = write_load_csv(data, folder / "csv", FACT_KEY)
    results = {"spark_write_csv_2_parts": time.perf_counter() - started}
    results["load_data_local_infile"] = time_load_data(settings, parts)
    for name, flags in JDBC_FLAGS.items():
        results[name] = time_spark_jdbc(data, settings, flags)
    results["executemany_10k_batches_scaled"] = time_executemany(settings, data, rows)
    return results


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    database = f"sf_measure_{os.getpid()}"
    os.environ["SALESFLOW__MYSQL__DATABASE"] = database
    settings = load_settings()
    spark = local_spark({"spark.jars": settings.jdbc_jar})
    try:
        with scratch_database(database), tempfile.TemporaryDirectory() as tmp:
            results = measure(spark, settings, args.rows, Path(tmp))
    finally:
        spark.stop()
    print(json.dumps({"rows": args.rows, "seconds": {k: round(v, 1) for k, v in results.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
