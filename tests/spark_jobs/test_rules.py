"""Reading the files and the row rules, on tiny files and inline DataFrames; values by hand."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from include.sample_data.generate import HEADER
from spark_jobs.readers import (
    CORRUPT_COLUMN,
    ROW_ID,
    fold_extra_columns,
    line_starts,
    number_lines,
    read_csv_group,
)
from spark_jobs.rules import ADDITIONAL_COLUMN_MAX_BYTES, Dimensions, apply_row_rules

MANDATORY = list(HEADER)  # the mandatory columns of SPEC, in the generator's order
AS_OF = date(2024, 6, 30)


def write(tmp_path: Path, name: str, content: str) -> str:
    path = tmp_path / name
    path.write_text(content)
    return str(path)


def read_numbered(spark, paths: list[str], columns: list[str]):
    rows = read_csv_group(spark, paths, columns)
    first = {
        r["file_id"]: r["first"] for r in rows.groupBy("file_id").agg(F.min(ROW_ID).alias("first")).collect()
    }
    return number_lines(rows, line_starts(spark, first, dict.fromkeys(first, "csv")))


# ------------------------------------------------------------------------------------- reading
def test_lines_are_numbered_per_file_without_a_shuffle_of_the_rows(spark, tmp_path):
    paths = [
        write(tmp_path, "0000000007.csv", 'a,b\n1,2\n"x\ny",3\n4,5\n'),
        write(tmp_path, "0000000008.csv", "a,b\n6,7\n8\n"),
    ]
    df = read_numbered(spark, paths, ["a", "b"])
    rows = sorted((r.file_id, r.line_number, r.a, r.b, r[CORRUPT_COLUMN]) for r in df.collect())
    assert rows == [
        (7, 2, "1", "2", None),
        (7, 3, "x\ny", "3", None),  # a quoted value over two lines is one record
        (7, 4, "4", "5", None),
        (8, 2, "6", "7", None),
        (8, 3, "8", None, "8"),
    ]
    plan = df._jdf.queryExecution().executedPlan().toString()
    assert "Window" not in plan and "Sort" not in plan


def test_many_files_in_one_task_keep_their_own_line_numbers(spark, tmp_path):
    paths = [
        write(tmp_path, f"{i:010d}.csv", "a\n" + "".join(f"{i}-{n}\n" for n in range(i)))
        for i in range(1, 30)
    ]
    df = read_numbered(spark, paths, ["a"])
    assert sorted((r.file_id, r.line_number, r.a) for r in df.collect()) == [
        (i, n + 2, f"{i}-{n}") for i in range(1, 30) for n in range(i)
    ]


RAW_SCHEMA = T.StructType(
    [
        T.StructField(c, T.StringType())
        for c in [*MANDATORY[:2], "payment_mode", *MANDATORY[2:], "channel", CORRUPT_COLUMN]
    ]
    + [T.StructField("file_id", T.LongType()), T.StructField(ROW_ID, T.LongType())]
)


def test_extra_columns_fold_into_json_in_header_order_with_nulls(spark):
    df = spark.createDataFrame(
        [("1", "121", "UPI", "sugar", "2024-01-02", "2", "50.00", "1", "50.00", None, None, 3, 2)], RAW_SCHEMA
    )
    folded = fold_extra_columns(df, MANDATORY, ["payment_mode", "channel"])
    assert folded.columns == [*MANDATORY, "additional_column", CORRUPT_COLUMN, "file_id", ROW_ID]
    assert folded.first()["additional_column"] == '{"payment_mode":"UPI","channel":null}'
    assert json.loads(folded.first()["additional_column"]) == {"payment_mode": "UPI", "channel": None}
    assert fold_extra_columns(df, MANDATORY, []).first()["additional_column"] is None


# ---------------------------------------------------------------------------------------- rules
def dims(spark) -> Dimensions:
    return Dimensions(
        customers=spark.createDataFrame(
            [(1, "Asha Rao"), (2, "Ravi Das")], "customer_id int, customer_full_name string"
        ),
        stores=spark.createDataFrame([(121,), (122,)], "store_id int"),
        products=spark.createDataFrame([("sugar", 2), ("maida", 3)], "product_name string, product_id int"),
        sales_people=spark.createDataFrame(
            [(2, "Omar Khan"), (3, "Lata Iyer")], "sales_person_id int, sales_person_full_name string"
        ),
    )


GOOD = {
    "customer_id": "1",
    "store_id": "121",
    "product_name": "sugar",
    "sales_date": "2024-01-02",
    "sales_person_id": "2",
    "price": "50.00",
    "quantity": "3",
    "total_cost": "150.00",
}

# Each case: the values over a good row, and the one reason code it must get.
CASES = [
    ({}, None),
    ({"customer_id": " 2 ", "price": "50", "total_cost": "150.01"}, None),  # spaces trimmed, 0.01 allowed
    ({"sales_date": "2024-06-30"}, None),  # the run's own day is allowed
    (
        {"price": "99999999.99", "quantity": "100", "total_cost": "9999999999.00"},
        None,
    ),  # at the types' limits
    ({"sales_date": "1000-01-01"}, None),  # MySQL's first DATE
    ({CORRUPT_COLUMN: "1,121"}, "malformed_row"),
    ({"customer_id": None}, "missing_value:customer_id"),
    ({"product_name": "   "}, "missing_value:product_name"),
    ({"store_id": "12x"}, "invalid_type:store_id"),
    ({"sales_person_id": "2.0"}, "invalid_type:sales_person_id"),
    ({"quantity": "99999999999"}, "invalid_type:quantity"),
    ({"customer_id": "2147483648"}, "invalid_type:customer_id"),  # one past INT
    ({"price": "NaN"}, "invalid_type:price"),
    ({"price": "inf"}, "invalid_type:price"),
    ({"price": "50.001"}, "invalid_type:price"),
    ({"price": "123456789.00"}, "invalid_type:price"),
    ({"total_cost": "10000000000.00"}, "invalid_type:total_cost"),  # one past DECIMAL(12,2)
    ({"total_cost": "1e3"}, "invalid_type:total_cost"),
    ({"sales_date": "2024-02-30"}, "invalid_type:sales_date"),
    ({"sales_date": "02/01/2024"}, "invalid_type:sales_date"),
    ({"sales_date": "0999-12-31"}, "out_of_range:sales_date"),
    ({"quantity": "0", "total_cost": "0.00"}, "non_positive_quantity"),
    ({"quantity": "-1", "total_cost": "-50.00"}, "non_positive_quantity"),
    ({"price": "-1.00", "total_cost": "-3.00"}, "negative_price"),
    ({"total_cost": "150.02"}, "total_cost_mismatch"),
    ({"sales_date": "2024-07-01"}, "future_sales_date"),
    ({"sales_date": "9999-12-31"}, "future_sales_date"),
    ({"customer_id": "3"}, "unknown_customer"),
    ({"store_id": "999"}, "unknown_store"),
    ({"sales_person_id": "9"}, "unknown_sales_person"),
    ({"product_name": "Sugar"}, "unknown_product"),
    ({"customer_id": "", "store_id": "x", "quantity": "0"}, "missing_value:customer_id"),  # first rule wins
    ({"quantity": "0", "customer_id": "3"}, "non_positive_quantity"),
]

TEXT_SCHEMA = T.StructType(
    [T.StructField(c, T.StringType()) for c in [*MANDATORY, "additional_column", CORRUPT_COLUMN]]
    + [T.StructField("file_id", T.LongType()), T.StructField(ROW_ID, T.LongType())]
)


def text_row(values: dict, additional_column: str | None, file_id: int, row_id: int) -> tuple:
    return (
        *[values.get(c) for c in MANDATORY],
        additional_column,
        values.get(CORRUPT_COLUMN),
        file_id,
        row_id,
    )


def test_each_row_gets_the_first_rule_it_breaks(spark):
    rows = [text_row({**GOOD, **changes}, None, 1, n) for n, (changes, _) in enumerate(CASES)]
    checked = apply_row_rules(spark.createDataFrame(rows, TEXT_SCHEMA), MANDATORY, AS_OF, dims(spark))
    got = {r[ROW_ID]: r.reject_reason for r in checked.select(ROW_ID, "reject_reason").collect()}
    assert got == {n: reason for n, (_, reason) in enumerate(CASES)}


@pytest.mark.parametrize(
    ("size", "reason"),
    [
        (ADDITIONAL_COLUMN_MAX_BYTES, None),
        (ADDITIONAL_COLUMN_MAX_BYTES + 1, "value_too_long:additional_column"),
    ],
)
def test_the_extra_columns_json_has_a_byte_limit(spark, size, reason):
    prefix = '{"note":"'
    value = prefix + "€" * ((size - len(prefix) - 2) // 3) + "x" * ((size - len(prefix) - 2) % 3) + '"}'
    assert len(value.encode()) == size
    df = spark.createDataFrame([text_row(GOOD, value, 1, 0)], TEXT_SCHEMA)
    assert apply_row_rules(df, MANDATORY, AS_OF, dims(spark)).first().reject_reason == reason


def test_valid_rows_are_typed_and_enriched_and_keep_no_text_copy(spark):
    df = spark.createDataFrame([text_row(GOOD, '{"payment_mode":"UPI"}', 4, 9)], TEXT_SCHEMA)
    checked = apply_row_rules(df, MANDATORY, AS_OF, dims(spark))
    expected = spark.createDataFrame(
        [
            (
                1,
                121,
                "sugar",
                date(2024, 1, 2),
                2,
                Decimal("50.00"),
                3,
                Decimal("150.00"),
                2,
                "Asha Rao",
                "Omar Khan",
                "2024-01",
                '{"payment_mode":"UPI"}',
                4,
                9,
                None,
                *[None] * len(MANDATORY),
                None,
            )
        ],
        "customer_id int, store_id int, product_name string, sales_date date, sales_person_id int, "
        "price decimal(10,2), quantity int, total_cost decimal(12,2), product_id int, customer_full_name string, "
        "sales_person_full_name string, sales_month string, additional_column string, file_id long, _row_id long, "
        "reject_reason string, " + ", ".join(f"{c}__text string" for c in MANDATORY) + ", raw_record string",
    )
    assertDataFrameEqual(checked, expected)
    assert checked.schema == expected.schema


def test_a_rejected_row_keeps_its_original_text(spark):
    df = spark.createDataFrame([text_row({**GOOD, "price": " 5O.00 "}, None, 1, 0)], TEXT_SCHEMA)
    row = apply_row_rules(df, MANDATORY, AS_OF, dims(spark)).first()
    assert (row.reject_reason, row.price, row.price__text, row.store_id__text) == (
        "invalid_type:price",
        None,
        "5O.00",
        "121",
    )


def test_the_latest_sales_date_can_differ_per_file(spark):
    rows = [text_row({**GOOD, "sales_date": "2024-07-10"}, None, f, 0) for f in (1, 2, 3)]
    checked = apply_row_rules(
        spark.createDataFrame(rows, TEXT_SCHEMA),
        MANDATORY,
        AS_OF,
        dims(spark),
        as_of_by_file={1: date(2024, 7, 10), 2: date(2024, 7, 9)},
    )
    assert {r.file_id: r.reject_reason for r in checked.collect()} == {
        1: None,
        2: "future_sales_date",
        3: "future_sales_date",
    }
