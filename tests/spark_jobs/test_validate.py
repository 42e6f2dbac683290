"""The validation job's pieces: file checks in plain Python, row rules on tiny inline DataFrames."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from include.sample_data.generate import HEADER
from spark_jobs.validate import (
    CORRUPT_COLUMN,
    apply_row_rules,
    check_file,
    fold_extra_columns,
    read_header_group,
    run,
)
from tests.spark_jobs.specs import validation_spec

MANDATORY = list(HEADER)  # the mandatory columns of SPEC, in the generator's order
HEADER = ",".join(MANDATORY)
AS_OF = date(2024, 6, 30)


def write(tmp_path: Path, name: str, content: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


# ------------------------------------------------------------------------------------ file checks
@pytest.mark.parametrize(
    ("key", "content", "reason"),
    [
        ("sales_data/a.txt", HEADER + "\n", "not_csv"),
        ("sales_data/a.csv", b"", "empty_file"),
        ("sales_data/a.csv", b"\x1f\x8b\x08\x00gzipped", "binary_content"),
        ("sales_data/a.csv", HEADER.encode() + b"\n1,\x00,2\n", "binary_content"),
        (
            "sales_data/a.csv",
            HEADER.encode() + b"\n1,121,caf\xe9,2024-01-01,1,1.00,1,1.00\n",
            "bad_encoding:not_utf8",
        ),
        ("sales_data/a.csv", "\n\n", "no_header"),
        ("sales_data/a.csv", HEADER + ",,x\n", "blank_column_name:position_9"),
        ("sales_data/a.csv", HEADER + ",Price \n", "duplicate_columns:price"),
        (
            "sales_data/a.csv",
            "customer_id,store_id,product_name\n1,2,x\n",
            "missing_columns:sales_date,sales_person_id,price,quantity,total_cost",
        ),
        ("sales_data/a.csv", ",".join(f"c{i}" for i in range(1001)) + "\n", "too_many_columns:1001"),
    ],
)
def test_check_file_rejects_unreadable_files(tmp_path, key, content, reason):
    check = check_file(write(tmp_path, "f.csv", content), key, MANDATORY)
    assert check.reason == reason


def test_check_file_accepts_any_order_case_spaces_bom_and_extras(tmp_path):
    header = "\ufeff Store_ID ,payment_mode,CUSTOMER_ID,product_name,sales_date,sales_person_id,price,quantity,total_cost"
    check = check_file(write(tmp_path, "f.csv", header + "\r\n"), "sales_data/x.CSV", MANDATORY)
    assert check.reason is None
    assert check.columns[:3] == ["store_id", "payment_mode", "customer_id"]
    assert check.extra_columns == ["payment_mode"]


# ------------------------------------------------------------------------------------- reading
def test_read_header_group_numbers_lines_per_file(spark, tmp_path):
    write(tmp_path, "0000000007.csv", 'a,b\n1,2\n"x\ny",3\n4,5\n')
    write(tmp_path, "0000000008.csv", "a,b\n6,7\n8\n")
    df = read_header_group(
        spark, [str(tmp_path / "0000000007.csv"), str(tmp_path / "0000000008.csv")], ["a", "b"]
    )
    rows = sorted((r.file_id, r.line_number, r.a, r.b, r[CORRUPT_COLUMN]) for r in df.collect())
    assert rows == [
        (7, 2, "1", "2", None),
        (7, 3, "x\ny", "3", None),
        (7, 4, "4", "5", None),
        (8, 2, "6", "7", None),
        (8, 3, "8", None, "8"),
    ]


# ------------------------------------------------------------------------------------ transforms
RAW_SCHEMA = T.StructType(
    [
        T.StructField(c, T.StringType())
        for c in [
            "customer_id",
            "store_id",
            "payment_mode",
            "product_name",
            "sales_date",
            "sales_person_id",
            "price",
            "quantity",
            "total_cost",
            "channel",
            CORRUPT_COLUMN,
        ]
    ]
    + [T.StructField("file_id", T.LongType()), T.StructField("line_number", T.LongType())]
)


def test_fold_extra_columns_keeps_header_order_and_nulls(spark):
    df = spark.createDataFrame(
        [("1", "121", "UPI", "sugar", "2024-01-02", "2", "50.00", "1", "50.00", None, None, 3, 2)], RAW_SCHEMA
    )
    folded = fold_extra_columns(df, MANDATORY, ["payment_mode", "channel"])
    assert folded.columns == [*MANDATORY, "additional_column", CORRUPT_COLUMN, "file_id", "line_number"]
    assert json.loads(folded.first()["additional_column"]) == {"payment_mode": "UPI", "channel": None}
    assert folded.first()["additional_column"] == '{"payment_mode":"UPI","channel":null}'
    assert fold_extra_columns(df, MANDATORY, []).first()["additional_column"] is None


def dims(spark):
    customers = spark.createDataFrame([(1,), (2,)], "customer_id int")
    stores = spark.createDataFrame([(121,), (122,)], "store_id int")
    people = spark.createDataFrame([(2,), (3,)], "sales_person_id int")
    products = spark.createDataFrame([("sugar",), ("maida",)], "product_name string")
    return customers, stores, people, products


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
    ({CORRUPT_COLUMN: "1,121"}, "malformed_row"),
    ({"customer_id": None}, "missing_value:customer_id"),
    ({"product_name": "   "}, "missing_value:product_name"),
    ({"store_id": "12x"}, "invalid_type:store_id"),
    ({"sales_person_id": "2.0"}, "invalid_type:sales_person_id"),
    ({"quantity": "99999999999"}, "invalid_type:quantity"),
    ({"price": "NaN"}, "invalid_type:price"),
    ({"price": "inf"}, "invalid_type:price"),
    ({"price": "50.001"}, "invalid_type:price"),
    ({"price": "123456789.00"}, "invalid_type:price"),
    ({"total_cost": "1e3"}, "invalid_type:total_cost"),
    ({"sales_date": "2024-02-30"}, "invalid_type:sales_date"),
    ({"sales_date": "02/01/2024"}, "invalid_type:sales_date"),
    ({"quantity": "0", "total_cost": "0.00"}, "non_positive_quantity"),
    ({"quantity": "-1", "total_cost": "-50.00"}, "non_positive_quantity"),
    ({"price": "-1.00", "total_cost": "-3.00"}, "negative_price"),
    ({"total_cost": "150.02"}, "total_cost_mismatch"),
    ({"sales_date": "2024-07-01"}, "future_sales_date"),
    ({"customer_id": "3"}, "unknown_customer"),
    ({"store_id": "999"}, "unknown_store"),
    ({"sales_person_id": "9"}, "unknown_sales_person"),
    ({"product_name": "Sugar"}, "unknown_product"),
    ({"customer_id": "", "store_id": "x", "quantity": "0"}, "missing_value:customer_id"),  # first rule wins
    ({"quantity": "0", "customer_id": "3"}, "non_positive_quantity"),
]


TEXT_SCHEMA = T.StructType(
    [T.StructField(c, T.StringType()) for c in [*MANDATORY, "additional_column", CORRUPT_COLUMN]]
    + [T.StructField("file_id", T.LongType()), T.StructField("line_number", T.LongType())]
)


def text_row(values: dict, additional_column: str | None, file_id: int, line_number: int) -> tuple:
    return (
        *[values.get(c) for c in MANDATORY],
        additional_column,
        values.get(CORRUPT_COLUMN),
        file_id,
        line_number,
    )


def test_apply_row_rules_gives_each_row_its_reason(spark):
    rows = [text_row({**GOOD, **changes}, None, 1, line) for line, (changes, _) in enumerate(CASES, start=2)]
    df = spark.createDataFrame(rows, TEXT_SCHEMA)
    checked = apply_row_rules(df, MANDATORY, AS_OF, *dims(spark))
    got = {r.line_number: r.reject_reason for r in checked.select("line_number", "reject_reason").collect()}
    assert got == {line: reason for line, (_, reason) in enumerate(CASES, start=2)}


def test_apply_row_rules_types_the_valid_rows(spark):
    df = spark.createDataFrame([text_row(GOOD, '{"payment_mode":"UPI"}', 4, 2)], TEXT_SCHEMA)
    checked = apply_row_rules(df, MANDATORY, AS_OF, *dims(spark)).select(
        *MANDATORY, "additional_column", "file_id", "line_number", "reject_reason"
    )
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
                '{"payment_mode":"UPI"}',
                4,
                2,
                None,
            )
        ],
        "customer_id int, store_id int, product_name string, sales_date date, sales_person_id int, "
        "price decimal(10,2), quantity int, total_cost decimal(12,2), additional_column string, "
        "file_id long, line_number long, reject_reason string",
    )
    assertDataFrameEqual(checked, expected, checkRowOrder=False)
    assert checked.schema == expected.schema


def test_run_writes_manifest_valid_rows_and_rejects(spark, tmp_path, mysql_database):
    """The job on real files and the real dimension tables (JDBC to the session's database)."""
    from salesflow.config import load_settings

    settings = load_settings()
    good = write(
        tmp_path,
        "0000000001.csv",
        HEADER + "\n1,121,sugar,2024-01-02,2,50.00,3,150.00\n2,122,maida,2024-01-03,6,20.00,2,40.00\n",
    )
    mixed = write(
        tmp_path,
        "0000000002.csv",
        "Store_ID,customer_id,product_name,sales_date,sales_person_id,price,"
        "quantity,total_cost,payment_mode\n"
        "121,1,sugar,2024-01-02,2,50.00,3,150.00,UPI\n"
        "121,1,sugar,2024-01-02,2,50.00,3,150.50,cash\n"
        "121,1,sugar,2099-01-02,2,50.00,3,150.00,card\n",
    )
    empty = write(tmp_path, "0000000003.csv", b"")
    files = [
        {"file_id": 1, "object_key": "sales_data/good.csv", "local_path": str(good), "pre_reason": None},
        {
            "file_id": 2,
            "object_key": "sales_data/mixed.csv",
            "local_path": str(mixed),
            "pre_reason": None,
        },
        {
            "file_id": 3,
            "object_key": "sales_data/empty.csv",
            "local_path": str(empty),
            "pre_reason": None,
        },
        {
            "file_id": 4,
            "object_key": "sales_data/../x.csv",
            "local_path": str(good),
            "pre_reason": "unsafe_key",
        },
    ]
    spec = validation_spec(settings, tmp_path / "out", "t1", files, MANDATORY)
    manifest = run(spark, spec)
    by_id = {f["file_id"]: f for f in manifest["files"]}
    assert [
        (f["status"], f["reason"], f["rows_read"], f["rows_valid"], f["rows_rejected"])
        for f in manifest["files"]
    ] == [
        ("valid", None, 2, 2, 0),
        ("valid", None, 3, 1, 2),
        ("invalid", "empty_file", 0, 0, 0),
        ("invalid", "unsafe_key", 0, 0, 0),
    ]
    assert by_id[2]["rejected_by_reason"] == {"total_cost_mismatch": 1, "future_sales_date": 1}
    assert json.loads((tmp_path / "out" / "manifest.json").read_text()) == json.loads(json.dumps(manifest))

    valid = spark.read.parquet(str(tmp_path / "out" / "valid"))
    assert sorted(
        (r.file_id, r.line_number, r.customer_id, r.additional_column) for r in valid.collect()
    ) == [
        (1, 2, 1, None),
        (1, 3, 2, None),
        (2, 2, 1, '{"payment_mode":"UPI"}'),
    ]
    rejected = spark.read.option("header", True).csv(str(tmp_path / "out" / "rejected"))
    assert sorted((r.file_id, r.line_number, r.reject_reason, r.total_cost) for r in rejected.collect()) == [
        (2, "3", "total_cost_mismatch", "150.50"),
        (2, "4", "future_sales_date", "150.00"),
    ]


def test_the_latest_sales_date_can_differ_per_file(spark):
    rows = [
        text_row({**GOOD, "sales_date": "2024-07-10"}, None, 1, 2),
        text_row({**GOOD, "sales_date": "2024-07-10"}, None, 2, 2),
        text_row({**GOOD, "sales_date": "2024-07-10"}, None, 3, 2),
    ]
    checked = apply_row_rules(
        spark.createDataFrame(rows, TEXT_SCHEMA),
        MANDATORY,
        AS_OF,
        *dims(spark),
        as_of_by_file={1: date(2024, 7, 10), 2: date(2024, 7, 9)},
    )
    got = {r.file_id: r.reject_reason for r in checked.collect()}
    assert got == {1: None, 2: "future_sales_date", 3: "future_sales_date"}
