"""Transform-and-load job: enriched facts, the two marts, Parquet, and one MySQL transaction.

Input: the run's job spec (written by the DAG's download task) and the validation output
(``valid/`` Parquet). Steps:

1. extract: the valid rows of the run's files still VALIDATED in the ledger, the dimensions (JDBC);
2. ``enrich``: dimension joins; a row whose key is unknown is rejected with a reason, never dropped;
3. under a MySQL named lock (one writer of the marts at a time), read the facts already loaded for
   the months this run touches, and compute the marts from all of them (``customer_mart``,
   ``sales_team_mart``), so a month spread over several runs ends with the same numbers;
4. load: in one transaction, the new facts (``LOAD DATA LOCAL INFILE`` of the CSV Spark wrote,
   replacing any rows of the same file versions), the marts of the touched months (delete and
   reload) and the ledger rows (LOADED with their counts). Readers see the old months or the new;
5. Parquet for the touched months (facts by ``sales_month``/``store_id``, the marts by month) in the
   run folder, for the DAG to publish to S3; ``result.json`` with the counts.

Why the load is here and not in a separate task: the marts must be computed from the facts that
are in MySQL when they are replaced, so reading those facts and writing the marts happen under one
lock; a second Spark job would cost another 10 to 15 s of start-up.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from salesflow.faults import fault_point
from salesflow.paths import write_atomically
from spark_jobs.common import JDBC_PASSWORD_ENV, read_jdbc_table, run_job

log = logging.getLogger("salesflow.transform")

LOCK_TIMEOUT_SECONDS = 1800
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
# Primary keys (include/sql/schema/003_sales_and_marts.sql): the order the load CSVs are written in.
FACT_KEY = ["file_id", "line_number"]
CUSTOMER_MART_KEY = ["customer_id", "sales_date_month"]
SALES_TEAM_MART_KEY = ["store_id", "sales_person_id", "sales_month"]
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
UNKNOWN_KEYS = (
    ("_customer_known", "unknown_customer"),
    ("_store_known", "unknown_store"),
    ("_person_known", "unknown_sales_person"),
    ("_product_known", "unknown_product"),
)


# --------------------------------------------------------------------------- transforms (pure)
def full_name(first: str, last: str) -> F.Column:
    return F.concat_ws(" ", F.col(first), F.col(last))


def enrich(
    rows: DataFrame, customers: DataFrame, stores: DataFrame, products: DataFrame, sales_team: DataFrame
) -> DataFrame:
    """Valid rows joined with the dimensions: FACT_COLUMNS plus ``reject_reason``.

    Left joins, so a row whose customer, store, sales person or product is unknown stays, with its
    reason (the first unknown key), instead of vanishing in an inner join.
    """
    customer_names = customers.select(
        "customer_id",
        full_name("first_name", "last_name").alias("customer_full_name"),
        F.lit(True).alias("_customer_known"),
    )
    store_keys = stores.select(F.col("id").alias("store_id"), F.lit(True).alias("_store_known"))
    product_ids = products.select(
        F.col("id").alias("product_id"),
        F.col("name").alias("product_name"),
        F.lit(True).alias("_product_known"),
    )
    people = sales_team.select(
        F.col("id").alias("sales_person_id"),
        full_name("first_name", "last_name").alias("sales_person_full_name"),
        F.lit(True).alias("_person_known"),
    )
    joined = (
        rows.join(F.broadcast(customer_names), "customer_id", "left")
        .join(F.broadcast(store_keys), "store_id", "left")
        .join(F.broadcast(product_ids), "product_name", "left")
        .join(F.broadcast(people), "sales_person_id", "left")
    )
    reason = F.lit(None).cast("string")
    for flag, code in reversed(UNKNOWN_KEYS):
        reason = F.when(F.col(flag).isNull(), F.lit(code)).otherwise(reason)
    return joined.withColumn("sales_month", F.date_format("sales_date", "yyyy-MM")).select(
        *FACT_COLUMNS, reason.alias("reject_reason")
    )


def customer_mart(facts: DataFrame, customers: DataFrame) -> DataFrame:
    """Total sales per customer and month, with the customer's name, address and phone."""
    totals = facts.groupBy("customer_id", F.col("sales_month").alias("sales_date_month")).agg(
        F.sum("total_cost").cast(T.DecimalType(16, 2)).alias("total_sales")
    )
    details = customers.select(
        "customer_id", full_name("first_name", "last_name").alias("full_name"), "address", "phone_number"
    )
    return totals.join(details, "customer_id", "left").select(*CUSTOMER_MART_COLUMNS)


