"""Reading the run's downloaded files into one shape: every value as text, with its file and row.

Each reader returns the file's columns (normalised header names) as strings, ``_corrupt_record``
(the raw record of a row that does not parse), ``file_id`` (from the local name
``<file_id>.<ext>`` the download gave it) and ``_row_id``; ``fold_extra_columns`` then keeps the
mandatory columns and folds the others into ``additional_column``. One read per format and header
(or Parquet schema) group, never one per file (``read_group``). Line numbers come without a
shuffle of every row:

- CSV (also gzip): a whole file is read by one task and its rows get consecutive row ids, so the
  line number is the row's offset from the file's first row, worked out once per file after the
  read (``number_lines``, with the header as line 1);
- Parquet: the row's position in its file (``_metadata.row_index`` + 1) is its row id;
- JSON Lines: the physical line (blank lines skipped but counted) is its row id.

Typed Parquet values and JSON numbers become the exact text they stand for, so the text rules of
``rules.py`` judge them as they would judge the same text in a CSV file; nothing is rounded.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from salesflow.intake import MAX_COLUMNS

CORRUPT_COLUMN = "_corrupt_record"
ROW_ID = "_row_id"
HEADER_LINES = 1  # the first data row of a CSV file is line 2
# The readers of these formats give each row its line number as its row id.
LINE_NUMBERED_FORMATS = ("parquet", "jsonl")
# File format -> the reader of its group (a gzip CSV is a CSV: Spark inflates it by extension).
READERS = {"csv": "csv", "csv.gz": "csv", "parquet": "parquet", "jsonl": "jsonl"}


def column(name: str) -> Column:
    """A column by its exact name (header names may hold dots or spaces)."""
    return F.col("`" + name.replace("`", "``") + "`")


def _file_id() -> Column:
    return F.regexp_extract(F.input_file_name(), r"/(\d+)\.[^/]*$", 1).cast("long")


def _list_on_driver(spark: SparkSession, paths: list[str]) -> None:
    # The paths are local files: list them on the driver. Above the default threshold (32 paths)
    # Spark lists them in a job with one task per path, about 4 ms a file.
    spark.conf.set("spark.sql.sources.parallelPartitionDiscovery.threshold", str(max(32, len(paths) + 1)))


def read_group(
    spark: SparkSession,
    reader: str,
    paths: list[str],
    columns: list[str],
    mandatory: list[str],
    max_cell_chars: int = -1,
) -> DataFrame:
    """One read of a group of files (``READERS``), the extra columns folded (``fold_extra_columns``).

    ``max_cell_chars`` bounds a CSV value (-1: no bound): a file whose value is longer fails the
    read with the parser's error, not the driver with an out-of-memory.
    """
    if reader == "jsonl":  # each line has its own keys: folded line by line
        return read_json_lines_group(spark, paths, mandatory)
    extra = [c for c in columns if c not in mandatory]
    if reader == "parquet":
        return fold_extra_columns(read_parquet_group(spark, paths, columns), mandatory, extra)
    return fold_extra_columns(read_csv_group(spark, paths, columns, max_cell_chars), mandatory, extra)


def read_csv_group(
    spark: SparkSession, paths: list[str], columns: list[str], max_cell_chars: int = -1
) -> DataFrame:
    """All CSV files (plain or gzip) that share one header, every value as text."""
    _list_on_driver(spark, paths)
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
            maxCharsPerColumn=max_cell_chars,
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


def line_starts(spark: SparkSession, first_row_ids: dict[int, int], formats: dict[int, str]) -> DataFrame:
    """Per file (file_id, first_row_id, first_line): the row id of its first row and that row's line.

    A CSV file's smallest row id is line ``HEADER_LINES + 1``; the other readers number the lines
    themselves (the row id is the line).
    """
    rows = [
        (file_id, 0, 0) if formats[file_id] in LINE_NUMBERED_FORMATS else (file_id, first, HEADER_LINES + 1)
        for file_id, first in sorted(first_row_ids.items())
    ]
    return spark.createDataFrame(rows, "file_id long, first_row_id long, first_line long")


def number_lines(df: DataFrame, first_rows: DataFrame) -> DataFrame:
    """``df`` with ``line_number`` instead of ``_row_id``.

    ``first_rows`` (``line_starts``) is a small frame broadcast to every task.
    """
    offset = F.col(ROW_ID) - F.col("first_row_id") + F.col("first_line")
    return (
        df.join(F.broadcast(first_rows), "file_id")
        .withColumn("line_number", offset)
        .drop(ROW_ID, "first_row_id", "first_line")
    )


# -------------------------------------------------------------------------------------- Parquet
def read_parquet_group(spark: SparkSession, paths: list[str], columns: list[str]) -> DataFrame:
    """All Parquet files of one schema (the intake's column types), each value as its exact text.

    ``columns`` are the normalised names, in the files' order. The row id is the row's position in
    its file, from 1: right however Spark splits a file between tasks.
    """
    _list_on_driver(spark, paths)
    raw = spark.read.option("mergeSchema", False).parquet(*paths)
    return raw.select(
        *[
            exact_text(column(f.name), f.dataType).alias(name)
            for f, name in zip(raw.schema.fields, columns, strict=True)
        ],
        F.lit(None).cast("string").alias(CORRUPT_COLUMN),
        _file_id().alias("file_id"),
        (F.col("_metadata.row_index") + 1).alias(ROW_ID),
    )


CENTS = T.DecimalType(38, 2)


def exact_text(value: Column, data_type: T.DataType) -> Column:
    """A typed value as the text it stands for, so the text rules judge it (never rounded).

    A float or double is the nearest one to a 2-place decimal or it is not: 19.99 (the double
    written for 19.99) is "19.99", 0.1 + 0.2 is "0.30000000000000004" and fails as a price. A
    decimal of more than 2 places that holds a 2-place value (19.9900) is that value; dates are
    ``yyyy-MM-dd``; nested values are JSON; anything else is Spark's text of it (a timestamp is
    "2024-01-02 00:00:00", not a date).
    """
    if isinstance(data_type, T.StringType):
        return value
    if isinstance(data_type, (T.FloatType, T.DoubleType)):
        cents = value.try_cast(CENTS)
        # One trailing zero dropped, as floats are written: 19.90 -> 19.9, 3.00 -> 3.0.
        as_written = F.regexp_replace(cents.cast("string"), r"(\.[0-9])0$", "$1")
        return F.when(cents.try_cast(data_type) == value, as_written).otherwise(value.cast("string"))
    if isinstance(data_type, T.DecimalType) and data_type.scale > 2:
        # Compared in the column's own type: a wider one could round the value first.
        cents = value.try_cast(T.DecimalType(data_type.precision - data_type.scale + 2, 2))
        return F.when(cents.cast(data_type) == value, cents.cast("string")).otherwise(value.cast("string"))
    if isinstance(data_type, (T.ArrayType, T.MapType, T.StructType)):
        return F.to_json(value)
    return value.cast("string")


# ----------------------------------------------------------------------------------- JSON Lines
BLOCK = "_block_start"
BLANK_LINE = r"^[ \t\r\n]*$"  # JSON's whitespace only
STRING_MAP = T.MapType(T.StringType(), T.StringType())
# Strict JSON: Spark's defaults allow single quotes and NaN.
STRICT_JSON = {
    "allowSingleQuotes": "false",
    "allowNonNumericNumbers": "false",
    "allowNumericLeadingZeros": "false",
    "allowUnquotedControlChars": "false",
    "allowUnquotedFieldNames": "false",
    "allowComments": "false",
    "allowBackslashEscapingAnyCharacter": "false",
}
_STRING = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"'  # possessive: no backtracking, no deep recursion
_NUMBER = r"-?+(?:0|[1-9][0-9]*+)(?:\.[0-9]++)?+(?:[eE][+-]?+[0-9]++)?+"
# A string (group 1, kept) or a number that is not followed by ":" (group 2, to be quoted).
_STRING_OR_NUMBER = f"({_STRING})|({_NUMBER})(?![ \\t\\r\\n]*+:)"
_OPEN, _CLOSE = "\u0001", "\u0002"  # never in valid JSON as such (control characters are escaped)
_KEY_SEPARATOR = "\u0000"
# JSON whitespace at the start or end of a key, in keys joined by the separator.
_KEY_PADDING = f"(^|{_KEY_SEPARATOR})[ \\t\\r\\n]+|[ \\t\\r\\n]+({_KEY_SEPARATOR}|$)"


def read_json_lines_group(spark: SparkSession, paths: list[str], mandatory: list[str]) -> DataFrame:
    """All JSON Lines files, one record per non-blank line, its row id the physical line.

    A line that is not one strict JSON object, or whose keys (compared as header names are) repeat
    or are blank, is a malformed row; mandatory keys missing are missing values; the other keys are
    folded into ``additional_column`` in the line's own order.
    """
    lines = physical_lines(spark, paths)
    text = F.when(F.col(ROW_ID) == 1, F.regexp_replace("value", "^\ufeff", "")).otherwise(F.col("value"))
    records = lines.select(text.alias("value"), "file_id", ROW_ID).where(~F.col("value").rlike(BLANK_LINE))
    return json_records(records, mandatory)


def physical_lines(spark: SparkSession, paths: list[str]) -> DataFrame:
    """Every line of the files (value, file_id, _row_id), the row id its line number from 1.

    Spark splits a large text file between tasks, so row ids run consecutively within a block of a
    file only: one small job counts each block's lines, and each line's number is the lines of
    the blocks before its own plus its offset in it.
    """
    _list_on_driver(spark, paths)
    raw = spark.read.text(paths).select(
        "value",
        _file_id().alias("file_id"),
        F.col("_metadata.file_block_start").alias(BLOCK),
        F.monotonically_increasing_id().alias(ROW_ID),
    )
    blocks = raw.groupBy("file_id", BLOCK).agg(
        F.min(ROW_ID).alias("first_id"), F.count(F.lit(1)).alias("lines")
    )
    before: dict[int, int] = {}
    starts = []
    for row in sorted(blocks.collect(), key=lambda r: (r["file_id"], r[BLOCK])):
        starts.append((row["file_id"], row[BLOCK], row["first_id"], before.get(row["file_id"], 0)))
        before[row["file_id"]] = before.get(row["file_id"], 0) + row["lines"]
    frame = spark.createDataFrame(starts, f"file_id long, {BLOCK} long, first_id long, lines_before long")
    line = F.col("lines_before") + F.col(ROW_ID) - F.col("first_id") + 1
    return raw.join(F.broadcast(frame), ["file_id", BLOCK]).select("value", "file_id", line.alias(ROW_ID))


def numbers_as_strings(text: Column) -> Column:
    """The JSON text with every number that is not a key between quotes, as written.

    Spark's JSON functions turn a number into a double's text (19.999999999999999999 becomes
    "20.0"); a string keeps its text. Numbers are marked in one pass (a string gets an empty mark
    pair, which is then dropped) and the marks become quotes.
    """
    marked = F.regexp_replace(text, _STRING_OR_NUMBER, f"$1{_OPEN}$2{_CLOSE}")
    return F.translate(F.replace(marked, F.lit(_OPEN + _CLOSE), F.lit("")), _OPEN + _CLOSE, '""')


def key_names(keys: Column) -> Column:
    """A line's keys as column names (lower case, JSON whitespace around them dropped), in order.

    On the keys joined into one text, not key by key (a lambda per key measured slower than the
    key parse itself).
    A blank key, or one holding the separator (an escaped NUL), leaves fewer or more names than
    values: the line then counts as malformed.
    """
    joined = F.array_join(keys, _KEY_SEPARATOR)
    trimmed = F.regexp_replace(F.lower(joined), _KEY_PADDING, "$1$2")
    return F.array_remove(F.split(trimmed, _KEY_SEPARATOR, -1), "")


def json_records(records: DataFrame, mandatory: list[str]) -> DataFrame:
    """Each line's object as the mandatory columns' text and the other keys folded (in order).

    One step per select, each reading the columns of the one before: Spark keeps a select apart
    when it would otherwise compute a costly value twice (the quoted text, the parse), and a value
    under a ``when`` is never shared with another use of it.
    """
    quoted = records.select("value", "file_id", ROW_ID, numbers_as_strings(F.col("value")).alias("text"))
    named = quoted.select("*", key_names(F.json_object_keys("text")).alias("names"))  # NULL: not an object
    no_marks = (F.instr("value", _OPEN) == 0) & (F.instr("value", _CLOSE) == 0)
    unique = F.size(F.array_distinct("names")) == F.size("names")
    # Parsed as an array: one object and nothing after it (a lone object would ignore the rest).
    # Only when no name repeats: a map keeps the last value of a key given twice, silently.
    as_array = F.from_json(
        F.concat(F.lit("["), F.col("text"), F.lit("]")), T.ArrayType(STRING_MAP), STRICT_JSON
    )
    well_formed = F.coalesce(no_marks & F.col("names").isNotNull() & unique, F.lit(False))
    parsed = named.select("value", "file_id", ROW_ID, "names", F.when(well_formed, as_array).alias("parsed"))
    objects = parsed.select("*", F.when(F.size("parsed") == 1, F.col("parsed")[0]).alias("object"))
    values = F.map_values("object")
    same_size = F.size("names") == F.size(values)
    fields = F.when(F.col("object").isNotNull() & same_size, F.map_from_arrays("names", values))
    return _fold_json(objects.select("value", "file_id", ROW_ID, "names", fields.alias("fields")), mandatory)


def _fold_json(lines: DataFrame, mandatory: list[str]) -> DataFrame:
    """(value, names, fields) -> the mandatory columns, additional_column and the corrupt record."""
    fields = F.col("fields")
    wanted = F.array(*[F.lit(c) for c in mandatory])
    extras = F.map_filter(fields, lambda key, _value: ~F.array_contains(wanted, key))
    has_extras = F.size(F.array_except("names", wanted)) > 0
    additional = F.when(fields.isNotNull() & has_extras, F.to_json(extras))
    return lines.select(
        *[fields[c].alias(c) for c in mandatory],
        additional.alias("additional_column"),
        F.when(fields.isNull(), F.col("value")).alias(CORRUPT_COLUMN),
        "file_id",
        ROW_ID,
    )
