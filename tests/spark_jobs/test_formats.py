""".csv.gz, .parquet and .jsonl through the run's job (issue 13): the same contract as CSV.

Claim, download with the file checks, quarantine and the Spark job on the real services, in the test
session's Spark (``tests.support.runs``). Expected values are worked out by hand.
"""

from __future__ import annotations

import io
from datetime import date, datetime
from decimal import Decimal

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from include.sample_data.generate import HEADER, encode
from spark_jobs.readers import ROW_ID, read_group
from tests.support.e2e import query
from tests.support.runs import job_rejects, put_files, run_job

AS_OF = date(2024, 6, 30)
MANDATORY = list(HEADER)
FACT_COLUMNS = (
    "customer_id, store_id, product_name, sales_date, sales_person_id, price, quantity, total_cost, "
    "additional_column"
)


def ids_by_key(settings) -> dict[str, int]:
    return dict(query(settings, "SELECT object_key, id FROM file_ledger"))


def facts(settings, file_id: int) -> list[tuple]:
    return query(
        settings, f"SELECT line_number, {FACT_COLUMNS} FROM sales WHERE file_id = {file_id} ORDER BY 1"
    )


def rejects(settings, run_id: str, file_id: int) -> list[tuple[int, str, str]]:
    """(line, reason, raw record or the price's text) of each rejected row of one file."""
    rows = job_rejects(settings, run_id, file_id)
    return sorted((int(r["line_number"]), r["reject_reason"], r["raw_record"] or r["price"]) for r in rows)


def parquet(columns: dict[str, pa.Array]) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


# ------------------------------------------------------------------------ same rows, four formats
SAME_ROWS = [
    ["1", "121", "sugar", "2024-01-02", "2", "50.00", "3", "150.00", "UPI"],
    ["2", "122", "maida", "2024-01-03", "6", "20.00", "2", "40.00", "cash"],
    ["3", "121", "green tea", "2024-02-29", "2", "289.99", "1", "289.99", "card"],
    ["1", "121", "sugar", "2024-01-02", "2", "50.00", "3", "150.50", "UPI"],  # total_cost_mismatch
    ["4", "121", "sugar", "2099-01-01", "2", "50.00", "1", "50.00", "UPI"],  # future_sales_date
    ["5", "999", "sugar", "2024-01-05", "2", "50.00", "1", "50.00", "UPI"],  # unknown_store
    ["6", "121", "sugar", "2024-01-05", "2", "50.00", "0", "0.00", "UPI"],  # non_positive_quantity
]
SAME_FACTS = [
    (1, 121, "sugar", date(2024, 1, 2), 2, Decimal("50.00"), 3, Decimal("150.00"), '{"payment_mode":"UPI"}'),
    (2, 122, "maida", date(2024, 1, 3), 6, Decimal("20.00"), 2, Decimal("40.00"), '{"payment_mode":"cash"}'),
    (
        3,
        121,
        "green tea",
        date(2024, 2, 29),
        2,
        Decimal("289.99"),
        1,
        Decimal("289.99"),
        '{"payment_mode":"card"}',
    ),
]
SAME_REJECTS = ["total_cost_mismatch", "future_sales_date", "unknown_store", "non_positive_quantity"]


