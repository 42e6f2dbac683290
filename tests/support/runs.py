"""A run's steps without Airflow's scheduler: the DAG's own functions, called in order.

The Spark job runs in the test session's Spark (``spark_jobs.transform.run``) on the spec the DAG's
download step wrote, so the tests build specs with the same code the DAG uses.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

from salesflow.contracts import JobSpec, TransformResult
from salesflow.operators.quarantine import QuarantineOperator
from salesflow.run_files import earlier_spec, run_objects
from salesflow.steps.claim import claim_new_files
from salesflow.steps.download import download_claimed_files
from salesflow.storage import s3_hook


def put_files(settings: Any, files: dict[str, bytes]) -> None:
    hook = s3_hook()
    for key, content in files.items():
        hook.load_bytes(content, key=key, bucket_name=settings.bucket, replace=True)


def prepare(settings: Any, run_id: str, as_of: date, recompute: list[str] | None = None) -> JobSpec:
    """Claim, download with the file checks, quarantine: the run up to its Spark job."""
    claim_new_files(settings, run_id, lambda _run: "success")
    download_claimed_files(settings, run_id, as_of, recompute)
    QuarantineOperator(task_id="quarantine_invalid_files", stage="intake").execute({"run_id": run_id})
    spec = earlier_spec(settings, run_id)
    assert spec is not None, f"download_files wrote no spec for {run_id}"
    return spec


def job_rejects(settings: Any, run_id: str, file_id: int) -> list[dict[str, str]]:
    """The rejected rows the run's job wrote for one file (its CSV parts under the run's prefix)."""
    hook = s3_hook()
    parts = [
        key
        for key in run_objects(hook, settings, run_id, "rejected/")
        if f"/file_id={file_id}/" in key and key.endswith(".csv")
    ]
    return [row for key in parts for row in csv.DictReader(io.StringIO(hook.read_key(key, settings.bucket)))]


def run_job(
    spark: Any, settings: Any, run_id: str, as_of: date, recompute: list[str] | None = None
) -> TransformResult:
    """The run up to and with its Spark job (in this session's Spark)."""
    from spark_jobs.transform import run

    return run(spark, prepare(settings, run_id, as_of, recompute))
