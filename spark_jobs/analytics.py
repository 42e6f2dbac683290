"""The two analytics of SPEC "Analytics" as pure DataFrame functions.

- ``sales_comparison``: period over period per product, store and sales person (``sales_comparison_mart``);
- ``customer_segments``: monthly RFM snapshots with their segment (``customer_segments``).

Both read the compact monthly inputs (one row per entity or customer and month, ``ENTITY_MONTH_SCHEMA``
and ``CUSTOMER_MONTH_SCHEMA``), never the facts, and return the rows of exactly the months asked for:
the caller decides which months to rewrite, reads the inputs those months need and loads the result.

Months are ``YYYY-MM`` strings, so comparing two of them as strings compares them in time. Money is
DECIMAL(38, 2) throughout and no value ever goes through a float.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from salesflow.months import add_months, check_month
from spark_jobs.marts import MONEY, QUANTITY

RFM_WINDOW_MONTHS = 12

# Input: one row per (level, entity_id, month) in which the entity had at least one sale.
ENTITY_MONTH_SCHEMA = T.StructType(
    [
        T.StructField("level", T.StringType()),
        T.StructField("entity_id", T.IntegerType()),
        T.StructField("entity_name", T.StringType()),
        T.StructField("month", T.StringType()),
        T.StructField("total_sales", MONEY),
        T.StructField("quantity_sold", QUANTITY),
        T.StructField("sales_count", T.LongType()),
    ]
)
# Input: one row per (customer_id, month) in which the customer bought at least once.
CUSTOMER_MONTH_SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.IntegerType()),
        T.StructField("month", T.StringType()),
        T.StructField("total_sales", MONEY),
        T.StructField("sales_count", T.LongType()),
        T.StructField("last_purchase_date", T.DateType()),
    ]
)
# Output: the columns of sales_comparison_mart, in table order.
SALES_COMPARISON_SCHEMA = T.StructType(
    [
        T.StructField("level", T.StringType()),
        T.StructField("entity_id", T.IntegerType()),
        T.StructField("month", T.StringType()),
        T.StructField("entity_name", T.StringType()),
        T.StructField("total_sales", MONEY),
        T.StructField("quantity_sold", QUANTITY),
        T.StructField("sales_count", T.LongType()),
        T.StructField("prev_month_total_sales", MONEY),
        T.StructField("mom_change", MONEY),
        T.StructField("mom_change_pct", MONEY),
        T.StructField("prev_year_total_sales", MONEY),
        T.StructField("yoy_change", MONEY),
        T.StructField("yoy_change_pct", MONEY),
    ]
)
SALES_COMPARISON_COLUMNS = SALES_COMPARISON_SCHEMA.fieldNames()
SALES_COMPARISON_KEY = ["level", "entity_id", "month"]
# Output: the columns of customer_segments, in table order.
CUSTOMER_SEGMENTS_SCHEMA = T.StructType(
    [
        T.StructField("customer_id", T.IntegerType()),
        T.StructField("snapshot_month", T.StringType()),
        T.StructField("recency_days", T.IntegerType()),
        T.StructField("frequency", T.LongType()),
        T.StructField("monetary", MONEY),
        T.StructField("r_score", T.IntegerType()),
        T.StructField("f_score", T.IntegerType()),
        T.StructField("m_score", T.IntegerType()),
        T.StructField("rfm_score", T.StringType()),
        T.StructField("segment", T.StringType()),
    ]
)
CUSTOMER_SEGMENTS_COLUMNS = CUSTOMER_SEGMENTS_SCHEMA.fieldNames()

# SPEC's segment table: (segment, (lowest R, highest R), (lowest F, highest F)), both ranges inclusive.
# Every one of the 25 (R, F) pairs falls in exactly one row (tests/spark_jobs/test_analytics.py checks).
SEGMENTS: tuple[tuple[str, tuple[int, int], tuple[int, int]], ...] = (
    ("Champions", (5, 5), (4, 5)),
    ("Loyal", (3, 4), (4, 5)),
    ("Potential Loyalists", (4, 5), (2, 3)),
    ("New Customers", (5, 5), (1, 1)),
    ("Promising", (4, 4), (1, 1)),
    ("Need Attention", (3, 3), (3, 3)),
    ("About to Sleep", (3, 3), (1, 2)),
    ("Can't Lose Them", (1, 2), (5, 5)),
    ("At Risk", (1, 2), (3, 4)),
    ("Hibernating", (1, 2), (1, 2)),
)


# ------------------------------------------------------------------------------------- months
def _month_start(month: str | Column) -> Column:
    return F.to_date(F.col(month) if isinstance(month, str) else month, "yyyy-MM")


def add_months_column(month: str | Column, n: int) -> Column:
    """``add_months`` for a column of ``YYYY-MM`` strings (a column name or a Column)."""
    return F.date_format(F.add_months(_month_start(month), n), "yyyy-MM")


def month_end(month: str | Column) -> Column:
    """The last day (a date) of each ``YYYY-MM`` month of a column."""
    return F.last_day(_month_start(month))


# -------------------------------------------------------------------------- period over period
def percent_change(change: Column, prior: Column) -> Column:
    """``round(change / prior * 100, 2)``, halves away from zero, exact; NULL for a NULL or 0 prior.

    Spark divides DECIMAL(38, 2) by DECIMAL(38, 2) to 6 places only, and rounding that again to 2
    places rounds twice: 1.00 / 20000.01 is 0.0049999975 %, which becomes 0.005000 and then 0.01
    instead of 0.00. So the percent in hundredths, ``|change| * 10000 / |prior|``, is split into its
    whole part and remainder (exact decimal arithmetic, the whole part divides exactly) and rounded
    up when the remainder is at least half the divisor. A prior of 0 becomes a NULL divisor, so
    nothing ever divides by zero (ANSI mode would raise). Exact while ``|change| < 10^32`` and the
    percent is below 10^30; beyond, a step overflows and ANSI mode raises instead of rounding wrong.
    """
    divisor = F.when(prior != 0, F.abs(prior))
    scaled = F.abs(change) * F.lit(10000)
    remainder = scaled % divisor
    round_up = F.when(remainder * 2 >= divisor, F.lit(1)).otherwise(F.lit(0))
    magnitude = ((scaled - remainder) / divisor + round_up) / F.lit(100)
    return F.when((change < 0) != (prior < 0), -magnitude).otherwise(magnitude).cast(MONEY)


def _comparison_keys(entity_months: DataFrame, months: list[str]) -> DataFrame:
    """(level, entity_id, month) for each asked month M and each entity with sales in M or in M-1."""
    return (
        entity_months.select(
            "level",
            "entity_id",
            F.explode(F.array(F.col("month"), add_months_column("month", 1))).alias("month"),
        )
        .where(F.col("month").isin(months))
        .distinct()
    )


def _shifted_totals(entity_months: DataFrame, n: int, prefix: str) -> DataFrame:
    """Each entity's month totals moved ``n`` months later: joined on month M they are M-n's."""
    return entity_months.select(
        "level",
        "entity_id",
        add_months_column("month", n).alias("month"),
        F.col("total_sales").alias(f"{prefix}_total"),
        F.col("entity_name").alias(f"{prefix}_name"),
    )


def _prior_total(prefix: str, n: int, first_month: str) -> Column:
    """Month M-n's total: 0 if the entity sold nothing then, NULL if M-n is before ``first_month``."""
    known = F.col("month") >= F.lit(add_months(first_month, n))
    return F.when(known, F.coalesce(F.col(f"{prefix}_total"), F.lit(0).cast(MONEY))).cast(MONEY)