def test_the_same_rows_in_each_format_load_the_same_facts(spark, environment):
    """Parquet typed (int64, date, decimal), JSON with numbers as numbers and a blank line: the same
    facts, rejects and counts; each format numbers its lines its own way."""
    settings = environment("formats")
    header = [*MANDATORY, "Payment_Mode"]
    jsonl = encode(header, SAME_ROWS, "jsonl").split(b"\n")
    files = {
        "sales_data/rows.csv": encode(header, SAME_ROWS, "csv"),
        "sales_data/rows.csv.gz": encode(header, SAME_ROWS, "csv.gz"),
        "sales_data/rows.parquet": encode(header, SAME_ROWS, "parquet"),
        "sales_data/rows.jsonl": b"\n".join([*jsonl[:2], b"  ", *jsonl[2:]]),  # line 3 is blank
    }
    assert pq.read_schema(io.BytesIO(files["sales_data/rows.parquet"])).field("price").type == pa.decimal128(
        10, 2
    )
    put_files(settings, files)
    run_job(spark, settings, "run-1", AS_OF)

    ids = ids_by_key(settings)
    lines = {"csv": [2, 3, 4], "csv.gz": [2, 3, 4], "parquet": [1, 2, 3], "jsonl": [1, 2, 4]}
    reject_lines = {
        "csv": [5, 6, 7, 8],
        "csv.gz": [5, 6, 7, 8],
        "parquet": [4, 5, 6, 7],
        "jsonl": [5, 6, 7, 8],
    }
    for fmt, numbers in lines.items():
        file_id = ids[f"sales_data/rows.{fmt}"]
        assert facts(settings, file_id) == [(n, *f) for n, f in zip(numbers, SAME_FACTS, strict=True)], fmt
        expected = sorted(zip(reject_lines[fmt], SAME_REJECTS, ["50.00"] * 4, strict=True))
        assert rejects(settings, "run-1", file_id) == expected, fmt
    assert set(query(settings, "SELECT status, rows_read, rows_loaded, rows_rejected FROM file_ledger")) == {
        ("LOADED", 7, 3, 4)
    }


# --------------------------------------------------------------------------------- exact values
def typed_rows(**columns: pa.Array) -> bytes:
    """Two rows of customer 1 buying sugar, with the columns given replacing the typed defaults."""
    base = {
        "customer_id": pa.array([1, 1], pa.int64()),
        "store_id": pa.array([121, 121], pa.int32()),
        "product_name": ["sugar", "sugar"],
        "sales_date": pa.array([date(2024, 1, 2), date(2024, 1, 3)], pa.date32()),
        "sales_person_id": pa.array([2, 2], pa.int64()),
        "price": pa.array([Decimal("19.99"), Decimal("19.99")], pa.decimal128(10, 2)),
        "quantity": pa.array([2, 2], pa.int32()),
        "total_cost": pa.array([Decimal("39.98"), Decimal("39.98")], pa.decimal128(12, 2)),
    }
    return parquet(base | columns)


JSON_LINES = "\n".join(
    [
        '{"customer_id": 1, "store_id": 121, "product_name": "sugar", "sales_date": "2024-01-02", '
        '"sales_person_id": 2, "price": 19.99, "quantity": 2, "total_cost": 39.98}',
        '{"customer_id": "1", "store_id": "121", "product_name": "sugar", "sales_date": "2024-01-02", '
        '"sales_person_id": "2", "price": "19.99", "quantity": "2", "total_cost": "39.98"}',
        '{"customer_id": 1, "store_id": 121, "product_name": "sugar", "sales_date": "2024-01-02", '
        '"sales_person_id": 2, "price": 19.999, "quantity": 2, "total_cost": 39.998}',
        # A double would make this 20.0: taken as written, it is not a 2-place decimal.
        '{"customer_id": 1, "store_id": 121, "product_name": "sugar", "sales_date": "2024-01-02", '
        '"sales_person_id": 2, "price": 19.999999999999999999, "quantity": 2, "total_cost": 40.00}',
        '{"customer_id": 1, "store_id": 121, "product_name": "sugar", "sales_date": "2024-01-02", '
        '"sales_person_id": 2, "price": 19.99, "quantity": 2.0, "total_cost": 39.98}',
        '{"customer_id": 1, "store_id": 121, "product_name": "sugar", "sales_date": "2024-01-02", '
        '"sales_person_id": 2, "price": 19.99, "quantity": 2, "total_cost": 3998e-2}',
        '{"customer_id": 1, "store_id": 121, "product_name": "sugar", "sales_date": "2024-01-02", '
        '"sales_person_id": 2, "price": null, "quantity": 2, "total_cost": 39.98}',
        '{"customer_id": 1, "store_id": 121, "product_name": "sugar", "sales_date": "2024-01-02", '
        '"sales_person_id": 2, "price": 19.99, "total_cost": 39.98}',
    ]
)


