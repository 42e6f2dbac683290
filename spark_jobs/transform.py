"""The run's one Spark job: row rules, enrichment, marts and analytics, loaded in one transaction.

Input: the run's spec (``salesflow.contracts.JobSpec``, written by ``download_files``) naming the
files the file checks accepted, each staged under the run's S3 prefix. Steps:

1. ``extract``: the accepted files of the run still VALIDATED in the ledger, read once (one read
   per header) into a Parquet copy under the run's prefix with every row typed, enriched and
   judged (``rules`` decides the rejects);
2. per batch of files, under a MySQL named lock (one writer of the marts at a time):
   - ``plan``: the months the batch touches (its own, those of an earlier version it supersedes,
     any month to recompute), and the months of the marts and analytics that change with them;
   - ``compute``: this batch's summaries per file, key and month, plus the summaries already
     loaded for the months needed (never the facts), give the marts of the touched months and
     the analytics of the months they reach;
   - ``write``: the load CSVs and Parquet of the batch, in folders of its own;
   - ``load``: in one transaction the facts, summaries, marts, analytics, the ledger (LOADED with
     the counts) and the rejects per reason: readers see all of a batch or none of it;
3. here: a batch that fails because of its data is split until the file at fault is found: that
   file is quarantined (``load_failed:``), the others load in the same run. A file that failed in
   an earlier run loads in a batch of its own. What all stages share is ``context.JobContext``.

Outputs under the run's S3 prefix (``write``), and ``result.json`` (``TransformResult``) for the
DAG's later tasks.
"""

from __future__ import annotations

import contextlib
import logging
import sys

from pyspark.sql import DataFrame, SparkSession

from salesflow.contracts import RESULT_NAME, FileOutcome, JobSpec, TransformResult, loads
from salesflow.faults import fault_point
from salesflow.ledger import LOAD_FAILED, StatusMove
from salesflow.sql import named_lock
from salesflow.statuses import FileStatus
from spark_jobs import mysql_load, object_store
from spark_jobs.common import run_job
from spark_jobs.compute import compute
from spark_jobs.context import JobContext, timed
from spark_jobs.extract import check_rows
from spark_jobs.load import commit, write_result
from spark_jobs.plan import plan_batch
from spark_jobs.write import write_outputs

log = logging.getLogger("salesflow.transform")

LOCK_TIMEOUT_SECONDS = 1800