def _changes(total: Column, prior: Column, names: tuple[str, str, str]) -> list[Column]:
    """The prior total, the change from it and the change in percent, named ``names``."""
    change = (total - prior).cast(MONEY)
    return [prior.alias(names[0]), change.alias(names[1]), percent_change(change, prior).alias(names[2])]


def sales_comparison(entity_months: DataFrame, months: list[str], first_month: str) -> DataFrame:
    """The ``sales_comparison_mart`` rows of exactly ``months`` (SALES_COMPARISON_COLUMNS).

    ``entity_months`` (ENTITY_MONTH_SCHEMA) holds at least the months M, M-1 and M-12 of each month
    M asked for, and may hold more. ``first_month`` is the data's first month overall: a prior month
    before it has a NULL total (nothing is known of it), a later one without sales a total of 0.
    An entity with sales in M-1 but none in M gets a row of M with 0 sales, named as in M-1.
    ``entity_months`` is read four times (keys, totals, M-1, M-12): cache it if it is costly to get.
    """
    for month in [*months, first_month]:
        check_month(month)
    total = F.coalesce(F.col("total_sales"), F.lit(0).cast(MONEY))
    prev_month = _prior_total("prev_month", 1, first_month)
    prev_year = _prior_total("prev_year", 12, first_month)
    return (
        _comparison_keys(entity_months, months)
        .join(entity_months, SALES_COMPARISON_KEY, "left")
        .join(_shifted_totals(entity_months, 1, "prev_month"), SALES_COMPARISON_KEY, "left")
        .join(_shifted_totals(entity_months, 12, "prev_year"), SALES_COMPARISON_KEY, "left")
        .select(
            "level",
            F.col("entity_id").cast(T.IntegerType()).alias("entity_id"),
            "month",
            F.coalesce(F.col("entity_name"), F.col("prev_month_name")).alias("entity_name"),
            total.cast(MONEY).alias("total_sales"),
            F.coalesce(F.col("quantity_sold"), F.lit(0)).cast(QUANTITY).alias("quantity_sold"),
            F.coalesce(F.col("sales_count"), F.lit(0)).cast(T.LongType()).alias("sales_count"),
            *_changes(total, prev_month, ("prev_month_total_sales", "mom_change", "mom_change_pct")),
            *_changes(total, prev_year, ("prev_year_total_sales", "yoy_change", "yoy_change_pct")),
        )
    )


