"""The summaries and the marts built from them, on tiny inline DataFrames; values by hand."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pyspark.testing import assertDataFrameEqual

from spark_jobs import marts
from spark_jobs.object_store import read_bytes
from spark_jobs.plan import comparison_months_to_rewrite
from spark_jobs.write import FACT_KEY, write_load_csv

FACT_SCHEMA = (
    "file_id long, line_number long, customer_id int, store_id int, product_id int, product_name string, "
    "sales_date date, sales_month string, sales_person_id int, price decimal(10,2), quantity int, "
    "total_cost decimal(12,2), additional_column string, customer_full_name string, sales_person_full_name string"
)
# The row: every value within its type, total_cost near the largest DECIMAL(12,2).
BIG_PRICE, BIG_QUANTITY, BIG_TOTAL = "99999999.99", 100, Decimal("9999999999.00")


def customers(spark):
    return spark.createDataFrame(
        [(1, "Asha", "Rao", "1 MG Road", "9000000001"), (2, "Ravi", "Das", "2 Park St", None)],
        "customer_id int, first_name string, last_name string, address string, phone_number string",
    )


def sales_team(spark):
    return spark.createDataFrame(
        [(1, "Mina", "Shah"), (2, "Omar", "Khan"), (3, "Lata", "Iyer")],
        "id int, first_name string, last_name string",
    )


def fact(customer_id, store_id, person, day, total, file_id=1, line=2, product=1, quantity=1, price=None):
    total = Decimal(total)
    price = Decimal(price) if price is not None else total / quantity
    return (
        file_id, line, customer_id, store_id, product, "sugar", date.fromisoformat(day), day[:7], person,
        price, quantity, total, None, "x", "y",
    )  # fmt: skip


def customers_data_mart_of(spark, facts):
    months = marts.customer_months(marts.customer_summary(spark.createDataFrame(facts, FACT_SCHEMA)))
    return marts.customers_data_mart(months, customers(spark))


def team_mart(spark, facts):
    months = marts.sales_team_months(marts.sales_team_summary(spark.createDataFrame(facts, FACT_SCHEMA)))
    return {
        (r.store_id, r.sales_person_id, r.sales_month): (r.full_name, r.total_sales, r.incentive)
        for r in marts.sales_team_data_mart(months, sales_team(spark)).collect()
    }


def test_summaries_hold_each_files_sums_per_key_and_month(spark):
    facts = spark.createDataFrame(
        [
            fact(1, 121, 1, "2024-01-03", "100.10", file_id=1, quantity=2),
            fact(1, 121, 2, "2024-01-31", "0.05", file_id=1, line=3, quantity=1),
            fact(1, 121, 1, "2024-01-09", "7.00", file_id=2, product=2, quantity=7),
        ],
        FACT_SCHEMA,
    )
    assertDataFrameEqual(
        marts.customer_summary(facts),
        spark.createDataFrame(
            [
                (1, 1, "2024-01", Decimal("100.15"), 2, date(2024, 1, 31)),
                (2, 1, "2024-01", Decimal("7.00"), 1, date(2024, 1, 9)),
            ],
            "file_id long, customer_id int, sales_month string, total_sales decimal(38,2), sales_count long, "
            "last_purchase_date date",
        ),
    )
    assertDataFrameEqual(
        marts.sales_team_summary(facts),
        spark.createDataFrame(
            [
                (1, 121, 1, "2024-01", Decimal("100.10"), Decimal(2), 1),
                (1, 121, 2, "2024-01", Decimal("0.05"), Decimal(1), 1),
                (2, 121, 1, "2024-01", Decimal("7.00"), Decimal(7), 1),
            ],
            "file_id long, store_id int, sales_person_id int, sales_month string, total_sales decimal(38,2), "
            "quantity_sold decimal(38,0), sales_count long",
        ),
    )
    assertDataFrameEqual(
        marts.product_summary(facts),
        spark.createDataFrame(
            [
                (1, 1, "2024-01", Decimal("100.15"), Decimal(3), 2),
                (2, 2, "2024-01", Decimal("7.00"), Decimal(7), 1),
            ],
            "file_id long, product_id int, sales_month string, total_sales decimal(38,2), "
            "quantity_sold decimal(38,0), sales_count long",
        ),
    )


def test_customer_mart_sums_per_customer_and_month_over_all_files(spark):
    got = customers_data_mart_of(
        spark,
        [
            fact(1, 121, 1, "2024-01-03", "100.10", file_id=1),
            fact(1, 122, 2, "2024-01-31", "0.05", file_id=2),
            fact(1, 121, 1, "2024-02-01", "7.00", file_id=2, line=3),
            fact(2, 121, 1, "2024-01-15", "19.99", file_id=3),
        ],
    )
    expected = spark.createDataFrame(
        [
            (1, "Asha Rao", "1 MG Road", "9000000001", "2024-01", Decimal("100.15")),
            (1, "Asha Rao", "1 MG Road", "9000000001", "2024-02", Decimal("7.00")),
            (2, "Ravi Das", "2 Park St", None, "2024-01", Decimal("19.99")),
        ],
        "customer_id int, full_name string, address string, phone_number string, sales_date_month string, "
        "total_sales decimal(38,2)",
    )
    assertDataFrameEqual(got, expected)


def test_incentive_goes_to_the_clear_winner_of_each_store_month(spark):
    got = team_mart(
        spark,
        [
            fact(1, 121, 1, "2024-01-02", "1000.00"),
            fact(1, 121, 1, "2024-01-09", "234.57", line=3),  # person 1: 1234.57 -> 12.35 (half up)
            fact(1, 121, 2, "2024-01-02", "1234.56", line=4),
            fact(1, 122, 2, "2024-01-02", "10.00", line=5),  # alone in store 122: wins there
            fact(1, 121, 2, "2024-02-02", "5.00", line=6),  # another month, another ranking
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
            fact(1, 121, 2, "2024-03-03", "300.25", line=3),
            fact(1, 121, 2, "2024-03-04", "200.25", line=4),
            fact(1, 121, 3, "2024-03-04", "500.49", line=5),
        ],
    )
    assert got == {
        (121, 1, "2024-03"): ("Mina Shah", Decimal("500.50"), Decimal("5.01")),
        (121, 2, "2024-03"): ("Omar Khan", Decimal("500.50"), Decimal("5.01")),
        (121, 3, "2024-03"): ("Lata Iyer", Decimal("500.49"), Decimal("0.00")),
    }


def test_a_month_split_over_two_files_is_ranked_on_all_its_sales(spark):
    file_one = [
        fact(1, 121, 1, "2024-04-02", "900.00", file_id=1),
        fact(1, 121, 2, "2024-04-03", "100.00", file_id=1, line=3),
    ]
    file_two = [fact(1, 121, 2, "2024-04-20", "850.00", file_id=2)]
    # File two alone would crown person 2 with 850.00; over the whole month person 2 has 950.00 and
    # person 1 has 900.00: person 2 wins with 9.50, person 1 gets nothing.
    assert team_mart(spark, file_two) == {
        (121, 2, "2024-04"): ("Omar Khan", Decimal("850.00"), Decimal("8.50"))
    }
    assert team_mart(spark, file_one + file_two) == {
        (121, 1, "2024-04"): ("Mina Shah", Decimal("900.00"), Decimal("0.00")),
        (121, 2, "2024-04"): ("Omar Khan", Decimal("950.00"), Decimal("9.50")),
    }


def test_sums_far_past_any_month_fit_without_an_error(spark):
    """20,000 rows of 9,999,999,999.00 each (the overflow of issue 15), and a summary at 10**26."""
    rows = [
        fact(1, 121, 1, "2024-05-01", BIG_TOTAL, line=n, quantity=BIG_QUANTITY, price=BIG_PRICE)
        for n in range(20_000)
    ]
    assert team_mart(spark, rows) == {
        (121, 1, "2024-05"): ("Mina Shah", Decimal("199999999980000.00"), Decimal("1999999999800.00"))
    }
    huge = Decimal("99999999999999999999999999.99")  # 10**26 - 0.01: the README's bound
    summary = spark.createDataFrame(
        [
            (1, 1, "2024-05", huge, 10**16, date(2024, 5, 1)),
            (2, 1, "2024-05", Decimal("0.01"), 1, date(2024, 5, 2)),
        ],
        "file_id long, customer_id int, sales_month string, total_sales decimal(38,2), sales_count long, "
        "last_purchase_date date",
    )
    row = marts.customers_data_mart(marts.customer_months(summary), customers(spark)).first()
    assert row.total_sales == huge + Decimal("0.01")


def test_the_comparison_months_a_change_reaches(spark):
    # A change in March: March, April and next March; the data's bounds did not move.
    assert comparison_months_to_rewrite(["2024-03"], ["2024-01", "2024-03"], ["2024-01", "2024-03"]) == {
        "2024-03",
        "2024-04",
        "2025-03",
    }
    # A new first month (December): every month whose priors were NULL before, up to a year on.
    got = comparison_months_to_rewrite(["2023-12"], ["2024-01", "2024-02"], ["2023-12", "2024-01", "2024-02"])
    assert got == {"2023-12", "2024-01", "2024-02", *[f"2024-{m:02d}" for m in range(3, 13)]}


def test_the_load_csv_is_in_key_order_with_each_files_rows_together(spark, bucket):
    # LOAD DATA of the parts, in the order returned, inserts each file's rows in key order at one
    # place of the clustered index (no random inserts).
    keys = [(file_id, line) for file_id in (7, 3, 5) for line in range(200, 1, -1)]
    rows = [fact(1, 121, 1, "2024-03-02", "1.00", file_id=f, line=n) for f, n in keys]
    by_file = spark.createDataFrame(rows, FACT_SCHEMA).repartition(2, "file_id")  # as read: a file per task
    folder = f"s3a://{bucket}/load-csv-test"
    parts = write_load_csv(by_file, f"{folder}/facts", FACT_KEY, whole_files=True)
    loaded = [
        [tuple(int(v) for v in line.split(",")[:2]) for line in read_bytes(p).decode().splitlines()]
        for p in parts
    ]
    assert sorted(k for part in loaded for k in part) == sorted(keys)
    for part in loaded:
        assert part == sorted(part)
        assert len({f for f, _ in part}) == len(
            [f for i, (f, _) in enumerate(part) if i == 0 or part[i - 1][0] != f]
        )
    # A small output is one part, sorted.
    (single,) = write_load_csv(
        spark.createDataFrame(rows, FACT_SCHEMA).repartition(3), f"{folder}/small", FACT_KEY
    )
    lines = read_bytes(single).decode().splitlines()
    assert [tuple(int(v) for v in line.split(",")[:2]) for line in lines] == sorted(keys)
