"""The run's files in S3: one prefix per run (``storage.prefixes.runs`` + the run id), the only
hand-off between the run's tasks, so any task runs on any worker, in a fresh folder, on every try.

Below the prefix:

- ``input/<ledger id><ext>``: the run's copy of each accepted file version, made server-side by
  ``download_files`` and checked to hold the bytes its file checks read (what Spark reads);
- ``spec.json``: the Spark job's spec (``contracts.JobSpec``);
- ``load/``, ``parquet/``, ``rejected/`` and ``result.json``: the Spark job's outputs
  (``spark_jobs/transform.py``), read by ``publish_outputs`` and the report.

Removed when the run ends well (``remove_run_files``), kept when a task failed: for its retry and
for a look at what the job wrote.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from salesflow import contracts
from salesflow.config import Settings
from salesflow.contracts import RESULT_NAME, JobSpec, TransformResult
from salesflow.db import connect
from salesflow.intake import EXTENSIONS
from salesflow.ledger import FileLedger, LedgerEntry
from salesflow.paths import sanitize_name
from salesflow.statuses import IN_FLIGHT, FileStatus
from salesflow.storage import list_versions, read_object, s3_hook

log = logging.getLogger(__name__)

SPEC_NAME = "spec.json"


def run_prefix(settings: Settings, run_id: str) -> str:
    """The run's own prefix (two runs never share one)."""
    return f"{settings.prefixes.runs}{sanitize_name(run_id)}/"


def run_uri(settings: Settings, run_id: str) -> str:
    """The run's prefix as Spark addresses it (S3A)."""
    return f"s3a://{settings.bucket}/{run_prefix(settings, run_id)}"


def staged_key(settings: Settings, run_id: str, entry_id: int, fmt: str | None) -> str:
    """Where a file's staged copy goes: ``input/<ledger id><the format's extension>``.

    Named by the ledger id, never by the S3 key (no key can steer a write); the extension is the
    format's (``.csv.gz``, ``.parquet``, ...), so Spark picks the gzip codec by it.
    """
    return f"{run_prefix(settings, run_id)}input/{entry_id:010d}{EXTENSIONS.get(fmt or '', '.data')}"


def spec_uri(settings: Settings, run_id: str) -> str:
    return run_uri(settings, run_id) + SPEC_NAME


class RunFilesMissingError(FileNotFoundError):
    """A task's input under the run's prefix is gone while files of the run still wait for it."""


def files_waiting(settings: Settings, run_id: str) -> tuple[list[LedgerEntry], list[LedgerEntry]]:
    """The run's files, and those a step of the run still has to act on.

    Waiting: in flight (CLAIMED, VALIDATED), or a duplicate not yet moved aside (its version still
    under the source prefix; one listing, only asked when the run's files are missing).
    """
    with connect(settings) as conn:
        entries = FileLedger(conn, settings.tables).entries_for_run(settings.bucket, run_id)
    waiting = [e for e in entries if e.status in IN_FLIGHT]
    duplicates = [e for e in entries if e.status == FileStatus.DUPLICATE]
    if duplicates:
        listed = set(list_versions(s3_hook(), settings.bucket, settings.prefixes.source))
        waiting += [e for e in duplicates if e.version() in listed]
    return entries, waiting


def write_spec(settings: Settings, run_id: str, spec: JobSpec) -> str:
    """The spec in one PUT (a try that dies first leaves the earlier one); its S3A URI."""
    key = run_prefix(settings, run_id) + SPEC_NAME
    s3_hook().load_string(contracts.dumps(spec), key=key, bucket_name=settings.bucket, replace=True)
    return spec_uri(settings, run_id)


def earlier_spec(settings: Settings, run_id: str, hook: Any = None) -> JobSpec | None:
    """The spec an earlier try of ``download_files`` wrote, if any."""
    found = read_object(hook or s3_hook(), settings.bucket, run_prefix(settings, run_id) + SPEC_NAME)
    return None if found is None else contracts.loads(found, JobSpec)


def read_spec(settings: Settings, run_id: str, hook: Any = None) -> JobSpec | None:
    """The run's spec, or None when the run is already over.

    The run's files are removed when it ends well. A task cleared and run again after that finds
    every file of the run settled (loaded, quarantined, ...): it has nothing left to do, and says
    so. The spec missing while files of the run still wait is an error a retry cannot mend; the
    message says what to clear.
    """
    spec = earlier_spec(settings, run_id, hook)
    if spec is not None:
        return spec
    entries, waiting = files_waiting(settings, run_id)
    if waiting:
        raise RunFilesMissingError(
            f"s3://{settings.bucket}/{run_prefix(settings, run_id)}{SPEC_NAME} is missing but "
            f"{len(waiting)} files of run {run_id} still wait for it (e.g. {waiting[0].object_key}: "
            f"{waiting[0].status}); clear download_files and the tasks after it to stage them again"
        )
    log.info(
        "the run's files are gone and all %d files of run %s are settled; nothing to do", len(entries), run_id
    )
    return None


def read_transform_result(settings: Settings, run_id: str, hook: Any = None) -> TransformResult | None:
    """The Spark job's result (``hook``: a client already made, each new one costs 0.1 to 0.3 s)."""
    found = read_object(hook or s3_hook(), settings.bucket, run_prefix(settings, run_id) + RESULT_NAME)
    return None if found is None else contracts.loads(found, TransformResult)


def write_transform_result(settings: Settings, run_id: str, result: TransformResult) -> None:
    key = run_prefix(settings, run_id) + RESULT_NAME
    s3_hook().load_string(contracts.dumps(result), key=key, bucket_name=settings.bucket, replace=True)


def run_objects(hook: Any, settings: Settings, run_id: str, below: str) -> list[str]:
    """The keys under ``below`` in the run's prefix, in order."""
    prefix = run_prefix(settings, run_id) + below
    return sorted(item["Key"] for item in hook.iter_file_metadata(prefix=prefix, bucket_name=settings.bucket))


def remove_run_files(settings: Settings, run_id: str) -> int:
    """Delete everything under the run's prefix (the run ended well); how many objects went."""
    hook = s3_hook()
    keys = run_objects(hook, settings, run_id, "")
    if keys:
        hook.delete_objects(settings.bucket, keys)
    log.info("removed the %d objects of s3://%s/%s", len(keys), settings.bucket, run_prefix(settings, run_id))
    return len(keys)


@contextmanager
def recording_failures(settings: Settings, run_id: str, task: str) -> Iterator[None]:
    """A task's failure is kept as ``last_error`` on the files the run still holds in flight.

    The next run that claims them again (and the quarantine after too many attempts) says what went
    wrong last. Best effort: a failure to record never hides the task's own error.
    """
    try:
        yield
    except Exception as error:
        try:
            with connect(settings) as conn:
                message = f"{task}: {type(error).__name__}: {' '.join(str(error).split())}"
                FileLedger(conn, settings.tables).record_error(settings.bucket, run_id, message)
        except Exception as second:  # MySQL itself may be what failed
            log.warning("could not record the failure on the run's files: %s", second)
        raise