# --------------------------------------------------------------------------------------- RFM
def segment_of(r_score: Column, f_score: Column) -> Column:
    """The SEGMENTS name of each (R, F) pair."""
    conditions = [
        (r_score.between(r_low, r_high) & f_score.between(f_low, f_high), F.lit(name))
        for name, (r_low, r_high), (f_low, f_high) in SEGMENTS
    ]
    segment = F.when(*conditions[0])
    for condition, name in conditions[1:]:
        segment = segment.when(condition, name)
    return segment


def rank_score(value: str, higher_is_better: bool = True) -> Column:
    """1..5 within each snapshot: ``ceil(5 * k / n)`` in integers, as ``(5k + n - 1) div n``.

    ``k`` counts the snapshot's customers whose value is no better than this one's (SQL's
    ``CUME_DIST() * n``): a RANGE frame from the worst value to this one takes in every equal
    value, so equal values get equal scores, and the best value (``k = n``) scores 5.
    """
    worst_first = F.col(value).asc() if higher_is_better else F.col(value).desc()
    snapshot = Window.partitionBy("snapshot_month")
    no_better = snapshot.orderBy(worst_first).rangeBetween(Window.unboundedPreceding, Window.currentRow)
    k = F.count(F.lit(1)).over(no_better)
    n = F.count(F.lit(1)).over(snapshot)
    return F.call_function("div", k * 5 + n - 1, n).cast(T.IntegerType())


def rfm_measures(customer_months: DataFrame, snapshot_months: list[str]) -> DataFrame:
    """Recency, frequency and monetary per customer and snapshot S, over the months S-11..S.

    A customer's month X lies in the windows of the snapshots X..X+11: each row is sent to those,
    the ones asked for are kept and summed. Recency counts days to S's last day.
    """
    snapshots = F.explode(F.array(*[add_months_column("month", i) for i in range(RFM_WINDOW_MONTHS)]))
    return (
        customer_months.select(
            "customer_id",
            snapshots.alias("snapshot_month"),
            "total_sales",
            "sales_count",
            "last_purchase_date",
        )
        .where(F.col("snapshot_month").isin(snapshot_months))
        .groupBy("customer_id", "snapshot_month")
        .agg(
            F.max("last_purchase_date").alias("last_purchase_date"),
            F.sum("sales_count").cast(T.LongType()).alias("frequency"),
            F.sum("total_sales").cast(MONEY).alias("monetary"),
        )
        .select(
            F.col("customer_id").cast(T.IntegerType()).alias("customer_id"),
            "snapshot_month",
            F.datediff(month_end("snapshot_month"), F.col("last_purchase_date")).alias("recency_days"),
            "frequency",
            "monetary",
        )
    )


def customer_segments(customer_months: DataFrame, snapshot_months: list[str]) -> DataFrame:
    """The ``customer_segments`` rows of exactly ``snapshot_months`` (CUSTOMER_SEGMENTS_COLUMNS).

    ``customer_months`` (CUSTOMER_MONTH_SCHEMA) holds at least the 12 months ending with each
    snapshot asked for. Lower recency, higher frequency and higher monetary are better.
    """
    for month in snapshot_months:
        check_month(month)
    scores = [F.col("r_score"), F.col("f_score"), F.col("m_score")]
    return (
        rfm_measures(customer_months, snapshot_months)
        .select(
            "*",
            rank_score("recency_days", higher_is_better=False).alias("r_score"),
            rank_score("frequency").alias("f_score"),
            rank_score("monetary").alias("m_score"),
        )
        .select(
            *CUSTOMER_SEGMENTS_COLUMNS[:8],
            F.concat(*[score.cast(T.StringType()) for score in scores]).alias("rfm_score"),
            segment_of(F.col("r_score"), F.col("f_score")).alias("segment"),
        )
    )