def sales_team_mart(facts: DataFrame, sales_team: DataFrame) -> DataFrame:
    """Total sales per store, sales person and month, with the incentive.

    In each (store, month) the sales person(s) with the highest total get
    ``round(total * 0.01, 2)``; ties all get it; everyone else gets 0. Decimal arithmetic only.
    """
    totals = facts.groupBy("store_id", "sales_person_id", "sales_month").agg(
        F.sum("total_cost").cast(T.DecimalType(16, 2)).alias("total_sales")
    )
    best = F.max("total_sales").over(Window.partitionBy("store_id", "sales_month"))
    incentive = F.round(F.col("total_sales") * F.lit(INCENTIVE_RATE).cast(T.DecimalType(3, 2)), 2)
    names = sales_team.select(
        F.col("id").alias("sales_person_id"), full_name("first_name", "last_name").alias("full_name")
    )
    return (
        totals.withColumn(
            "incentive",
            F.when(F.col("total_sales") == best, incentive).otherwise(F.lit(0)).cast(T.DecimalType(16, 2)),
        )
        .join(names, "sales_person_id", "left")
        .select(*SALES_TEAM_MART_COLUMNS)
    )


# ------------------------------------------------------------------------------------------ I/O
def write_load_csv(df: DataFrame, path: Path, key: list[str], partitions: int = 1) -> list[Path]:
    """CSV for LOAD DATA: RFC 4180 quoting with doubled quotes, NULL as an empty field.

    The rows are range-partitioned and sorted by ``key`` (the table's primary key) and the parts are
    returned in partition order, so loading them one after another only ever appends to InnoDB's
    clustered index, and the secondary indexes get a few sequential insertion points (one per month
    for ``ix_sales_month``). In ``repartition``'s order the inserts land at random pages: once the
    indexes outgrow the buffer pool (128 MB by default; change buffering is off in MariaDB 10.11)
    each row costs a page read. Measured (include/benchmarks/load_order.py, 5M fact rows): more than
    7 minutes in random order, about 28 s sorted, against 16 s for a table without the month index.
    """
    df.repartitionByRange(partitions, *key).sortWithinPartitions(*key).write.mode("overwrite").options(
        header=False, quote='"', escape='"', nullValue="", emptyValue='""', dateFormat="yyyy-MM-dd"
    ).csv(str(path))
    # part-00000 holds the lowest keys: the names sort in partition order.
    return sorted(path.glob("part-*.csv"))


def _mysql_connection(jdbc: dict[str, Any], database: str):
    import pymysql

    address = urlparse(jdbc["url"].removeprefix("jdbc:"))
    return pymysql.connect(
        host=address.hostname or "127.0.0.1",
        port=address.port or 3306,
        user=jdbc["user"],
        password=os.environ.get(JDBC_PASSWORD_ENV, ""),
        database=database,
        local_infile=True,
        autocommit=False,
        charset="utf8mb4",
    )


def load_csv(cursor: Any, statement: str, parts: list[Path]) -> int:
    """LOAD DATA each part; any warning (a truncated or converted value) fails the load."""
    loaded = 0
    for part in parts:
        loaded += cursor.execute(statement, (str(part),))
        cursor.execute("SHOW WARNINGS LIMIT 5")
        warnings = cursor.fetchall()
        if warnings:
            raise RuntimeError(f"LOAD DATA of {part.name} gave warnings, nothing loaded: {warnings}")
    return loaded


def write_parquet(df: DataFrame, path: Path, partition_by: list[str], sort_by: list[str]) -> None:
    """One file per partition (no small files), rows in a fixed order (the same run, the same rows).

    The sort starts with the partition columns: the writer needs rows grouped by them and would
    otherwise add its own sort on them alone, dropping the order by ``sort_by``.
    """
    df.repartition(*partition_by).sortWithinPartitions(*partition_by, *sort_by).write.mode(
        "overwrite"
    ).partitionBy(*partition_by).parquet(str(path))


