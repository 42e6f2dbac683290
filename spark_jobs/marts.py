"""The facts' compact summaries and the two marts built from them (pure DataFrame functions).

A summary row holds one file version's sums for one key and month. The marts of a month are the
sums over every file of that month (``*_months`` roll the files up), so a month whose files arrive
over several runs ends with the same numbers as one run over all of them, and a run reads only the
summaries, never the month's facts. A full rebuild summarises the facts with the same functions.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

# Every aggregate is DECIMAL(38, 2) (quantities DECIMAL(38, 0)): sums far beyond any real month fit
# (README "Limits"), and a sum never overflows into an error that fails the load.
MONEY = T.DecimalType(38, 2)
QUANTITY = T.DecimalType(38, 0)
INCENTIVE_RATE = "0.01"

# Columns of the fact table, in load order (include/sql/load/load_sales.sql).
FACT_COLUMNS = [
    "file_id",
    "line_number",
    "customer_id",
    "store_id",
    "product_id",
    "product_name",
    "sales_date",
    "sales_month",
    "sales_person_id",
    "price",
    "quantity",
    "total_cost",
    "additional_column",
    "customer_full_name",
    "sales_person_full_name",
]
CUSTOMER_SUMMARY_COLUMNS = [
    "file_id",
    "customer_id",
    "sales_month",
    "total_sales",
    "sales_count",
    "last_purchase_date",
]
SALES_TEAM_SUMMARY_COLUMNS = [
    "file_id",
    "store_id",
    "sales_person_id",
    "sales_month",
    "total_sales",
    "quantity_sold",
    "sales_count",
]
PRODUCT_SUMMARY_COLUMNS = [
    "file_id",
    "product_id",
    "sales_month",
    "total_sales",
    "quantity_sold",
    "sales_count",
]
# The primary key of each summary table (include/sql/schema/003_sales_and_marts.sql).
SUMMARY_KEYS = {
    "customer_month_summary": ["file_id", "customer_id", "sales_month"],
    "sales_team_month_summary": ["file_id", "store_id", "sales_person_id", "sales_month"],
    "product_month_summary": ["file_id", "product_id", "sales_month"],
}
CUSTOMER_MART_COLUMNS = [
    "customer_id",
    "full_name",
    "address",
    "phone_number",
    "sales_date_month",
    "total_sales",
]
SALES_TEAM_MART_COLUMNS = [
    "store_id",
    "sales_person_id",
    "full_name",
    "sales_month",
    "total_sales",
    "incentive",
]


def full_name(first: str, last: str) -> Column:
    return F.concat_ws(" ", F.col(first), F.col(last))


def _money_sum(name: str) -> Column:
    return F.sum(F.col(name).cast(MONEY)).cast(MONEY)


def _quantity_sum(name: str) -> Column:
    return F.sum(F.col(name).cast(QUANTITY)).cast(QUANTITY)


# ------------------------------------------------------------------------- summaries of the facts
def customer_summary(facts: DataFrame) -> DataFrame:
    """Per file, customer and month: total, sales count and last purchase date."""
    return (
        facts.groupBy("file_id", "customer_id", "sales_month")
        .agg(
            _money_sum("total_cost").alias("total_sales"),
            F.count(F.lit(1)).alias("sales_count"),
            F.max("sales_date").alias("last_purchase_date"),
        )
        .select(*CUSTOMER_SUMMARY_COLUMNS)
    )


def sales_team_summary(facts: DataFrame) -> DataFrame:
    """Per file, store, sales person and month: total, quantity and sales count."""
    return (
        facts.groupBy("file_id", "store_id", "sales_person_id", "sales_month")
        .agg(
            _money_sum("total_cost").alias("total_sales"),
            _quantity_sum("quantity").alias("quantity_sold"),
            F.count(F.lit(1)).alias("sales_count"),
        )
        .select(*SALES_TEAM_SUMMARY_COLUMNS)
    )


def product_summary(facts: DataFrame) -> DataFrame:
    """Per file, product and month: total, quantity and sales count."""
    return (
        facts.groupBy("file_id", "product_id", "sales_month")
        .agg(
            _money_sum("total_cost").alias("total_sales"),
            _quantity_sum("quantity").alias("quantity_sold"),
            F.count(F.lit(1)).alias("sales_count"),
        )
        .select(*PRODUCT_SUMMARY_COLUMNS)
    )


# ------------------------------------------------------------------- the files of a month rolled up
def customer_months(summary: DataFrame) -> DataFrame:
    """Per customer and month over all files: customer_id, month, total_sales, sales_count,
    last_purchase_date (the analytics' customer input)."""
    return summary.groupBy("customer_id", F.col("sales_month").alias("month")).agg(
        _money_sum("total_sales").alias("total_sales"),
        F.sum("sales_count").alias("sales_count"),
        F.max("last_purchase_date").alias("last_purchase_date"),
    )


def sales_team_months(summary: DataFrame) -> DataFrame:
    """Per store, sales person and month over all files."""
    return summary.groupBy("store_id", "sales_person_id", F.col("sales_month").alias("month")).agg(
        _money_sum("total_sales").alias("total_sales"),
        _quantity_sum("quantity_sold").alias("quantity_sold"),
        F.sum("sales_count").alias("sales_count"),
    )


def product_months(summary: DataFrame) -> DataFrame:
    """Per product and month over all files."""
    return summary.groupBy("product_id", F.col("sales_month").alias("month")).agg(
        _money_sum("total_sales").alias("total_sales"),
        _quantity_sum("quantity_sold").alias("quantity_sold"),
        F.sum("sales_count").alias("sales_count"),
    )


# ------------------------------------------------------------------------------------- the marts
def customers_data_mart(months: DataFrame, customers: DataFrame) -> DataFrame:
    """Total sales per customer and month (``customer_months``), with the customer's details.

    ``customers`` is the dimension table: customer_id, first_name, last_name, address, phone_number.
    """
    details = customers.select(
        "customer_id", full_name("first_name", "last_name").alias("full_name"), "address", "phone_number"
    )
    return (
        months.join(details, "customer_id", "left")
        .withColumn("sales_date_month", F.col("month"))
        .select(*CUSTOMER_MART_COLUMNS)
    )


def sales_team_data_mart(months: DataFrame, sales_team: DataFrame) -> DataFrame:
    """Total sales per store, sales person and month (``sales_team_months``), with the incentive.

    In each (store, month) the sales person(s) with the highest total get
    ``round(total * 0.01, 2)``; ties all get it; everyone else gets 0. Decimal arithmetic only.
    """
    best = F.max("total_sales").over(Window.partitionBy("store_id", "month"))
    incentive = F.round(F.col("total_sales") * F.lit(INCENTIVE_RATE).cast(T.DecimalType(3, 2)), 2)
    names = sales_team.select(
        F.col("id").alias("sales_person_id"), full_name("first_name", "last_name").alias("full_name")
    )
    return (
        months.withColumn(
            "incentive", F.when(F.col("total_sales") == best, incentive).otherwise(F.lit(0)).cast(MONEY)
        )
        .withColumn("sales_month", F.col("month"))
        .join(names, "sales_person_id", "left")
        .select(*SALES_TEAM_MART_COLUMNS)
    )


def entity_months(
    team_months: DataFrame,
    product_months_df: DataFrame,
    stores: DataFrame,
    products: DataFrame,
    sales_team: DataFrame,
) -> DataFrame:
    """The analytics' entity input: per level (product, store, sales_person), entity and month.

    ``entity_name`` is the product's name, the store's address, or the sales person's full name.
    """
    measures = [
        _money_sum("total_sales").alias("total_sales"),
        _quantity_sum("quantity_sold").alias("quantity_sold"),
        F.sum("sales_count").alias("sales_count"),
    ]
    by_store = team_months.groupBy(F.col("store_id").alias("entity_id"), "month").agg(*measures)
    by_person = team_months.groupBy(F.col("sales_person_id").alias("entity_id"), "month").agg(*measures)
    levels = [
        ("product", product_months_df.withColumnRenamed("product_id", "entity_id"), products, F.col("name")),
        ("store", by_store, stores, F.col("address")),
        ("sales_person", by_person, sales_team, full_name("first_name", "last_name")),
    ]
    frames = [
        totals.join(
            names.select(F.col("id").alias("entity_id"), name.alias("entity_name")), "entity_id", "left"
        ).select(
            F.lit(level).alias("level"),
            "entity_id",
            "entity_name",
            "month",
            "total_sales",
            "quantity_sold",
            F.col("sales_count").cast("long").alias("sales_count"),
        )
        for level, totals, names, name in levels
    ]
    return frames[0].unionByName(frames[1]).unionByName(frames[2])
