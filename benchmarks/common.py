"""What the benchmarks share: the one error, where the project is, a unit, local Spark, the facts DDL."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MB = 1024 * 1024


class BenchError(RuntimeError):
    """The benchmark cannot go on; the message is the one line the user sees."""


def local_spark(conf: dict[str, str] | None = None) -> Any:
    """A local[2] Spark session for the load measurements: no UI, 2 shuffle partitions, plus `conf`."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
    for key, value in {"spark.sql.shuffle.partitions": "2", **(conf or {})}.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def sales_table_ddl(tables: Any) -> str:
    """The facts table's ``CREATE TABLE`` from the schema file, without its comments."""
    from salesflow.sql import render

    text = render("schema/003_sales_and_marts.sql", tables)
    sql = "\n".join(line.split("--", 1)[0].rstrip() for line in text.splitlines())
    start = sql.index("CREATE TABLE")
    return sql[start : sql.index(";", start)]
