"""Measures the ways the facts can reach MySQL with no disk shared by Spark and the driver.

    python -m benchmarks.load_methods --rows 1000000

Each method loads the same rows into a fresh copy of the real ``sales`` table (primary key and the
month index) in a scratch database, dropped at the end, in one transaction (the load's guarantee):

- ``s3_csv_streamed_load_data``: Spark writes the load CSV to S3 (S3A, magic committer) and the
  driver streams each part into ``LOAD DATA LOCAL INFILE`` through a pipe (what the job does);
- ``jdbc_staging_then_insert_select``: the executors write a staging table over JDBC (bulk
  statements, 2 partitions; their own commits), then one transaction moves the rows over.

S3 is a moto server of the measurement's own.
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
from include.local_s3 import MotoServer
from salesflow.config import load_settings
from salesflow.db import connect
from salesflow.sql import render
from spark_jobs.mysql_load import load_csv
from spark_jobs.write import FACT_KEY, write_load_csv


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


BATCH = 10_000


def fresh_table(settings: Any, name: str = "sales") -> None:
    """The real ``sales`` table (primary key and month index), empty, under ``name``."""
    with connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {name}")
        ddl = sales_table_ddl(settings.tables)
        cursor.execute(ddl.replace(f" {settings.tables.sales} (", f" {name} (", 1))


def time_streamed_load(settings: Any, data: DataFrame, folder: str) -> dict[str, float]:
    fresh_table(settings)
    started = time.perf_counter()
    parts = write_load_csv(data, f"{folder}/csv", FACT_KEY, whole_files=True)
    written = time.perf_counter() - started
    with connect(settings) as conn, conn.cursor() as cursor:
        load_csv(cursor, render("load/load_sales.sql", settings.tables), parts)
        conn.commit()
    return {"s3_csv_write": written, "s3_csv_streamed_load_data": time.perf_counter() - started}


def time_jdbc_staging(settings: Any, data: DataFrame) -> dict[str, float]:
    fresh_table(settings)
    fresh_table(settings, "sales_staging")
    login = mysql_login()
    started = time.perf_counter()
    data.repartition(2).write.format("jdbc").mode("append").options(
        url=f"jdbc:mysql://{login['host']}:{login['port']}/{settings.database}?useBulkStmts=true",
        driver=settings.jdbc_driver, dbtable="sales_staging", user=login["user"], password=login["password"],
        batchsize=str(BATCH), isolationLevel="READ_COMMITTED",
    ).save()  # fmt: skip
    written = time.perf_counter() - started
    with connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute("INSERT INTO sales SELECT * FROM sales_staging")
        conn.commit()
    return {"jdbc_staging_write": written, "jdbc_staging_then_insert_select": time.perf_counter() - started}


def measure(spark: SparkSession, settings: Any, rows: int, folder: str) -> dict[str, float]:
    # Each way once on a few rows first: the JVM's warm-up and S3A's and JDBC's first connection
    # are no part of what is compared.
    warm = facts(spark, 1000).repartition(2, "file_id")
    time_streamed_load(settings, warm, f"{folder}/warm-up")
    time_jdbc_staging(settings, warm)
    data = facts(spark, rows).repartition(2, "file_id").cache()
    data.count()
    return {**time_streamed_load(settings, data, folder), **time_jdbc_staging(settings, data)}


def s3a_session(settings: Any, endpoint: str) -> SparkSession:
    from salesflow.spark_setup import S3Access, spark_jars

    access = S3Access(endpoint, "us-east-1", "measure", "measure-secret")
    os.environ.update(access.environment())  # boto3 on the driver, as the operator sets it
    return local_spark(
        {**settings.spark_conf, **access.spark_conf(), "spark.jars": ",".join(spark_jars(settings))}
    )


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    database = f"sf_measure_{os.getpid()}"
    os.environ["SALESFLOW__MYSQL__DATABASE"] = database
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp, MotoServer(log_path=Path(tmp) / "moto.log") as moto:
        spark = s3a_session(settings, moto.endpoint)
        try:
            from spark_jobs.object_store import client

            client().create_bucket(Bucket="sf-measure")
            with scratch_database(database):
                results = measure(spark, settings, args.rows, "s3a://sf-measure/load")
        finally:
            spark.stop()
    print(json.dumps({"rows": args.rows, "seconds": {k: round(v, 1) for k, v in results.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