def test_typed_values_are_taken_exactly_never_rounded(spark, environment):
    settings = environment("exact")
    put_files(
        settings,
        {
            # 19.99 as a double is the double written for 19.99; 0.1 + 0.2 is not 0.3.
            "sales_data/double.parquet": typed_rows(
                price=pa.array([19.99, 0.1 + 0.2], pa.float64()),
                total_cost=pa.array([39.98, 0.6], pa.float64()),
            ),
            # Decimals of 4 places holding 2-place values are those values; 39.9810 is not one.
            "sales_data/wide_decimal.parquet": typed_rows(
                total_cost=pa.array([Decimal("39.9800"), Decimal("39.9810")], pa.decimal128(14, 4)),
            ),
            # A column of the wrong type is judged by its text: strings, a timestamp.
            "sales_data/text.parquet": typed_rows(quantity=pa.array(["2", "two"], pa.string())),
            "sales_data/timestamp.parquet": typed_rows(
                sales_date=pa.array([datetime(2024, 1, 2), datetime(2024, 1, 3)], pa.timestamp("us"))
            ),
            "sales_data/values.jsonl": JSON_LINES.encode(),
        },
    )
    run_job(spark, settings, "run-1", AS_OF)

    ids = ids_by_key(settings)
    ledger = {
        key: counts
        for key, *counts in query(
            settings, "SELECT object_key, rows_read, rows_loaded, rows_rejected FROM file_ledger"
        )
    }
    assert ledger == {
        "sales_data/double.parquet": [2, 1, 1],
        "sales_data/wide_decimal.parquet": [2, 1, 1],
        "sales_data/text.parquet": [2, 1, 1],
        "sales_data/timestamp.parquet": [2, 0, 2],
        "sales_data/values.jsonl": [8, 2, 6],
    }
    assert rejects(settings, "run-1", ids["sales_data/double.parquet"]) == [
        (2, "invalid_type:price", "0.30000000000000004")
    ]
    assert rejects(settings, "run-1", ids["sales_data/wide_decimal.parquet"]) == [
        (2, "invalid_type:total_cost", "19.99")
    ]
    assert rejects(settings, "run-1", ids["sales_data/text.parquet"]) == [
        (2, "invalid_type:quantity", "19.99")
    ]
    assert [r[:2] for r in rejects(settings, "run-1", ids["sales_data/timestamp.parquet"])] == [
        (1, "invalid_type:sales_date"),
        (2, "invalid_type:sales_date"),
    ]
    assert rejects(settings, "run-1", ids["sales_data/values.jsonl"]) == [
        (3, "invalid_type:price", "19.999"),
        (4, "invalid_type:price", "19.999999999999999999"),
        (5, "invalid_type:quantity", "19.99"),
        (6, "invalid_type:total_cost", "19.99"),
        (7, "missing_value:price", ""),
        (8, "missing_value:quantity", "19.99"),
    ]
    loaded = query(
        settings, "SELECT file_id, line_number, price, quantity, total_cost, sales_date FROM sales"
    )
    one = (Decimal("19.99"), 2, Decimal("39.98"))
    assert sorted(loaded) == sorted(
        [
            (ids["sales_data/double.parquet"], 1, *one, date(2024, 1, 2)),
            (ids["sales_data/wide_decimal.parquet"], 1, *one, date(2024, 1, 2)),
            (ids["sales_data/text.parquet"], 1, *one, date(2024, 1, 2)),
            (ids["sales_data/values.jsonl"], 1, *one, date(2024, 1, 2)),
            (ids["sales_data/values.jsonl"], 2, *one, date(2024, 1, 2)),
        ]
    )


# ----------------------------------------------------------------------- JSON Lines, line by line
GOOD = (
    '"customer_id": 1, "store_id": 121, "product_name": "sugar", "sales_date": "2024-01-02", '
    '"sales_person_id": 2, "price": 50.00, "quantity": 1, "total_cost": 50.00'
)
LINES_WITH_EXTRAS = [
    '{"Payment_Mode": "UPI", ' + GOOD + ', "channel": "web"}',
    "",
    '{"channel": "store", ' + GOOD + ', " Coupon ": 5, "tags": ["a", 1]}',
    "{" + GOOD + "}",
    "[1, 2]",
    '{"price": 1, ' + GOOD.replace('"price"', '"Price"') + "}",
    "{" + GOOD + '} {"customer_id": 2}',
    "   ",
    '{"Customer_ID": 1, "STORE_ID": 121, "product_name": "sugar", "sales_date": "2024-01-02", '
    '"sales_person_id": 2, "price": 50.00, "quantity": 1, "total_cost": 50.00, "note": null}',
    '{" ": 1, ' + GOOD + "}",
]


