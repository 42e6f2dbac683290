"""The row rules of SPEC ("Input: sales CSV"), and the enrichment they share the joins with.

Pure DataFrame functions: a row comes in as text (``readers.fold_extra_columns``) and leaves typed,
enriched with the dimension values the fact table carries, and with ``reject_reason`` NULL when it
passes every rule. The dimension keys are joined once: the join that proves a key known also brings
the name or id the fact needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from spark_jobs.readers import CORRUPT_COLUMN, ROW_ID, column

# Types of the known mandatory columns (SPEC "Input: sales CSV"); any other configured mandatory
# column is text.
INT_COLUMNS = ("customer_id", "store_id", "sales_person_id", "quantity")
DECIMAL_COLUMNS = {"price": (10, 2), "total_cost": (12, 2)}
DATE_COLUMNS = ("sales_date",)
# MySQL's DATE holds 1000-01-01 to 9999-12-31 (the later end is past any run's day anyway).
EARLIEST_SALES_DATE = date(1000, 1, 1)
# The extra columns' JSON a row may carry (the fact column is a MEDIUMTEXT of 16 MiB): a row
# over it is rejected, never cut, and never fails the load.
ADDITIONAL_COLUMN_MAX_BYTES = 1024 * 1024
TEXT_SUFFIX = "__text"
RAW_RECORD = "raw_record"


@dataclass(frozen=True)
class Dimensions:
    """The dimension columns the rules check against and the facts carry.

    customers: customer_id, customer_full_name; stores: store_id; products: product_name,
    product_id; sales_people: sales_person_id, sales_person_full_name.
    """

    customers: DataFrame
    stores: DataFrame
    products: DataFrame
    sales_people: DataFrame

    def joins(self) -> list[tuple[DataFrame, str, str]]:
        """(frame, key, reason when unknown), in the order the reasons are given."""
        return [
            (self.customers, "customer_id", "unknown_customer"),
            (self.stores, "store_id", "unknown_store"),
            (self.sales_people, "sales_person_id", "unknown_sales_person"),
            (self.products, "product_name", "unknown_product"),
        ]


def _blank(value: Column) -> Column:
    return value.isNull() | (F.trim(value) == "")


def _typed(name: str, value: Column) -> tuple[Column, Column]:
    """(typed value, does the text have the column's form); valid = form and a typed value."""
    if name in INT_COLUMNS:
        return value.try_cast("int"), value.rlike(r"^[+-]?[0-9]+$")
    if name in DECIMAL_COLUMNS:
        precision, scale = DECIMAL_COLUMNS[name]
        form = value.rlike(rf"^[+-]?[0-9]+(\.[0-9]{{1,{scale}}})?$")
        return value.try_cast(T.DecimalType(precision, scale)), form
    if name in DATE_COLUMNS:
        # The form is strict (yyyy-MM-dd); the cast then refuses dates that do not exist. Only a
        # text of that form is cast: Spark would read "202414-01-05" as a date of year 202414.
        form = value.rlike(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
        return F.when(form, value.try_cast("date")), form
    return value, F.lit(True)


def latest_allowed_date(as_of: date, as_of_by_file: dict[int, date] | None) -> Column:
    """The run's day, or a file's own later day (only files whose day differs go in the map)."""
    later = {file_id: day for file_id, day in (as_of_by_file or {}).items() if day != as_of}
    if not later:
        return F.lit(as_of)
    by_file = F.create_map(*[F.lit(v) for pair in sorted(later.items()) for v in pair])
    return F.coalesce(by_file[F.col("file_id")], F.lit(as_of))


def first_failure(checks: list[tuple[Column, str]]) -> Column:
    """The code of the first check whose condition is true (a NULL condition is not a failure)."""
    reason: Column = F.lit(None).cast("string")
    for condition, code in reversed(checks):
        reason = F.when(F.coalesce(condition, F.lit(False)), F.lit(code)).otherwise(reason)
    return reason


def _typed_with_forms(df: DataFrame, mandatory: list[str]) -> DataFrame:
    """Each mandatory column typed, its trimmed text kept, and whether the text has its form.

    Every value is cast once here; the checks after read these columns (a check inside a chain of
    CASE branches would cast again: Spark does not share work between conditional branches).
    """
    columns: list[Column] = []
    for name in mandatory:
        text = F.trim(column(name))
        typed, form = _typed(name, text)
        columns += [typed.alias(name), text.alias(name + TEXT_SUFFIX), form.alias(f"_form_{name}")]
    return df.select(*columns, "additional_column", CORRUPT_COLUMN, "file_id", ROW_ID)


def _text_checks(mandatory: list[str]) -> list[tuple[Column, str]]:
    """The checks a row's text must pass, in order, on the columns of ``_typed_with_forms``."""
    checks: list[tuple[Column, str]] = [(F.col(CORRUPT_COLUMN).isNotNull(), "malformed_row")]
    checks += [(_blank(F.col(c + TEXT_SUFFIX)), f"missing_value:{c}") for c in mandatory]
    checks += [(~F.col(f"_form_{c}") | F.col(c).isNull(), f"invalid_type:{c}") for c in mandatory]
    too_long = F.octet_length("additional_column") > ADDITIONAL_COLUMN_MAX_BYTES
    checks.append((too_long, "value_too_long:additional_column"))
    return checks


def _value_checks(latest: Column, dimensions: Dimensions) -> list[tuple[Column, str]]:
    """The checks on a typed row with its dimension flags, in order."""
    # Decimal arithmetic only: price (10,2) * quantity is exact.
    cost_gap = F.abs(F.col("total_cost") - F.col("price") * F.col("quantity"))
    return [
        (F.col("sales_date") < F.lit(EARLIEST_SALES_DATE), "out_of_range:sales_date"),
        (F.col("quantity") <= 0, "non_positive_quantity"),
        (F.col("price") < 0, "negative_price"),
        (cost_gap > F.lit(0.01).cast(T.DecimalType(3, 2)), "total_cost_mismatch"),
        (F.col("sales_date") > latest, "future_sales_date"),
    ] + [(F.col(f"_known_{key}").isNull(), code) for _, key, code in dimensions.joins()]


def apply_row_rules(
    df: DataFrame,
    mandatory: list[str],
    as_of: date,
    dimensions: Dimensions,
    *,
    as_of_by_file: dict[int, date] | None = None,
) -> DataFrame:
    """Each row typed and enriched, with ``reject_reason`` NULL when it passes every rule of SPEC.

    ``as_of`` is the latest allowed sales date; ``as_of_by_file`` overrides it per file id. The
    reason is the first rule a row breaks, in this order: malformed row, missing value, type, the
    extra columns' size, the date's range, quantity, price, total cost, future date, unknown keys.
    A rejected row keeps the original text of each mandatory column (``<name>__text``) and its raw
    record for the reject files; a valid row carries NULL there (nothing stored twice).
    """
    typed = _typed_with_forms(df, mandatory)
    typed = typed.withColumn("_text_reason", first_failure(_text_checks(mandatory)))
    joined = typed
    for dimension, key, _code in dimensions.joins():
        joined = joined.join(F.broadcast(dimension.withColumn(f"_known_{key}", F.lit(True))), key, "left")
    reason = F.coalesce(
        F.col("_text_reason"),
        first_failure(_value_checks(latest_allowed_date(as_of, as_of_by_file), dimensions)),
    )
    return joined.withColumn("reject_reason", reason).select(
        *mandatory,
        "product_id",
        "customer_full_name",
        "sales_person_full_name",
        F.substring("sales_date" + TEXT_SUFFIX, 1, 7).alias("sales_month"),  # yyyy-MM of a valid date
        "additional_column",
        "file_id",
        ROW_ID,
        "reject_reason",
        *[_for_rejects(F.col(c + TEXT_SUFFIX)).alias(c + TEXT_SUFFIX) for c in mandatory],
        _for_rejects(F.col(CORRUPT_COLUMN)).alias(RAW_RECORD),
    )


def _for_rejects(value: Column) -> Column:
    return F.when(F.col("reject_reason").isNotNull(), value)
