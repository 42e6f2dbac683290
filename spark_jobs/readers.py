"""Reading the run's downloaded files into one shape: every value as text, with its file and row.

Each reader returns the file's columns (normalised header names) as strings, ``_corrupt_record``
(the raw record of a row that does not parse), ``file_id`` (from the local name
``<file_id>.<ext>`` the download gave it) and ``_row_id``. A whole file is read by one task and its
rows get consecutive row ids, so the line number is the row's offset from the file's first row,
worked out once per file after the read (``number_lines``) instead of with a shuffle of every row.
``fold_extra_columns`` then keeps the mandatory columns and folds the others into
``additional_column``.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from salesflow.intake import MAX_COLUMNS

CORRUPT_COLUMN = "_corrupt_record"
ROW_ID = "_row_id"
HEADER_LINES = 1  # the first data row of a CSV file is line 2


def column(name: str) -> Column:
    """A column by its exact name (header names may hold dots or spaces)."""
    return F.col("`" + name.replace("`", "``") + "`")


def _file_id() -> Column:
    return F.regexp_extract(F.input_file_name(), r"/(\d+)\.[^/]*$", 1).cast("long")


def read_csv_group(spark: SparkSession, paths: list[str], columns: list[str]) -> DataFrame:
    """All CSV files that share one header, every value as text."""
    # The paths are local files: list them on the driver. Above the default threshold (32 paths)
    # Spark lists them in a job with one task per path, about 4 ms a file.
    spark.conf.set("spark.sql.sources.parallelPartitionDiscovery.threshold", str(max(32, len(paths) + 1)))
    schema = T.StructType(
        [T.StructField(name, T.StringType()) for name in columns]
        + [T.StructField(CORRUPT_COLUMN, T.StringType())]
    )
    raw = (
        spark.read.schema(schema)
        .options(
            header=True,
            # multiLine: a quoted value may span lines, and a file is never split between tasks.
            multiLine=True,
            mode="PERMISSIVE",
            columnNameOfCorruptRecord=CORRUPT_COLUMN,
            encoding="UTF-8",
            quote='"',
            escape='"',
            maxColumns=MAX_COLUMNS + 1,
            maxCharsPerColumn=-1,
        )
        .csv(paths)
    )
    return raw.select(
        *[column(c) for c in columns],
        F.col(CORRUPT_COLUMN),
        _file_id().alias("file_id"),
        F.monotonically_increasing_id().alias(ROW_ID),
    )


def fold_extra_columns(df: DataFrame, mandatory: list[str], extra_columns: list[str]) -> DataFrame:
    """Mandatory columns as they are, the extras as one JSON text column (header order) or NULL."""
    if extra_columns:
        additional = F.to_json(F.struct(*[column(c) for c in extra_columns]), {"ignoreNullFields": "false"})
    else:
        additional = F.lit(None).cast("string")
    return df.select(
        *[column(c) for c in mandatory],
        additional.alias("additional_column"),
        F.col(CORRUPT_COLUMN),
        F.col("file_id"),
        F.col(ROW_ID),
    )


def number_lines(df: DataFrame, first_rows: DataFrame) -> DataFrame:
    """``df`` with ``line_number`` instead of ``_row_id``: the header is line 1.

    ``first_rows`` holds (file_id, first_row_id): the smallest row id of each file, a small frame
    broadcast to every task.
    """
    offset = F.col(ROW_ID) - F.col("first_row_id") + F.lit(HEADER_LINES + 1)
    return (
        df.join(F.broadcast(first_rows), "file_id")
        .withColumn("line_number", offset)
        .drop(ROW_ID, "first_row_id")
    )
