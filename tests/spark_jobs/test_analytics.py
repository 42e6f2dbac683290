"""The analytics (spark_jobs/analytics.py) on tiny inline DataFrames, every expected value worked out
by hand in the test; then the Spark functions against the plain-Python reference
(tests/support/analytics_reference.py) on seeded random facts, for every month."""

from __future__ import annotations

import calendar
import random
from datetime import date
from decimal import Decimal

import pytest
from pyspark.testing import assertDataFrameEqual, assertSchemaEqual

from salesflow.months import add_months
from spark_jobs.analytics import (
    CUSTOMER_MONTH_SCHEMA,
    CUSTOMER_SEGMENTS_COLUMNS,
    CUSTOMER_SEGMENTS_SCHEMA,
    ENTITY_MONTH_SCHEMA,
    SALES_COMPARISON_COLUMNS,
    SALES_COMPARISON_SCHEMA,
    SEGMENTS,
    add_months_column,
    customer_segments,
    month_end,
    sales_comparison,
)
from tests.support.analytics_reference import (
    calendar_months,
    comparison_rows,
    customer_month_rows,
    entity_month_rows,
    segment,
    segment_rows,
    shift,
)

# The schemas written out here, not taken from the module under test.
ENTITY_MONTH_DDL = (
    "level string, entity_id int, entity_name string, month string, total_sales decimal(38,2), "
    "quantity_sold decimal(38,0), sales_count long"
)
COMPARISON_DDL = (
    "level string, entity_id int, month string, entity_name string, total_sales decimal(38,2), "
    "quantity_sold decimal(38,0), sales_count long, prev_month_total_sales decimal(38,2), "
    "mom_change decimal(38,2), mom_change_pct decimal(38,2), prev_year_total_sales decimal(38,2), "
    "yoy_change decimal(38,2), yoy_change_pct decimal(38,2)"
)
CUSTOMER_MONTH_DDL = (
    "customer_id int, month string, total_sales decimal(38,2), sales_count long, last_purchase_date date"
)
SEGMENTS_DDL = (
    "customer_id int, snapshot_month string, recency_days int, frequency long, monetary decimal(38,2), "
    "r_score int, f_score int, m_score int, rfm_score string, segment string"
)
SPEC_SEGMENTS = {
    "Champions", "Loyal", "Potential Loyalists", "New Customers", "Promising", "Need Attention",
    "About to Sleep", "Can't Lose Them", "At Risk", "Hibernating",
}  # fmt: skip