class TransformJob(JobContext):
    """The run's batches: each planned, computed, written and loaded; a failing one narrowed."""

    def pending(self) -> list[int]:
        """The accepted files still VALIDATED (a retry skips those an earlier try loaded)."""
        ids = sorted(self.files)
        if not ids:
            return []
        return sorted(row[0] for row in self.query("validated_files", ids, file_ids=len(ids)))

    def load_batch(
        self, file_ids: list[int], recompute: list[str], checked: DataFrame | None, result: TransformResult
    ) -> TransformResult:
        plan = plan_batch(self, file_ids, recompute)
        fault_point("transform_and_load.batch", subject=" ".join(self.files[f].object_key for f in file_ids))
        try:
            with timed("compute and write the outputs"):
                parts = write_outputs(self, plan, compute(self, plan, checked), checked)
            with timed("load into MySQL"):
                return commit(self, plan, parts, result)
        finally:
            self.release_batch_cache()

    def load_all(
        self, pending: list[int], checked: DataFrame | None, result: TransformResult
    ) -> TransformResult:
        """Load the pending files: new ones in one batch, each file an earlier run failed with alone.

        A batch that fails because of its data (or of an error nobody classified) is split in two
        and each half tried on its own, until the one file at fault is alone: that file is set
        aside (``set_aside``), every other file loads. A service that does not answer fails the
        task (Airflow retries it); nothing is set aside for that.
        """
        fresh = [f for f in pending if self.files[f].attempts <= 1]
        queue = ([fresh] if fresh else []) + [[f] for f in pending if self.files[f].attempts > 1]
        recompute = sorted(self.spec.recompute_months)
        if not queue:
            queue = [[]]  # only months to recompute
        while queue:
            batch = queue.pop(0)
            try:
                result = self.load_batch(batch, recompute, checked, result)
                recompute = []
            except Exception as error:
                self.conn.rollback()
                kind = mysql_load.failure_kind(error)
                if kind == "infrastructure" or not batch:
                    raise
                if len(batch) > 1:
                    log.warning(
                        "transform: a batch of %d files failed (%s); trying each half alone",
                        len(batch),
                        mysql_load.short_reason(error),
                    )
                    queue[:0] = [batch[: len(batch) // 2], batch[len(batch) // 2 :]]
                    continue
                result = self.set_aside(batch[0], kind, error, result)
        if recompute:  # every batch that would have carried them failed: the months still count
            result = self.load_batch([], recompute, checked, result)
        return result

    def set_aside(
        self, file_id: int, kind: str, error: BaseException, result: TransformResult
    ) -> TransformResult:
        """The file a failed batch came down to: QUARANTINED when its data is at fault
        (``load_failed:<reason>``), else FAILED (the next run claims it again, alone)."""
        reason = f"{LOAD_FAILED}{mysql_load.short_reason(error)}"
        status = FileStatus.QUARANTINED if kind == "data" else FileStatus.FAILED
        stats = self.stats_of(file_id)
        move = StatusMove(
            file_id, reason=reason, last_error=mysql_load.short_reason(error), rows_read=stats.rows_read
        )
        self.ledger.transition_many(status, [move])
        key = self.files[file_id].object_key
        log.error(
            "file %s (ledger id %d): %s, %s; the other files load without it", key, file_id, status, reason
        )
        outcome = FileOutcome(object_key=key, status=status.value, rows_read=stats.rows_read, reason=reason)
        merged = result.merged(TransformResult(run_id=self.spec.run_id, files={str(file_id): outcome}))
        write_result(self, merged)
        return merged

    def earlier_result(self) -> TransformResult:
        """The result an earlier try of the job left (its batches stay loaded), or an empty one."""
        found = object_store.read_if_there(f"{self.out}/{RESULT_NAME}")
        return TransformResult(run_id=self.spec.run_id) if found is None else loads(found, TransformResult)

    def run(self) -> TransformResult:
        result = self.earlier_result()
        pending = self.pending()
        if not pending and not self.spec.recompute_months:
            log.info("transform: no file of this run waits for its load; nothing to do")
            # Run again after the load committed: what that load did stands (publish and the
            # report read it).
            write_result(self, result)
            return result
        checked = None
        if pending:
            with timed(f"read and check the rows of {len(pending)} files"):
                checked = check_rows(self, pending)
        return self.load_all(pending, checked, result)


def run(spark: SparkSession, spec: JobSpec) -> TransformResult:
    """Load the run's accepted files (and rebuild the months to recompute), under the marts' lock."""
    conn = mysql_load.connect(spec.jdbc, spec.database)
    try:
        with named_lock(conn, f"salesflow.marts.{spec.database}", LOCK_TIMEOUT_SECONDS):
            job = TransformJob(spark, spec, conn)
            try:
                result = job.run()
            except Exception as error:
                # A lost server holds no cache, and asking it would wait out the client's retries.
                if mysql_load.failure_kind(error) != "infrastructure":
                    with contextlib.suppress(Exception):  # the job's own error is what the log needs
                        job.release_caches()
                raise
            job.release_caches()
            return result
    except BaseException:
        with contextlib.suppress(Exception):  # a broken connection has nothing left to roll back
            conn.rollback()
        raise
    finally:
        with contextlib.suppress(Exception):
            conn.close()


def main() -> int:
    return run_job("salesflow-transform", "salesflow: check, transform and load the run's files", run)


if __name__ == "__main__":
    sys.exit(main())
