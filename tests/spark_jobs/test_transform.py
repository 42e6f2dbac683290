"""The transform's pure functions on tiny inline DataFrames, with values computed by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from pyspark.testing import assertDataFrameEqual

from spark_jobs.transform import (
    FACT_COLUMNS,
    FACT_KEY,
    customer_mart,
    enrich,
    sales_team_mart,
    write_load_csv,
)
from spark_jobs.validate import fold_extra_columns, read_header_group

VALID_ROW_SCHEMA = (
    "customer_id int, store_id int, product_name string, sales_date date, sales_person_id int, "
    "price decimal(10,2), quantity int, total_cost decimal(12,2), additional_column string, "
    "file_id long, line_number long"
)
FACT_SCHEMA = (
    "file_id long, line_number long, customer_id int, store_id int, product_id int, product_name string, "
    "sales_date date, sales_month string, sales_person_id int, price decimal(10,2), quantity int, "
    "total_cost decimal(12,2), additional_column string, customer_full_name string, sales_person_full_name string"
)


def dimensions(spark):
    customers = spark.createDataFrame(
        [
            (1, "Asha", "Rao", "1 MG Road", "560001", "9000000001"),
            (2, "Ravi", "Das", "2 Park St", "700016", None),
        ],
        "customer_id int, first_name string, last_name string, address string, pincode string, phone_number string",
    )
    stores = spark.createDataFrame([(121,), (122,)], "id int")
    products = spark.createDataFrame([(1, "sugar"), (2, "maida")], "id int, name string")
    sales_team = spark.createDataFrame(
        [(1, "Mina", "Shah"), (2, "Omar", "Khan"), (3, "Lata", "Iyer")],
        "id int, first_name string, last_name string",
    )
    return customers, stores, products, sales_team


def fact(customer_id, store_id, person, month_day, total, file_id=1, line=2):
    total = Decimal(total)
    return (
        file_id, line, customer_id, store_id, 1, "sugar", date.fromisoformat(month_day), month_day[:7], person,
        total, 1, total, None, "x", "y",
    )  # fmt: skip


def test_enrich_joins_the_dimensions_and_rejects_unknown_keys(spark):
    customers, stores, products, sales_team = dimensions(spark)
    rows = spark.createDataFrame(
        [
            (
                1,
                121,
                "sugar",
                date(2024, 1, 5),
                2,
                Decimal("50.00"),
                2,
                Decimal("100.00"),
                '{"payment_mode":"UPI"}',
                9,
                2,
            ),
            (3, 121, "sugar", date(2024, 1, 5), 2, Decimal("50.00"), 1, Decimal("50.00"), None, 9, 3),
            (1, 999, "sugar", date(2024, 1, 5), 2, Decimal("50.00"), 1, Decimal("50.00"), None, 9, 4),
            (1, 121, "sugar", date(2024, 1, 5), 7, Decimal("50.00"), 1, Decimal("50.00"), None, 9, 5),
            (1, 121, "salt", date(2024, 1, 5), 2, Decimal("50.00"), 1, Decimal("50.00"), None, 9, 6),
            (2, 122, "maida", date(2024, 2, 29), 3, Decimal("20.00"), 3, Decimal("60.00"), None, 10, 2),
        ],
        VALID_ROW_SCHEMA,
    )
    enriched = enrich(rows, customers, stores, products, sales_team)
    expected = spark.createDataFrame(
        [
            (9, 2, 1, 121, 1, "sugar", date(2024, 1, 5), "2024-01", 2, Decimal("50.00"), 2, Decimal("100.00"),
             '{"payment_mode":"UPI"}', "Asha Rao", "Omar Khan", None),
            (9, 3, 3, 121, 1, "sugar", date(2024, 1, 5), "2024-01", 2, Decimal("50.00"), 1, Decimal("50.00"),
             None, None, "Omar Khan", "unknown_customer"),
            (9, 4, 1, 999, 1, "sugar", date(2024, 1, 5), "2024-01", 2, Decimal("50.00"), 1, Decimal("50.00"),
             None, "Asha Rao", "Omar Khan", "unknown_store"),
            (9, 5, 1, 121, 1, "sugar", date(2024, 1, 5), "2024-01", 7, Decimal("50.00"), 1, Decimal("50.00"),
             None, "Asha Rao", None, "unknown_sales_person"),
            (9, 6, 1, 121, None, "salt", date(2024, 1, 5), "2024-01", 2, Decimal("50.00"), 1, Decimal("50.00"),
             None, "Asha Rao", "Omar Khan", "unknown_product"),
            (10, 2, 2, 122, 2, "maida", date(2024, 2, 29), "2024-02", 3, Decimal("20.00"), 3, Decimal("60.00"),
             None, "Ravi Das", "Lata Iyer", None),
        ],
        FACT_SCHEMA + ", reject_reason string",
    )  # fmt: skip
    assert enriched.columns == [*FACT_COLUMNS, "reject_reason"]
    assertDataFrameEqual(enriched, expected, checkRowOrder=False)
    assert enriched.count() == rows.count()  # nothing dropped by a join


def test_files_with_different_extras_combine_by_name(spark, tmp_path: Path):
    header = "customer_id,store_id,product_name,sales_date,sales_person_id,price,quantity,total_cost"
    (tmp_path / "0000000001.csv").write_text(
        f"payment_mode,{header}\nUPI,1,121,sugar,2024-01-02,2,50.00,1,50.00\n"
    )
    (tmp_path / "0000000002.csv").write_text(
        f"{header},channel,payment_mode\n2,122,maida,2024-01-03,3,20.00,1,20.00,web,cash\n"
    )
    mandatory = header.split(",")
    first = fold_extra_columns(
        read_header_group(spark, [str(tmp_path / "0000000001.csv")], ["payment_mode", *mandatory]),
        mandatory,
        ["payment_mode"],
    )
    second = fold_extra_columns(
        read_header_group(spark, [str(tmp_path / "0000000002.csv")], [*mandatory, "channel", "payment_mode"]),
        mandatory,
        ["channel", "payment_mode"],
    )
    combined = first.unionByName(second)
    got = sorted((r.file_id, r.customer_id, r.store_id, r.additional_column) for r in combined.collect())
    assert got == [
        (1, "1", "121", '{"payment_mode":"UPI"}'),
        (2, "2", "122", '{"channel":"web","payment_mode":"cash"}'),
    ]


def test_customer_mart_sums_per_customer_and_month(spark):
    customers, *_ = dimensions(spark)
    facts = spark.createDataFrame(
        [
            fact(1, 121, 1, "2024-01-03", "100.10", line=2),
            fact(1, 122, 2, "2024-01-31", "0.05", line=3),
            fact(1, 121, 1, "2024-02-01", "7.00", line=4),
            fact(2, 121, 1, "2024-01-15", "19.99", line=5),
        ],
        FACT_SCHEMA,
    )
    expected = spark.createDataFrame(
        [
            (1, "Asha Rao", "1 MG Road", "9000000001", "2024-01", Decimal("100.15")),
            (1, "Asha Rao", "1 MG Road", "9000000001", "2024-02", Decimal("7.00")),
            (2, "Ravi Das", "2 Park St", None, "2024-01", Decimal("19.99")),
        ],
        "customer_id int, full_name string, address string, phone_number string, sales_date_month string, "
        "total_sales decimal(16,2)",
    )
    assertDataFrameEqual(customer_mart(facts, customers), expected, checkRowOrder=False)


def team_mart(spark, facts):
    *_, sales_team = dimensions(spark)
    return {
        (r.store_id, r.sales_person_id, r.sales_month): (r.full_name, r.total_sales, r.incentive)
        for r in sales_team_mart(spark.createDataFrame(facts, FACT_SCHEMA), sales_team).collect()
    }


def test_incentive_goes_to_the_clear_winner_of_each_store_month(spark):
    got = team_mart(
        spark,
        [
            fact(1, 121, 1, "2024-01-02", "1000.00"),
            fact(1, 121, 1, "2024-01-09", "234.57"),  # person 1: 1234.57 -> 12.35 (half up)
            fact(1, 121, 2, "2024-01-02", "1234.56"),
            fact(1, 122, 2, "2024-01-02", "10.00"),  # alone in store 122: wins there
            fact(1, 121, 2, "2024-02-02", "5.00"),  # another month, another ranking
        ],
    )
    assert got == {
        (121, 1, "2024-01"): ("Mina Shah", Decimal("1234.57"), Decimal("12.35")),
        (121, 2, "2024-01"): ("Omar Khan", Decimal("1234.56"), Decimal("0.00")),
        (122, 2, "2024-01"): ("Omar Khan", Decimal("10.00"), Decimal("0.10")),
        (121, 2, "2024-02"): ("Omar Khan", Decimal("5.00"), Decimal("0.05")),
    }


def test_incentive_goes_to_everyone_tied_at_the_top(spark):
    got = team_mart(
        spark,
        [
            fact(1, 121, 1, "2024-03-02", "500.50"),
            fact(1, 121, 2, "2024-03-03", "300.25"),
            fact(1, 121, 2, "2024-03-04", "200.25"),
            fact(1, 121, 3, "2024-03-04", "500.49"),
        ],
    )
    assert got == {
        (121, 1, "2024-03"): ("Mina Shah", Decimal("500.50"), Decimal("5.01")),
        (121, 2, "2024-03"): ("Omar Khan", Decimal("500.50"), Decimal("5.01")),
        (121, 3, "2024-03"): ("Lata Iyer", Decimal("500.49"), Decimal("0.00")),
    }


def test_a_month_split_over_two_batches_is_ranked_on_all_its_sales(spark):
    batch_one = [
        fact(1, 121, 1, "2024-04-02", "900.00", file_id=1),
        fact(1, 121, 2, "2024-04-03", "100.00", file_id=1),
    ]
    batch_two = [fact(1, 121, 2, "2024-04-20", "850.00", file_id=2)]
    # Batch two alone would crown person 2 with 850.00; over the whole month person 2 has 950.00 and
    # person 1 has 900.00: person 2 wins with 9.50, person 1 gets nothing.
    assert team_mart(spark, batch_two) == {
        (121, 2, "2024-04"): ("Omar Khan", Decimal("850.00"), Decimal("8.50"))
    }
    assert team_mart(spark, batch_one + batch_two) == {
        (121, 1, "2024-04"): ("Mina Shah", Decimal("900.00"), Decimal("0.00")),
        (121, 2, "2024-04"): ("Omar Khan", Decimal("950.00"), Decimal("9.50")),
    }


def test_the_load_csv_parts_come_in_primary_key_order(spark, tmp_path: Path):
    # LOAD DATA of the parts, in the order returned, must only append to the clustered index.
    keys = [(file_id, line) for file_id in (7, 3, 5) for line in range(200, 1, -1)]
    rows = [fact(1, 121, 1, "2024-03-02", "1.00", file_id=f, line=n) for f, n in keys]
    df = spark.createDataFrame(rows, FACT_SCHEMA).repartition(3)
    parts = write_load_csv(df, tmp_path / "sales", FACT_KEY, partitions=2)
    assert len(parts) == 2
    loaded = [
        tuple(int(v) for v in line.split(",")[:2]) for part in parts for line in part.read_text().splitlines()
    ]
    assert loaded == sorted(keys)
