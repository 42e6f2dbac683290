"""A run's steps without Airflow's scheduler: the DAG's own functions, called in order.

The Spark job runs in the test session's Spark (``spark_jobs.transform.run``) on the spec the DAG's
download step wrote, so the tests build specs with the same code the DAG uses.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from salesflow import contracts
from salesflow.contracts import JobSpec, TransformResult
from salesflow.operators.quarantine import QuarantineOperator
from salesflow.pipeline import claim_new_files, download_claimed_files
from salesflow.storage import s3_hook


def put_files(settings: Any, files: dict[str, bytes]) -> None:
    hook = s3_hook()
    for key, content in files.items():
        hook.load_bytes(content, key=key, bucket_name=settings.bucket, replace=True)


def prepare(settings: Any, run_id: str, as_of: date, recompute: list[str] | None = None) -> JobSpec:
    """Claim, download with the file checks, quarantine: the run up to its Spark job."""
    claim_new_files(settings, run_id, lambda _run: "success")
    spec_path = download_claimed_files(settings, run_id, as_of, recompute)
    QuarantineOperator(task_id="quarantine_invalid_files", stage="intake").execute({"run_id": run_id})
    return contracts.read(spec_path, JobSpec)


def run_job(
    spark: Any, settings: Any, run_id: str, as_of: date, recompute: list[str] | None = None
) -> TransformResult:
    """The run up to and with its Spark job (in this session's Spark)."""
    from spark_jobs.transform import run

    return run(spark, prepare(settings, run_id, as_of, recompute))