def d(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def em(level: str, entity_id: int, month: str, total: str, quantity: int = 1, count: int = 1, name=None):
    """An entity_months row; the name defaults to '<level> <id>'."""
    return (level, entity_id, name or f"{level} {entity_id}", month, d(total), Decimal(quantity), count)


def out(level, entity_id, month, total, quantity, count, prev, mom, mom_pct, prev_year, yoy, yoy_pct, name=None):  # fmt: skip
    """An expected sales_comparison row, money as strings."""
    return (
        level, entity_id, month, name or f"{level} {entity_id}", d(total), Decimal(quantity), count,
        d(prev), d(mom), d(mom_pct), d(prev_year), d(yoy), d(yoy_pct),
    )  # fmt: skip


def compare(spark, rows: list[tuple], months: list[str], first_month: str):
    return sales_comparison(spark.createDataFrame(rows, ENTITY_MONTH_DDL), months, first_month)


def assert_rows(spark, got, expected_rows: list[tuple], ddl: str) -> None:
    expected = spark.createDataFrame(expected_rows, ddl)
    assertSchemaEqual(got.schema, expected.schema)
    assertDataFrameEqual(got, expected)


# ------------------------------------------------------------------------------------- months
@pytest.mark.parametrize(
    ("month", "n", "expected"),
    [
        ("2023-12", 1, "2024-01"),
        ("2024-01", -1, "2023-12"),
        ("2024-01", -12, "2023-01"),
        ("2024-03", -14, "2023-01"),
        ("2023-11", 14, "2025-01"),
        ("2024-02", 11, "2025-01"),
        ("2024-06", 0, "2024-06"),
        ("2000-01", -25, "1997-12"),
    ],
)
def test_add_months_crosses_year_boundaries(month, n, expected):
    assert add_months(month, n) == expected


@pytest.mark.parametrize(
    "month", ["2024-13", "2024-00", "2024-1", "24-01", "2024/01", "2024-01-01", "2024-01\n", ""]
)
def test_add_months_refuses_what_is_not_a_month(month):
    with pytest.raises(ValueError, match="not a month"):
        add_months(month, 1)


def test_the_month_columns_cross_year_boundaries_and_month_lengths(spark):
    months = spark.createDataFrame([("2023-12",), ("2024-01",), ("2024-02",), ("2023-02",)], "month string")
    got = months.select(
        "month",
        add_months_column("month", 1).alias("next"),
        add_months_column("month", -1).alias("before"),
        add_months_column("month", -12).alias("year_before"),
        month_end("month").alias("end"),
    )
    assertDataFrameEqual(
        got,
        [
            ("2023-12", "2024-01", "2023-11", "2022-12", date(2023, 12, 31)),
            ("2024-01", "2024-02", "2023-12", "2023-01", date(2024, 1, 31)),
            ("2024-02", "2024-03", "2024-01", "2023-02", date(2024, 2, 29)),
            ("2023-02", "2023-03", "2023-01", "2022-02", date(2023, 2, 28)),
        ],
    )


def test_the_schemas_are_those_of_the_tables(spark):
    assertSchemaEqual(ENTITY_MONTH_SCHEMA, spark.createDataFrame([], ENTITY_MONTH_DDL).schema)
    assertSchemaEqual(SALES_COMPARISON_SCHEMA, spark.createDataFrame([], COMPARISON_DDL).schema)
    assertSchemaEqual(CUSTOMER_MONTH_SCHEMA, spark.createDataFrame([], CUSTOMER_MONTH_DDL).schema)
    assertSchemaEqual(CUSTOMER_SEGMENTS_SCHEMA, spark.createDataFrame([], SEGMENTS_DDL).schema)
    assert SALES_COMPARISON_COLUMNS == [
        "level", "entity_id", "month", "entity_name", "total_sales", "quantity_sold", "sales_count",
        "prev_month_total_sales", "mom_change", "mom_change_pct", "prev_year_total_sales", "yoy_change",
        "yoy_change_pct",
    ]  # fmt: skip
    assert CUSTOMER_SEGMENTS_COLUMNS == [
        "customer_id", "snapshot_month", "recency_days", "frequency", "monetary", "r_score", "f_score",
        "m_score", "rfm_score", "segment",
    ]  # fmt: skip


# -------------------------------------------------------------------------- period over period
def test_the_first_month_has_no_prior_month_and_no_prior_year(spark):
    got = compare(
        spark,
        [em("product", 1, "2024-01", "100.00", 3, 2), em("product", 1, "2024-02", "150.00", 1, 1)],
        ["2024-01", "2024-02"],
        first_month="2024-01",
    )
    assert_rows(
        spark,
        got,
        [
            # 2023-12 and 2023-01 are before the data: nothing is known of them.
            out("product", 1, "2024-01", "100.00", 3, 2, None, None, None, None, None, None),
            # 150 - 100 = 50, 50 / 100 = 50 %; 2023-02 is before the data too.
            out("product", 1, "2024-02", "150.00", 1, 1, "100.00", "50.00", "50.00", None, None, None),
        ],
        COMPARISON_DDL,
    )


def test_a_prior_of_zero_gives_a_change_but_no_percent(spark):
    got = compare(
        spark,
        [
            em("product", 1, "2024-01", "80.00"),
            em("product", 1, "2024-03", "120.00", 4, 2),  # nothing sold in 2024-02
            em("product", 3, "2024-02", "0.00"),  # a free item: a sale with a total of 0
            em("product", 3, "2024-03", "5.00"),
        ],
        ["2024-03"],
        first_month="2024-01",
    )
    assert_rows(
        spark,
        got,
        [
            out("product", 1, "2024-03", "120.00", 4, 2, "0.00", "120.00", None, None, None, None),
            out("product", 3, "2024-03", "5.00", 1, 1, "0.00", "5.00", None, None, None, None),
        ],
        COMPARISON_DDL,
    )


def test_a_drop_to_nothing_gets_a_row_of_zeros_named_from_the_month_before(spark):
    got = compare(
        spark,
        [
            em("store", 7, "2024-01", "250.00", 5, 2, name="12 Hill Rd"),
            em("store", 8, "2024-01", "100.00", name="3 Lake View"),
            em("store", 8, "2024-02", "100.00", name="3 Lake View"),
            em("store", 8, "2024-03", "50.00", name="3 Lake View"),
        ],
        ["2024-02", "2024-03"],
        first_month="2024-01",
    )
    assert_rows(
        spark,
        got,
        [
            # Store 7 sold nothing in February: 0 - 250 = -250, -100 %. In March it has no row at all.
            out("store", 7, "2024-02", "0.00", 0, 0, "250.00", "-250.00", "-100.00", None, None, None, name="12 Hill Rd"),
            out("store", 8, "2024-02", "100.00", 1, 1, "100.00", "0.00", "0.00", None, None, None, name="3 Lake View"),
            out("store", 8, "2024-03", "50.00", 1, 1, "100.00", "-50.00", "-50.00", None, None, None, name="3 Lake View"),
        ],
        COMPARISON_DDL,
    )  # fmt: skip


def test_a_month_without_any_sale_shows_the_drop_and_the_month_after_a_prior_of_zero(spark):
    got = compare(
        spark,
        [em("sales_person", 3, "2024-01", "60.00", 2, 1), em("sales_person", 3, "2024-03", "90.00", 3, 2)],
        ["2024-01", "2024-02", "2024-03"],
        first_month="2024-01",
    )
    assert_rows(
        spark,
        got,
        [
            out("sales_person", 3, "2024-01", "60.00", 2, 1, None, None, None, None, None, None),
            out("sales_person", 3, "2024-02", "0.00", 0, 0, "60.00", "-60.00", "-100.00", None, None, None),
            out("sales_person", 3, "2024-03", "90.00", 3, 2, "0.00", "90.00", None, None, None, None),
        ],
        COMPARISON_DDL,
    )


def test_year_over_year_across_the_year_boundary(spark):
    rows = [
        em("product", 5, "2023-01", "200.00"),
        em("product", 5, "2023-12", "50.00"),
        em("product", 5, "2024-01", "260.00"),
        em("product", 6, "2023-12", "10.00"),
        em("product", 6, "2024-01", "10.00"),
    ]
    got = compare(spark, rows, ["2024-01"], first_month="2023-01")
    assert_rows(
        spark,
        got,
        [
            # MoM: 260 - 50 = 210, 210 / 50 = 420 %. YoY against 2023-01: 260 - 200 = 60, 30 %.
            out("product", 5, "2024-01", "260.00", 1, 1, "50.00", "210.00", "420.00", "200.00", "60.00", "30.00"),
            # Product 6 sold nothing in 2023-01, a month of the data: a prior of 0, no percent.
            out("product", 6, "2024-01", "10.00", 1, 1, "10.00", "0.00", "0.00", "0.00", "10.00", None),
        ],
        COMPARISON_DDL,
    )  # fmt: skip
    # Data starting in 2023-12: 2023-01 is before it, so the prior year is unknown (NULL), not 0.
    got = compare(spark, rows[1:], ["2024-01"], first_month="2023-12")
    assert_rows(
        spark,
        got,
        [
            out("product", 5, "2024-01", "260.00", 1, 1, "50.00", "210.00", "420.00", None, None, None),
            out("product", 6, "2024-01", "10.00", 1, 1, "10.00", "0.00", "0.00", None, None, None),
        ],
        COMPARISON_DDL,
    )


def test_the_first_month_may_be_earlier_than_any_input_row(spark):
    # The caller passes only the rows the month needs; the data itself starts in 2022-03.
    got = compare(
        spark,
        [em("store", 1, "2024-05", "40.00"), em("store", 1, "2024-06", "30.00")],
        ["2024-06"],
        first_month="2022-03",
    )
    assert_rows(
        spark,
        got,
        [out("store", 1, "2024-06", "30.00", 1, 1, "40.00", "-10.00", "-25.00", "0.00", "30.00", None)],
        COMPARISON_DDL,
    )


def test_percent_change_rounds_half_up_at_two_places(spark):
    priors_and_totals = [
        ("300.00", "400.00"),  # 1: 100 / 300 = 33.333... % -> 33.33
        ("300.00", "500.00"),  # 2: 200 / 300 = 66.666... % -> 66.67
        ("80.00", "100.01"),  # 3: 20.01 / 80 = 25.0125 % -> 25.01
        ("800.00", "800.20"),  # 4: 0.20 / 800 = 0.025 % exactly -> 0.03 (half up)
        ("800.00", "799.80"),  # 5: -0.025 % exactly -> -0.03 (half away from zero)
        ("20000.01", "20001.01"),  # 6: 1 / 20000.01 = 0.0049999975 % -> 0.00 (0.005000 at 6 places)
        ("300.00", "200.00"),  # 7: -100 / 300 = -33.333... % -> -33.33
        ("0.01", "9999999.99"),  # 8: 9999999.98 / 0.01 = 99999999800 %
    ]
    rows = []
    for product, (prior, total) in enumerate(priors_and_totals, start=1):
        rows += [em("product", product, "2024-01", prior), em("product", product, "2024-02", total)]
    got = compare(spark, rows, ["2024-02"], first_month="2024-01")
    expected = [
        ("100.00", "33.33"),
        ("200.00", "66.67"),
        ("20.01", "25.01"),
        ("0.20", "0.03"),
        ("-0.20", "-0.03"),
        ("1.00", "0.00"),
        ("-100.00", "-33.33"),
        ("9999999.98", "99999999800.00"),
    ]
    assert_rows(
        spark,
        got,
        [
            out("product", product, "2024-02", total, 1, 1, prior, change, pct, None, None, None)
            for product, ((prior, total), (change, pct)) in enumerate(
                zip(priors_and_totals, expected, strict=True), start=1
            )
        ],
        COMPARISON_DDL,
    )


def test_only_the_requested_months_come_back(spark):
    months = ("2024-01", "2024-02", "2024-03", "2024-04", "2024-05", "2024-06")
    rows = [em("product", 1, month, "10.00") for month in months]
    got = compare(spark, rows, ["2024-02", "2024-05"], first_month="2024-01")
    # Not 2024-03, 2024-04, 2024-06, nor 2024-07 (the drop after the last month of the data).
    assert_rows(
        spark,
        got,
        [
            out("product", 1, "2024-02", "10.00", 1, 1, "10.00", "0.00", "0.00", None, None, None),
            out("product", 1, "2024-05", "10.00", 1, 1, "10.00", "0.00", "0.00", None, None, None),
        ],
        COMPARISON_DDL,
    )


def test_the_three_levels_are_kept_apart(spark):
    # The same id at each level, with different sales: each level compares with itself only.
    got = compare(
        spark,
        [
            em("product", 1, "2024-01", "10.00", 4, 2, name="sugar"),
            em("product", 1, "2024-02", "15.00", 6, 3, name="sugar"),
            em("store", 1, "2024-01", "100.00", 4, 2, name="1 MG Road"),
            em("store", 1, "2024-02", "80.00", 6, 3, name="1 MG Road"),
            em("sales_person", 1, "2024-01", "40.00", 2, 1, name="Mina Shah"),
        ],
        ["2024-02"],
        first_month="2024-01",
    )
    assert_rows(
        spark,
        got,
        [
            out("product", 1, "2024-02", "15.00", 6, 3, "10.00", "5.00", "50.00", None, None, None, name="sugar"),
            out("store", 1, "2024-02", "80.00", 6, 3, "100.00", "-20.00", "-20.00", None, None, None, name="1 MG Road"),
            out("sales_person", 1, "2024-02", "0.00", 0, 0, "40.00", "-40.00", "-100.00", None, None, None, name="Mina Shah"),
        ],
        COMPARISON_DDL,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------- RFM
def cm(customer_id: int, month: str, total: str, count: int, last_purchase: str):
    """A customer_months row."""
    return (customer_id, month, Decimal(total), count, date.fromisoformat(last_purchase))


def seg(customer_id, snapshot, recency, frequency, monetary, r, f, m, segment_name):
    """An expected customer_segments row; the rfm_score written out from R, F, M."""
    return (customer_id, snapshot, recency, frequency, Decimal(monetary), r, f, m, f"{r}{f}{m}", segment_name)


def segments(spark, rows: list[tuple], snapshots: list[str]):
    return customer_segments(spark.createDataFrame(rows, CUSTOMER_MONTH_DDL), snapshots)


def test_the_segment_table_gives_each_r_f_pair_exactly_one_segment():
    for r in range(1, 6):
        for f in range(1, 6):
            names = [
                name
                for name, (r_lo, r_hi), (f_lo, f_hi) in SEGMENTS
                if r_lo <= r <= r_hi and f_lo <= f <= f_hi
            ]
            assert len(names) == 1, (r, f, names)
            assert names[0] == segment(r, f)  # the reference's reading of the SPEC table
    assert {name for name, _, _ in SEGMENTS} == SPEC_SEGMENTS


def test_a_single_customer_scores_five(spark):
    got = segments(spark, [cm(1, "2024-03", "42.50", 3, "2024-03-20")], ["2024-03"])
    # k = n = 1: ceil(5 * 1 / 1) = 5 for all three; March 20 -> March 31 is 11 days.
    assert_rows(spark, got, [seg(1, "2024-03", 11, 3, "42.50", 5, 5, 5, "Champions")], SEGMENTS_DDL)


def test_customers_all_equal_all_score_five(spark):
    rows = [cm(customer, "2024-06", "10.00", 2, "2024-06-15") for customer in (1, 2, 3)]
    got = segments(spark, rows, ["2024-06"])
    assert_rows(
        spark,
        got,
        [seg(customer, "2024-06", 15, 2, "10.00", 5, 5, 5, "Champions") for customer in (1, 2, 3)],
        SEGMENTS_DDL,
    )


def test_equal_values_get_equal_scores(spark):
    rows = [
        cm(1, "2024-06", "100.00", 3, "2024-06-10"),
        cm(2, "2024-06", "50.00", 3, "2024-06-10"),
        cm(3, "2024-06", "100.00", 1, "2024-06-30"),
        cm(4, "2023-07", "5.00", 3, "2023-07-02"),  # the window's first month: inside
        cm(4, "2024-05", "15.00", 4, "2024-05-31"),
    ]
    got = segments(spark, rows, ["2024-06"])
    # n = 4. Recency (lower is better) 20, 20, 0, 30: k = customers with a recency >= this one's:
    #   30 -> 1 -> ceil(5/4) = 2; 20 -> 3 -> ceil(15/4) = 4 (both); 0 -> 4 -> 5.
    # Frequency 3, 3, 1, 7 (4 + 3): k = customers with a frequency <= this one's:
    #   1 -> 1 -> 2; 3 -> 3 -> 4 (both); 7 -> 4 -> 5.
    # Monetary 100, 50, 100, 20: 20 -> 1 -> 2; 50 -> 2 -> ceil(10/4) = 3; 100 -> 4 -> 5 (both).
    assert_rows(
        spark,
        got,
        [
            seg(1, "2024-06", 20, 3, "100.00", 4, 4, 5, "Loyal"),
            seg(2, "2024-06", 20, 3, "50.00", 4, 4, 3, "Loyal"),
            seg(3, "2024-06", 0, 1, "100.00", 5, 2, 5, "Potential Loyalists"),
            seg(4, "2024-06", 30, 7, "20.00", 2, 5, 2, "Can't Lose Them"),
        ],
        SEGMENTS_DDL,
    )


def test_recency_counts_the_days_to_the_last_day_of_the_snapshot_month(spark):
    rows = [
        cm(1, "2024-02", "100.00", 1, "2024-02-10"),
        cm(2, "2023-02", "100.00", 1, "2023-02-10"),
        cm(3, "2024-02", "100.00", 1, "2024-02-29"),
    ]
    got = segments(spark, rows, ["2023-02", "2024-02", "2024-03"])
    # 2023-02 ends on the 28th: 18 days. 2024-02 (leap year) ends on the 29th: 19 days, and 0 for a
    # purchase on the 29th. 2024-03-31: 19 + 31 = 50 days and 31 days. Customer 2's February 2023 is
    # outside 2024-02's window (2023-03..2024-02). With n = 2: the better recency k = 2 -> 5, the
    # other k = 1 -> ceil(5/2) = 3; equal frequency and monetary: k = 2 -> 5.
    assert_rows(
        spark,
        got,
        [
            seg(2, "2023-02", 18, 1, "100.00", 5, 5, 5, "Champions"),
            seg(1, "2024-02", 19, 1, "100.00", 3, 5, 5, "Loyal"),
            seg(3, "2024-02", 0, 1, "100.00", 5, 5, 5, "Champions"),
            seg(1, "2024-03", 50, 1, "100.00", 3, 5, 5, "Loyal"),
            seg(3, "2024-03", 31, 1, "100.00", 5, 5, 5, "Champions"),
        ],
        SEGMENTS_DDL,
    )


def test_the_window_is_the_twelve_months_ending_with_the_snapshot(spark):
    rows = [
        cm(1, "2023-12", "30.00", 1, "2023-12-31"),
        cm(2, "2024-01", "20.00", 1, "2024-01-01"),
        cm(3, "2023-12", "50.00", 2, "2023-12-01"),
        cm(3, "2024-12", "10.00", 1, "2024-12-24"),
    ]
    got = segments(spark, rows, ["2024-11", "2024-12"])
    # 2024-11 (window 2023-12..2024-11, n = 3), to 2024-11-30: customer 1, 335 days; customer 2,
    # 334 days; customer 3, 365 days (its December 2024 is later). Recency 365 -> k 1 -> ceil(5/3) = 2,
    # 335 -> k 2 -> ceil(10/3) = 4, 334 -> k 3 -> 5. Frequency 1, 1, 2 -> 4, 4, 5.
    # Monetary 30, 20, 50 -> 4, 2, 5.
    # 2024-12 (window 2024-01..2024-12, n = 2): customer 1's 2023-12, 12 months before, is outside;
    # customer 2's 2024-01, 11 months before, is inside: 365 days to 2024-12-31 -> k 1 -> 3;
    # customer 3 only its December: 7 days -> 5. Frequency 1, 1 -> 5, 5. Monetary 20, 10 -> 5, 3.
    assert_rows(
        spark,
        got,
        [
            seg(1, "2024-11", 335, 1, "30.00", 4, 4, 4, "Loyal"),
            seg(2, "2024-11", 334, 1, "20.00", 5, 4, 2, "Champions"),
            seg(3, "2024-11", 365, 2, "50.00", 2, 5, 5, "Can't Lose Them"),
            seg(2, "2024-12", 365, 1, "20.00", 3, 5, 5, "Loyal"),
            seg(3, "2024-12", 7, 1, "10.00", 5, 5, 3, "Champions"),
        ],
        SEGMENTS_DDL,
    )


def test_each_of_the_ten_segments_is_reached(spark):
    rows = [
        cm(1, "2024-01", "500.00", 9, "2024-01-10"),
        cm(2, "2024-02", "400.00", 7, "2024-02-10"),
        cm(3, "2024-03", "100.00", 4, "2024-03-10"),
        cm(4, "2024-05", "250.00", 5, "2024-05-31"),
        cm(5, "2024-05", "50.00", 3, "2024-05-31"),
        cm(6, "2024-05", "450.00", 8, "2024-05-31"),
        cm(7, "2024-06", "20.00", 2, "2024-06-10"),
        cm(8, "2024-06", "300.00", 6, "2024-06-20"),
        cm(9, "2023-06", "1000.00", 50, "2023-06-30"),  # 12 months before: outside the window
        cm(9, "2024-06", "10.00", 1, "2024-06-25"),
        cm(10, "2023-08", "400.00", 4, "2023-08-05"),
        cm(10, "2024-06", "500.00", 6, "2024-06-29"),
    ]
    got = segments(spark, rows, ["2024-06"])
    # n = 10, so score = ceil(k / 2). Days to 2024-06-30 (day 182 of 2024): Jan 10 (day 10) 172,
    # Feb 10 (day 41) 141, Mar 10 (day 70) 112, May 31 (day 152) 30 for customers 4, 5 and 6, then 20,
    # 10, 5, 1. Recency k (customers with a recency >= this one's): 172 -> 1 -> R1, 141 -> 2 -> R1,
    # 112 -> 3 -> R2, the three 30s -> 6 -> R3, 20 -> 7 -> R4, 10 -> 8 -> R4, 5 -> 9 -> R5, 1 -> 10 -> R5.
    # Frequencies 9, 7, 4, 5, 3, 8, 2, 6, 1, 10 (4 + 6) are 1..10, so k = the frequency: F = ceil(f / 2).
    # Monetary, from the lowest: 10 (9), 20 (7), 50 (5), 100 (3), 250 (4), 300 (8), 400 (2), 450 (6),
    # 500 (1), 900 (10): k = 1..10 in that order, M = ceil(k / 2).
    expected = [
        seg(1, "2024-06", 172, 9, "500.00", 1, 5, 5, "Can't Lose Them"),
        seg(2, "2024-06", 141, 7, "400.00", 1, 4, 4, "At Risk"),
        seg(3, "2024-06", 112, 4, "100.00", 2, 2, 2, "Hibernating"),
        seg(4, "2024-06", 30, 5, "250.00", 3, 3, 3, "Need Attention"),
        seg(5, "2024-06", 30, 3, "50.00", 3, 2, 2, "About to Sleep"),
        seg(6, "2024-06", 30, 8, "450.00", 3, 4, 4, "Loyal"),
        seg(7, "2024-06", 20, 2, "20.00", 4, 1, 1, "Promising"),
        seg(8, "2024-06", 10, 6, "300.00", 4, 3, 3, "Potential Loyalists"),
        seg(9, "2024-06", 5, 1, "10.00", 5, 1, 1, "New Customers"),
        seg(10, "2024-06", 1, 10, "900.00", 5, 5, 5, "Champions"),
    ]
    assert {row[-1] for row in expected} == SPEC_SEGMENTS
    assert_rows(spark, got, expected, SEGMENTS_DDL)
    assert sorted(r.rfm_score for r in got.collect()) == [
        "144", "155", "222", "322", "333", "344", "411", "433", "511", "555"
    ]  # fmt: skip


# ------------------------------------------------------------------------------ the reference
PRODUCTS = {1: "sugar", 2: "maida", 3: "ghee"}
STORES = {121: "1 MG Road", 122: "2 Park St", 123: "3 Lake View"}
PEOPLE = {1: "Mina Shah", 2: "Omar Khan", 3: "Lata Iyer"}
NAMES = (
    {("product", i): name for i, name in PRODUCTS.items()}
    | {("store", i): name for i, name in STORES.items()}
    | {("sales_person", i): name for i, name in PEOPLE.items()}
)


def fact(customer, store, person, product, day: str, total: str, quantity: int) -> dict:
    return {
        "customer_id": customer, "store_id": store, "sales_person_id": person, "product_id": product,
        "sales_date": date.fromisoformat(day), "total_cost": Decimal(total), "quantity": quantity,
    }  # fmt: skip


def test_the_reference_by_hand():
    facts = [fact(1, 121, 1, 1, "2024-01-15", "100.00", 2), fact(2, 121, 2, 1, "2024-03-05", "50.00", 1)]
    p, s, t = "product", "store", "sales_person"
    assert comparison_rows(facts, NAMES) == sorted(
        [
            out(p, 1, "2024-01", "100.00", 2, 1, None, None, None, None, None, None, name="sugar"),
            out(s, 121, "2024-01", "100.00", 2, 1, None, None, None, None, None, None, name="1 MG Road"),
            out(t, 1, "2024-01", "100.00", 2, 1, None, None, None, None, None, None, name="Mina Shah"),
            # February, a month without sales: the drop to nothing.
            out(
                p, 1, "2024-02", "0.00", 0, 0, "100.00", "-100.00", "-100.00", None, None, None, name="sugar"
            ),
            out(s, 121, "2024-02", "0.00", 0, 0, "100.00", "-100.00", "-100.00", None, None, None, name="1 MG Road"),
            out(t, 1, "2024-02", "0.00", 0, 0, "100.00", "-100.00", "-100.00", None, None, None, name="Mina Shah"),
            # March: a prior of 0; sales person 1 sold neither in February nor in March: no row.
            out(p, 1, "2024-03", "50.00", 1, 1, "0.00", "50.00", None, None, None, None, name="sugar"),
            out(s, 121, "2024-03", "50.00", 1, 1, "0.00", "50.00", None, None, None, None, name="1 MG Road"),
            out(t, 2, "2024-03", "50.00", 1, 1, "0.00", "50.00", None, None, None, None, name="Omar Khan"),
        ]
    )  # fmt: skip
    # Snapshots of the months holding a fact only (not 2024-02). In 2024-03, n = 2: customer 1
    # (15 Jan -> 31 Mar: 16 + 29 + 31 = 76 days) k 1 -> R3; customer 2 (26 days) R5; frequencies
    # equal -> F5 both; monetary 100 -> M5, 50 -> M3.
    assert segment_rows(facts) == [
        seg(1, "2024-01", 16, 1, "100.00", 5, 5, 5, "Champions"),
        seg(1, "2024-03", 76, 1, "100.00", 3, 5, 5, "Loyal"),
        seg(2, "2024-03", 26, 1, "50.00", 5, 5, 3, "Champions"),
    ]


def random_facts(seed: int, count: int = 200) -> list[dict]:
    """``count`` facts over 2023-05..2024-07 (15 months) with no sale at all in 2023-08 and 2024-02;
    skewed choices, so entities and customers skip months; about one in twenty free (total 0)."""
    rng = random.Random(seed)
    months = [m for m in calendar_months("2023-05", "2024-07") if m not in ("2023-08", "2024-02")]
    facts = []
    for _ in range(count):
        year, month = (int(part) for part in rng.choice(months).split("-"))
        day = date(year, month, rng.randint(1, calendar.monthrange(year, month)[1]))
        quantity = rng.randint(1, 5)
        cents = 0 if rng.random() < 0.05 else rng.randint(1, 20000)
        facts.append(
            fact(
                rng.choices(range(1, 9), weights=[8, 6, 5, 4, 3, 2, 1, 1])[0],
                rng.choices(list(STORES), weights=[5, 4, 1])[0],
                rng.choices(list(PEOPLE), weights=[1, 6, 3])[0],
                rng.choices(list(PRODUCTS), weights=[6, 3, 1])[0],
                day.isoformat(),
                str(Decimal(cents * quantity) / 100),
                quantity,
            )
        )
    return facts


@pytest.mark.parametrize("seed", [11, 12])
def test_sales_comparison_equals_the_reference_for_every_month(spark, seed):
    facts = random_facts(seed)
    expected = comparison_rows(facts, NAMES)
    # The data exercises what the hand-made tests check: unknown priors, priors of 0, drops to
    # nothing, year-over-year values, months without any sale.
    assert any(row[7] is None for row in expected)
    assert any(row[7] == 0 and row[9] is None for row in expected)
    assert any(row[6] == 0 for row in expected)
    assert any(row[10] is not None and row[10] > 0 for row in expected)
    assert {row[2] for row in expected} >= {"2023-08", "2024-02"}
    months = calendar_months("2023-05", "2024-07")
    got = sales_comparison(
        spark.createDataFrame(entity_month_rows(facts, NAMES), ENTITY_MONTH_DDL), months, "2023-05"
    )
    assert_rows(spark, got, expected, COMPARISON_DDL)


def test_sales_comparison_equals_the_reference_given_only_the_rows_asked_months_need(spark):
    facts = random_facts(13)
    months = ["2023-08", "2024-05", "2024-07"]  # a month without sales, two with a prior year
    needed = {shift(month, back) for month in months for back in (0, -1, -12)}
    inputs = [row for row in entity_month_rows(facts, NAMES) if row[3] in needed]
    got = sales_comparison(spark.createDataFrame(inputs, ENTITY_MONTH_DDL), months, "2023-05")
    expected = [row for row in comparison_rows(facts, NAMES) if row[2] in months]
    assert_rows(spark, got, expected, COMPARISON_DDL)


@pytest.mark.parametrize("seed", [11, 12])
def test_customer_segments_equal_the_reference_for_every_month(spark, seed):
    facts = random_facts(seed)
    expected = segment_rows(facts)
    snapshots = sorted({row[1] for row in expected})
    assert len(snapshots) == 13  # every month but the two without sales
    assert len({row[-1] for row in expected}) >= 6
    got = customer_segments(spark.createDataFrame(customer_month_rows(facts), CUSTOMER_MONTH_DDL), snapshots)
    assert_rows(spark, got, expected, SEGMENTS_DDL)


def test_customer_segments_equal_the_reference_given_only_the_windows_asked(spark):
    facts = random_facts(13)
    snapshots = ["2023-06", "2024-07"]
    needed = {shift(snapshot, -back) for snapshot in snapshots for back in range(12)}
    inputs = [row for row in customer_month_rows(facts) if row[1] in needed]
    got = customer_segments(spark.createDataFrame(inputs, CUSTOMER_MONTH_DDL), snapshots)
    expected = [row for row in segment_rows(facts) if row[1] in snapshots]
    assert_rows(spark, got, expected, SEGMENTS_DDL)
