"""
### sales_pipeline

Sales files landing in S3 are claimed in the file ledger and downloaded; the file checks (format,
encoding, header) run in the same pass, and each accepted file is staged under the run's S3 prefix.
Files that fail them are quarantined (S3 error prefix and local error folder, with a reason file)
before any Spark job starts. One Spark job then applies the
row rules (rejected rows keep a reason code and their line), enriches the rows with the dimension
tables and loads the facts, the two marts and the analytics into MySQL in one transaction per
batch, maintained from per-file summaries (never by reading a month's facts back). A file whose
data makes the load fail is quarantined alone and the rest load. The outputs are published as
Parquet, the loaded files move to the processed prefix, and a run report (JSON and Markdown) is
written to the reports prefix and printed in the last task's log; a run that leaves a file
unsettled fails, and the next run claims that file again.

Settings come from `include/config/base.yaml` and `<SALESFLOW_ENV>.yaml`; credentials from the
Airflow connections `salesflow_s3`, `salesflow_mysql` and `salesflow_spark`. Every task is keyed by
the run id and the files the run claimed, so retries and re-runs end in the same state. Tasks share
no disk: they hand off through S3 (the run's prefix), MySQL and XCom, so any task may run on any
worker, on every try.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Param, TriggerRule, dag, get_current_context, task

from salesflow.assets import ASSETS
from salesflow.config import AWS_CONN_ID, load_settings
from salesflow.events import EVENTS_QUEUE_ENV, schedule
from salesflow.operators.quarantine import QuarantineOperator
from salesflow.operators.sensors import SalesFilesSensor
from salesflow.operators.spark import SalesflowSparkSubmitOperator
from salesflow.paths import SPARK_JOBS_DIR

# S3 event notifications start runs too when their queue is named (salesflow.events); the daily
# run stays as the sweep.
EVENTS_QUEUE_URL = os.environ.get(EVENTS_QUEUE_ENV)


@dag(
    dag_id="sales_pipeline",
    schedule=schedule(EVENTS_QUEUE_URL),
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["salesflow", "sales", "s3", "spark", "mysql"],
    default_args={
        "owner": "data-engineering",
        "retries": 2,
        # The fault-injection tests shorten the wait; a deployment keeps the minute.
        "retry_delay": timedelta(seconds=float(os.environ.get("SALESFLOW_RETRY_DELAY_SECONDS", 60))),
        "retry_exponential_backoff": True,
    },
    # Settings are read when a task runs, never when the file is parsed.
    user_defined_macros={"salesflow_settings": load_settings},
    params={
        "recompute_months": Param(
            [],
            type="array",
            items={"type": "string", "pattern": "^[0-9]{4}-(0[1-9]|1[0-2])$"},
            uniqueItems=True,
            title="Recompute months",
            description=(
                "Months (YYYY-MM) whose marts and Parquet partitions are rebuilt from the loaded "
                "facts, for example after a dimension table was corrected. The run does not wait "
                "for new files; new files present are loaded as usual. Empty: the normal run."
            ),
        ),
        "reprocess": Param(
            [],
            type="array",
            items={"type": "string", "minLength": 1, "maxLength": 1024},
            uniqueItems=True,
            title="Reprocess files",
            description=(
                "Ledger ids or S3 keys (under the source prefix) of files already settled, loaded "
                "again from their archived or quarantined bytes even though their content was seen "
                "before: every check and rule again, and the rows they loaded earlier replaced (never "
                "counted twice). The run report says what became of each. Empty: the normal run."
            ),
        ),
    },
)
def sales_pipeline() -> None:
    wait_for_files = SalesFilesSensor(
        task_id="wait_for_files",
        aws_conn_id=AWS_CONN_ID,
        bucket_name="{{ salesflow_settings().bucket }}",
        bucket_key="{{ salesflow_settings().prefixes.source }}*",
        wildcard_match=True,
        deferrable=True,
        # How often and how long a run waits for a first file before it is skipped (soft_fail).
        poke_interval=float(os.environ.get("SALESFLOW_SENSOR_POKE_SECONDS", 60)),
        timeout=float(os.environ.get("SALESFLOW_SENSOR_TIMEOUT_SECONDS", timedelta(hours=6).total_seconds())),
        soft_fail=True,
        # Started by events, a run never waits: a file that lands later starts a run of its own.
        wait=not EVENTS_QUEUE_URL,
    )

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def claim_files() -> dict:
        """Claim every new file version under the source prefix for this run (atomic), and the
        files earlier runs that are over left in flight."""
        from salesflow.steps.claim import claim_new_files

        context = get_current_context()
        params = context["params"]
        summary = claim_new_files(
            load_settings(),
            context["run_id"],
            airflow_run_state(context),
            reprocess=params["reprocess"],
            requested_by=context["dag_run"].triggering_user_name or "unknown",
        )
        months, asked = params["recompute_months"], params["reprocess"]
        # Nothing in flight and nothing asked for: the rest of the run is skipped. (Airflow skips
        # no task that already ran, so clearing this task alone after a good run changes nothing.)
        # A run asked to reprocess goes on to its report, which says why a request was refused.
        return {**summary, "recompute_months": months} if summary["claimed"] or months or asked else {}

    @task
    def download_files() -> str:
        """Check this run's files (one read each), stage the accepted ones; write the job spec."""
        from salesflow.run_files import recording_failures
        from salesflow.steps.download import download_claimed_files

        context = get_current_context()
        # The day the run is for: its data interval end, or the trigger time of a manual run.
        as_of = context.get("data_interval_end") or context["dag_run"].run_after
        settings = load_settings()
        with recording_failures(settings, context["run_id"], "download_files"):
            return download_claimed_files(
                settings, context["run_id"], as_of.date(), context["params"]["recompute_months"]
            )

    quarantine_invalid_files = QuarantineOperator(task_id="quarantine_invalid_files", stage="intake")

    transform_and_load = SalesflowSparkSubmitOperator(
        task_id="transform_and_load",
        application=str(SPARK_JOBS_DIR / "transform.py"),
        name="salesflow-transform",
    )

    quarantine_failed_loads = QuarantineOperator(task_id="quarantine_failed_loads", stage="load")

    # Each published dataset is an Asset: a DAG scheduled on it runs after the run publishes.
    @task(outlets=list(ASSETS.values()))
    def publish_outputs() -> dict:
        """The run's Parquet (facts per file version, the months rewritten) and reject files to S3."""
        from salesflow.run_files import recording_failures
        from salesflow.steps.publish import publish_outputs as publish

        settings, run_id = load_settings(), get_current_context()["run_id"]
        with recording_failures(settings, run_id, "publish_outputs"):
            return publish(settings, run_id)

    @task
    def archive_files() -> dict:
        """Move the files this run loaded to the processed prefix (the log names each file)."""
        from collections import Counter

        from salesflow.steps.archive import archive_loaded_files

        # Counts only: XCom is no place for one entry per file (keys can be 1 KB, runs 10,000 files).
        return dict(Counter(archive_loaded_files(load_settings(), get_current_context()["run_id"]).values()))

    @task
    def run_report() -> dict:
        """Write the run report to S3 and print it here; fail the run if a file is not settled."""
        from airflow.sdk.exceptions import AirflowFailException

        from salesflow.report import FilesNotSettledError, publish_report

        try:
            return publish_report(load_settings(), get_current_context()["run_id"])["totals"]
        except FilesNotSettledError as error:
            # No retry changes that: the next run claims those files again.
            raise AirflowFailException(str(error)) from None

    @task(trigger_rule=TriggerRule.NONE_FAILED)
    def remove_run_files() -> int:
        """The run ended well: its files under the runs prefix go (staged copies, job outputs)."""
        from salesflow.run_files import remove_run_files as remove

        return remove(load_settings(), get_current_context()["run_id"])

    @task(trigger_rule=TriggerRule.ONE_FAILED, retries=0)
    def keep_run_files() -> str:
        """A task failed: the run's files stay for inspection (and for the retry); say where."""
        import logging

        from salesflow.run_files import run_uri

        where = run_uri(load_settings(), get_current_context()["run_id"])
        logging.getLogger(__name__).warning("a task of this run failed; its files are kept: %s", where)
        return where

    loaded = (
        wait_for_files
        >> claim_files()
        >> download_files()
        >> quarantine_invalid_files
        >> transform_and_load
        >> quarantine_failed_loads
        >> publish_outputs()
        >> archive_files()
        >> run_report()
    )
    loaded >> [remove_run_files(), keep_run_files()]


def airflow_run_state(context: dict):
    """The state of another run of this DAG as Airflow knows it (None when it knows no such run;
    any other failure to ask fails the claim: a run is never taken for over when it may not be)."""
    from salesflow.steps.claim import known_run_state

    ti, dag_id = context["ti"], context["dag"].dag_id
    return lambda run_id: known_run_state(lambda: ti.get_dagrun_state(dag_id=dag_id, run_id=run_id))


sales_pipeline()