def test_json_lines_fold_each_lines_own_keys_and_reject_what_is_not_an_object(spark, environment):
    settings = environment("jsonl")
    put_files(settings, {"sales_data/lines.jsonl": "\r\n".join(LINES_WITH_EXTRAS).encode()})
    run_job(spark, settings, "run-1", AS_OF)

    (file_id,) = ids_by_key(settings).values()
    assert [(line, extras) for line, *_, extras in facts(settings, file_id)] == [
        (1, '{"payment_mode":"UPI","channel":"web"}'),
        (3, '{"channel":"store","coupon":"5","tags":"[\\"a\\",\\"1\\"]"}'),
        (4, None),
        (9, '{"note":null}'),
    ]
    assert rejects(settings, "run-1", file_id) == [
        (5, "malformed_row", "[1, 2]"),
        (6, "malformed_row", LINES_WITH_EXTRAS[5]),  # a key twice (names compared as header names)
        (7, "malformed_row", LINES_WITH_EXTRAS[6]),  # something after the object
        (10, "malformed_row", LINES_WITH_EXTRAS[9]),  # a blank name
    ]


# ------------------------------------------------------------------------- splits between tasks
def test_line_numbers_hold_when_spark_splits_a_file_between_tasks(spark, tmp_path):
    """Small splits: a JSON Lines file and a Parquet file of many row groups read by many tasks."""
    lines = [("" if n % 7 == 0 else f'{{"customer_id": "{n}"}}') for n in range(1, 30_001)]
    (tmp_path / "0000000001.jsonl").write_text("\n".join(lines) + "\n")
    table = pa.table({c: pa.array([str(n) for n in range(1, 30_001)]) for c in MANDATORY})
    pq.write_table(table, tmp_path / "0000000002.parquet", row_group_size=1000)
    previous = spark.conf.get("spark.sql.files.maxPartitionBytes")
    spark.conf.set("spark.sql.files.maxPartitionBytes", "16384")
    try:
        rows = read_group(spark, "jsonl", [str(tmp_path / "0000000001.jsonl")], [], MANDATORY).unionByName(
            read_group(spark, "parquet", [str(tmp_path / "0000000002.parquet")], MANDATORY, MANDATORY)
        )
        assert rows.rdd.getNumPartitions() > 4
        numbers = rows.select("file_id", F.col("customer_id").cast("long").alias("n"), ROW_ID).collect()
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", previous)
    assert sorted((r["file_id"], r[ROW_ID]) for r in numbers) == [
        *[(1, n) for n in range(1, 30_001) if n % 7],
        *[(2, n) for n in range(1, 30_001)],
    ]
    assert all(r["n"] == r[ROW_ID] for r in numbers)


def test_every_member_of_a_gzip_is_read_and_a_long_value_stops_the_read(spark, tmp_path):
    """Issue 21: a legal two-member .csv.gz gives Spark every member's rows (the header in the
    first); a CSV value past the reader's bound fails the read, never the driver's memory."""
    import gzip

    header = ",".join(MANDATORY) + "\n"
    first = "1,121,sugar,2024-01-02,2,50.00,3,150.00\n"
    second = "2,122,maida,2024-01-03,6,20.00,2,40.00\n3,121,sugar,2024-01-04,2,50.00,1,50.00\n"
    path = tmp_path / "0000000007.csv.gz"
    path.write_bytes(gzip.compress((header + first).encode()) + gzip.compress(second.encode()))
    rows = read_group(spark, "csv", [str(path)], MANDATORY, MANDATORY, max_cell_chars=100)
    assert sorted(r["customer_id"] for r in rows.collect()) == ["1", "2", "3"]

    long_value = tmp_path / "0000000008.csv"
    long_value.write_text(header + '1,121,"' + "x" * 101 + '",2024-01-02,2,50.00,3,150.00\n')
    frame = read_group(spark, "csv", [str(long_value)], MANDATORY, MANDATORY, max_cell_chars=100)
    # Spark wraps the parser's error in its own (Py4JJavaError here, another class over Connect).
    with pytest.raises(Exception, match=r"exceeds the maximum number of characters .* settings \(100\)"):
        frame.collect()
