"""Every DAG imports cleanly and is configured the way the house style asks."""

from __future__ import annotations

import pytest
from airflow.dag_processing.dagbag import DagBag

from salesflow.paths import PROJECT_ROOT


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(PROJECT_ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert sorted(dagbag.dag_ids) == ["sales_pipeline", "segment_counts"]


def test_sales_pipeline_shape(dagbag):
    dag = dagbag.dags["sales_pipeline"]
    assert set(dag.tags) >= {"salesflow", "sales"}
    assert dag.catchup is False
    assert dag.doc_md and "sales_pipeline" in dag.doc_md
    assert dag.max_active_runs == 1
    task_ids = [t.task_id for t in dag.topological_sort()]
    assert task_ids[:9] == [
        "wait_for_files",
        "claim_files",
        "download_files",
        "quarantine_invalid_files",  # the file checks' verdicts, before any Spark job starts
        "transform_and_load",  # the run's one Spark job
        "quarantine_failed_loads",
        "publish_outputs",
        "archive_files",
        "run_report",
    ]
    assert set(task_ids[9:]) == {"remove_run_files", "keep_run_files"}
    spark_tasks = [t.task_id for t in dag.tasks if type(t).__name__ == "SalesflowSparkSubmitOperator"]
    assert spark_tasks == ["transform_and_load"]
    for task in dag.tasks:
        if task.task_id != "keep_run_files":  # only logs where the failed run's folder is
            assert task.retries >= 2, task.task_id
        assert task.owner == "data-engineering"


def test_published_datasets_are_assets_a_dag_can_be_scheduled_on(dagbag):
    from salesflow.assets import ASSETS

    publish = dagbag.dags["sales_pipeline"].get_task("publish_outputs")
    assert [a.name for a in publish.outlets] == [
        "salesflow.sales_facts",
        "salesflow.customers_data_mart",
        "salesflow.sales_team_data_mart",
        "salesflow.sales_comparison_mart",
        "salesflow.customer_segments",
    ]
    consumer = dagbag.dags["segment_counts"]
    assert list(consumer.timetable.asset_condition.objects) == [ASSETS["customer_segments"]]
    assert consumer.get_task("log_latest_segments").retries >= 2


def test_sensor_is_deferrable_and_watches_the_source_prefix(dagbag):
    sensor = dagbag.dags["sales_pipeline"].get_task("wait_for_files")
    assert sensor.deferrable is True
    assert sensor.bucket_key == "{{ salesflow_settings().prefixes.source }}*"
    assert sensor.wildcard_match is True