# ------------------------------------------------------------------------------------ the job
def run(spark: SparkSession, spec: dict[str, Any]) -> dict[str, Any]:
    from salesflow.config import load_settings
    from salesflow.ledger import FileLedger, FileStatus, StatusMove
    from salesflow.sql import named_lock, render

    settings = load_settings()
    tables = settings.tables
    jdbc = spec["jdbc"]
    out = Path(spec["transform_dir"])
    out.mkdir(parents=True, exist_ok=True)
    manifest = json.loads((Path(spec["output_dir"]) / "manifest.json").read_text())
    valid_ids = [f["file_id"] for f in manifest["files"] if f["status"] == "valid"]
    result: dict[str, Any] = {"run_id": spec["run_id"], "files": {}, "months": [], "mart_rows": {}}

    conn = _mysql_connection(jdbc, settings.database)
    try:
        with named_lock(conn, f"salesflow.marts.{settings.database}", LOCK_TIMEOUT_SECONDS):
            with conn.cursor() as cursor:
                pending: list[int] = []
                if valid_ids:
                    cursor.execute(
                        render("load/validated_files.sql", tables, value_lists={"file_ids": len(valid_ids)}),
                        valid_ids,
                    )
                    pending = sorted(row[0] for row in cursor.fetchall())
            conn.commit()
            # A corrected file (same key, new bytes) replaces the rows of its earlier version.
            superseded: dict[int, str] = {}
            superseded_months: set[str] = set()
            with conn.cursor() as cursor:
                if pending:
                    cursor.execute(
                        render(
                            "load/superseded_versions.sql", tables, value_lists={"file_ids": len(pending)}
                        ),
                        pending,
                    )
                    superseded = dict(cursor.fetchall())
                if superseded:
                    cursor.execute(
                        render("load/months_of_files.sql", tables, value_lists={"file_ids": len(superseded)}),
                        list(superseded),
                    )
                    superseded_months = {row[0] for row in cursor.fetchall()}
            conn.commit()
            requested = sorted(set(spec.get("recompute_months") or []) | superseded_months)
            if not pending and not requested:
                log.info("transform: no file of this run waits for its load; nothing to do")
                if (out / "result.json").exists():
                    # Run again after the load committed: what that load did stands (publish and
                    # the report read it).
                    return json.loads((out / "result.json").read_text())
                write_atomically(out / "result.json", json.dumps(result, indent=2))
                return result

            customers = read_jdbc_table(spark, jdbc, tables.customer)
            sales_team = read_jdbc_table(spark, jdbc, tables.sales_team)
            loaded_facts = read_jdbc_table(spark, jdbc, tables.sales).select(*FACT_COLUMNS)
            if pending:
                rows = spark.read.parquet(str(Path(spec["output_dir"]) / "valid"))
                enriched = enrich(
                    rows.where(F.col("file_id").isin(pending)),
                    customers,
                    read_jdbc_table(spark, jdbc, tables.store),
                    read_jdbc_table(spark, jdbc, tables.product),
                    sales_team,
                ).cache()
            else:  # only months to recompute: no new rows
                enriched = loaded_facts.limit(0).withColumn("reject_reason", F.lit(None).cast("string"))
            new_facts = enriched.where(F.col("reject_reason").isNull()).select(*FACT_COLUMNS)
            counts = {
                (r["file_id"], r["reject_reason"]): r["count"]
                for r in enriched.groupBy("file_id", "reject_reason").count().collect()
            }
            new_months = {r["sales_month"] for r in new_facts.select("sales_month").distinct().collect()}
            months = sorted(new_months | set(requested))
            result["months"] = months

            # All loaded facts of the touched months, except older copies of this run's files.
            replaced = pending + list(superseded)
            prior = loaded_facts.where(F.col("sales_month").isin(months) & ~F.col("file_id").isin(replaced))
            all_facts = new_facts.unionByName(prior).cache()
            customer_rows = customer_mart(all_facts, customers)
            team_rows = sales_team_mart(all_facts, sales_team)

            # Each CSV in its table's primary-key order (see write_load_csv).
            fact_parts = write_load_csv(new_facts, out / "load" / "sales", FACT_KEY, partitions=2)
            customer_parts = write_load_csv(customer_rows, out / "load" / "customer_mart", CUSTOMER_MART_KEY)
            team_parts = write_load_csv(team_rows, out / "load" / "sales_team_mart", SALES_TEAM_MART_KEY)
            enriched.where(F.col("reject_reason").isNotNull()).select(
                "file_id",
                "line_number",
                "reject_reason",
                *[c for c in FACT_COLUMNS if c not in ("file_id", "line_number")],
            ).write.mode("overwrite").partitionBy("file_id").options(header=True, quote='"', escape='"').csv(
                str(out / "rejected")
            )

            parquet = out / "parquet"
            write_parquet(
                all_facts, parquet / "sales", ["sales_month", "store_id"], ["file_id", "line_number"]
            )
            write_parquet(customer_rows, parquet / "customer_mart", ["sales_date_month"], ["customer_id"])
            write_parquet(
                team_rows, parquet / "sales_team_mart", ["sales_month"], ["store_id", "sales_person_id"]
            )

            ledger = FileLedger(conn, tables)
            by_file = {f["file_id"]: f for f in manifest["files"]}
            with conn.cursor() as cursor:
                facts_loaded = 0
                if pending:
                    cursor.execute(
                        render(
                            "load/delete_sales_of_files.sql", tables, value_lists={"file_ids": len(replaced)}
                        ),
                        replaced,
                    )
                    facts_loaded = load_csv(cursor, render("load/load_sales.sql", tables), fact_parts)
                    fault_point("transform_and_load")
                if months:
                    month_list = {"months": len(months)}
                    cursor.execute(
                        render("load/delete_customer_mart_months.sql", tables, value_lists=month_list), months
                    )
                    result["mart_rows"]["customers_data_mart"] = load_csv(
                        cursor, render("load/load_customer_mart.sql", tables), customer_parts
                    )
                    cursor.execute(
                        render("load/delete_sales_team_mart_months.sql", tables, value_lists=month_list),
                        months,
                    )
                    result["mart_rows"]["sales_team_data_mart"] = load_csv(
                        cursor, render("load/load_sales_team_mart.sql", tables), team_parts
                    )
            expected_facts = sum(n for (_, reason), n in counts.items() if reason is None)
            if facts_loaded != expected_facts:
                raise RuntimeError(f"loaded {facts_loaded} fact rows, expected {expected_facts}; rolled back")
            loaded_moves: list[StatusMove] = []
            rejected_by_file: dict[int, dict[str, int]] = {}
            for (fid, reason), n in counts.items():  # one pass: no scan of all counts per file
                if reason:
                    rejected_by_file.setdefault(fid, {})[reason] = n
            for file_id in pending:
                loaded = counts.get((file_id, None), 0)
                rejected_here = rejected_by_file.get(file_id, {})
                rows_rejected = by_file[file_id]["rows_rejected"] + sum(rejected_here.values())
                rows_read = by_file[file_id]["rows_read"]
                if loaded + rows_rejected != rows_read:
                    raise RuntimeError(
                        f"file {by_file[file_id]['object_key']}: {rows_read} rows read but "
                        f"{loaded} loaded + {rows_rejected} rejected; rolled back"
                    )
                loaded_moves.append(StatusMove(file_id, rows_loaded=loaded, rows_rejected=rows_rejected))
                result["files"][str(file_id)] = {
                    "object_key": by_file[file_id]["object_key"],
                    "rows_loaded": loaded,
                    "rows_rejected_at_load": rejected_here,
                }
            # The ledger moves go in the load's transaction, one batched UPDATE per 1,000 files.
            ledger.transition_many(FileStatus.LOADED, loaded_moves, commit=False)
            superseded_moves: list[StatusMove] = []
            newest_of_key: dict[str, int] = {}
            for file_id in pending:
                key = by_file[file_id]["object_key"]
                newest_of_key[key] = max(file_id, newest_of_key.get(key, file_id))
            for old_id, key in superseded.items():
                newer = newest_of_key[key]
                superseded_moves.append(StatusMove(old_id, reason=f"superseded_by:{newer}"))
                log.info(
                    "file %s (ledger id %d): SUPERSEDED by ledger id %d, its rows replaced",
                    key,
                    old_id,
                    newer,
                )
            ledger.transition_many(FileStatus.SUPERSEDED, superseded_moves, commit=False)
            result["superseded"] = sorted(superseded)
            # Written before the commit: if the job dies right after it, the retry finds nothing
            # left to load and keeps this result, so the months still get published.
            write_atomically(out / "result.json", json.dumps(result, indent=2))
            conn.commit()
            fault_point("transform_and_load.after_commit")
            for file_id, entry in result["files"].items():
                log.info(
                    "file %s (ledger id %s): LOADED, %d rows%s",
                    entry["object_key"],
                    file_id,
                    entry["rows_loaded"],
                    f", rejected at load {entry['rows_rejected_at_load']}"
                    if entry["rows_rejected_at_load"]
                    else "",
                )
            log.info(
                "transform: %d fact rows loaded; months recomputed %s; mart rows %s",
                facts_loaded,
                months,
                result["mart_rows"],
            )
    except BaseException:
        with contextlib.suppress(Exception):  # a broken connection has nothing left to roll back
            conn.rollback()
        raise
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    return result


def main() -> int:
    return run_job("salesflow-transform", "salesflow: transform validated sales files and load them", run)


if __name__ == "__main__":
    sys.exit(main())
