"""
### segment_counts

A small consumer of `sales_pipeline`'s outputs: it runs whenever a pipeline run has published the
customer segments (the `salesflow.customer_segments` Asset) and logs how many customers each
segment holds in the latest snapshot. A template for DAGs that build on salesflow's datasets.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from salesflow.assets import ASSETS


@dag(
    dag_id="segment_counts",
    schedule=[ASSETS["customer_segments"]],
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    doc_md=__doc__,
    tags=["salesflow", "analytics"],
    default_args={"owner": "data-engineering", "retries": 2},
)
def segment_counts() -> None:
    @task
    def log_latest_segments() -> dict[str, int]:
        """Customers per segment in the latest snapshot (customer_segments)."""
        import logging

        from salesflow.config import load_settings
        from salesflow.db import connect
        from salesflow.sql import render

        settings = load_settings()
        with connect(settings) as conn, conn.cursor() as cursor:
            cursor.execute(render("analytics/segments_latest.sql", settings.tables))
            rows = cursor.fetchall()
        counts = {segment: customers for _snapshot, segment, customers in rows}
        snapshot = rows[0][0] if rows else "none yet"
        logging.getLogger(__name__).info("customer segments of snapshot %s: %s", snapshot, counts)
        return counts

    log_latest_segments()


segment_counts()
