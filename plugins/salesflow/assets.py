"""The datasets salesflow publishes, as Airflow Assets: a DAG can be scheduled on any of them.

``publish_outputs`` declares them as outlets, so each run that publishes emits an event for each.
Names only (no bucket in them): the same Asset in every environment, known when the DAG is parsed
without reading any setting.
"""

from __future__ import annotations

from airflow.sdk import Asset

GROUP = "salesflow"

# Published dataset -> its Asset (the S3 prefix each lands under is in the settings).
DATASETS = (
    "sales_facts",
    "customers_data_mart",
    "sales_team_data_mart",
    "sales_comparison_mart",
    "customer_segments",
)
ASSETS = {name: Asset(name=f"salesflow.{name}", group=GROUP) for name in DATASETS}
