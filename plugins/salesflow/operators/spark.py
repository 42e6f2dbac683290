"""SparkSubmitOperator with salesflow's settings: jars, Spark conf with S3A, credentials by
environment; and, when the job dies as a whole, the narrowing that finds the file it dies of
(``isolation``). When the ``salesflow_spark`` connection is a Spark Connect server (conn_type
``spark_connect``), the same job runs as a plain Python process, a client of that warm server, with
the same narrowing."""

from __future__ import annotations

import collections
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from salesflow.config import MYSQL_CONN_ID, SPARK_CONN_ID, Settings, load_settings
from salesflow.contracts import FileOutcome, JobSpec, TransformResult
from salesflow.isolation import JOB_FAILED, OUTAGE, declares_outage, job_error, narrow
from salesflow.paths import PROJECT_ROOT, SPARK_CDS_ARCHIVE
from salesflow.spark_setup import SparkRemote

log = logging.getLogger(__name__)

DRIVER_JAVA_OPTIONS = "spark.driver.extraJavaOptions"


# Below this much input the driver JVM compiles with C1 only: its work is too short to repay the
# optimising compiler's own CPU (measured: 400,000 rows 3.8 s faster with C1 only, 5,000,000 rows
# twice as fast with both compilers; docs/performance.md).
QUICK_COMPILE_BELOW_BYTES = 100 * 1024 * 1024
CODE_CACHE = "240m"
# The end of a job's log kept to say why it died.
LOG_TAIL_LINES = 400


class SparkJobFailedError(RuntimeError):
    """The job died, and every service answers: its files are to blame (the next attempt narrows)."""


class ServiceOutageError(ConnectionError):
    """The job failed while MySQL or S3 did not answer: no file is blamed, the batch is retried."""


def service_outage(settings: Settings, remote: SparkRemote | None = None) -> str | None:
    """What does not answer of the services the job needs (MySQL, the bucket, the Spark Connect
    server when it runs there), or None."""
    from salesflow.db import connect
    from salesflow.storage import s3_hook

    if remote is not None and (outage := remote.outage()) is not None:
        return outage
    try:
        with connect(settings, database=None) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as error:
        return f"MySQL does not answer ({type(error).__name__}: {error})"
    try:
        s3_hook().get_conn().head_bucket(Bucket=settings.bucket)
    except Exception as error:
        return f"S3 does not answer ({type(error).__name__})"
    return None


def driver_java_options(conf: dict[str, str], input_bytes: int) -> dict[str, str]:
    """``conf`` with the driver JVM's start-up options for a job reading ``input_bytes``.

    The class-data-sharing archive (when bootstrap built one) saves about 5 s of start-up per job;
    a JVM that cannot use it starts without it.
    """
    options = [conf.get(DRIVER_JAVA_OPTIONS, "")]
    if SPARK_CDS_ARCHIVE.is_file():
        options.append(f"-XX:SharedArchiveFile={SPARK_CDS_ARCHIVE}")
    if input_bytes < QUICK_COMPILE_BELOW_BYTES:
        # C1 alone sizes the code cache as for one compiler (48 MB), which the S3A and AWS SDK
        # classes overflow ("Out of space in CodeCache for adapters"): the tiered default instead.
        options += ["-XX:TieredStopAtLevel=1", f"-XX:ReservedCodeCacheSize={CODE_CACHE}"]
    joined = " ".join(filter(None, options))
    return {**conf, DRIVER_JAVA_OPTIONS: joined} if joined else conf


class SalesflowSparkSubmitOperator(SparkSubmitOperator):
    """Runs one of ``spark_jobs/`` with the environment's Spark conf and MySQL credentials.

    The job's only argument is the run's spec in S3 (``--spec``, written by ``download_files``),
    found from the run id. The MySQL password and the S3 keys reach the job as environment
    variables set in ``execute()``: they are not template fields, so they never land in rendered
    fields, the command line or the log. On a Spark Connect server (``SparkRemote``) the job is
    ``python <application>`` with the server's URL and token in its environment too: its jars and
    Spark conf are the server's (``scripts/spark_connect.sh`` starts one set up as here).
    """

    def __init__(self, *, application: str, **kwargs: Any) -> None:
        kwargs.setdefault("conn_id", SPARK_CONN_ID)
        super().__init__(application=application, **kwargs)
        self._log_tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self._remote: SparkRemote | None = None
        self._client: subprocess.Popen | None = None

    def execute(self, context: Any) -> None:
        from salesflow.run_files import read_spec, recording_failures

        settings = load_settings()
        run_id = context["run_id"]
        spec = read_spec(settings, run_id)
        if spec is None:
            return  # the run is over and its folder gone: no Spark job to start
        self._remote = SparkRemote.from_connection(self._conn_id)
        self._prepare(settings, spec)
        with recording_failures(settings, run_id, self.task_id):
            if self._remote is not None and (outage := self._remote.outage()) is not None:
                raise ServiceOutageError(f"{OUTAGE} {outage}")  # a client would retry 30 s first
            pending, narrowing = self._pending(settings, spec)
            if pending and narrowing:
                self._narrow(settings, context, spec, pending)
                return
            error = self._submit(settings, context, None)
            if error is not None:
                raise self._failure(settings, error)

    def _prepare(self, settings: Settings, spec: JobSpec) -> None:
        from airflow.providers.mysql.hooks.mysql import MySqlHook

        from salesflow.spark_setup import S3Access, spark_jars

        s3 = S3Access.from_connection()
        if self._remote is None:  # on a Connect server, these are the server's
            input_bytes = sum(f.size_bytes for f in spec.accepted_files())
            conf = {**settings.spark_conf, **s3.spark_conf(), **(self.conf or {})}
            self.conf = driver_java_options(conf, input_bytes)
            self.jars = ",".join(filter(None, [*spark_jars(settings), self.jars]))
        connection = MySqlHook.get_connection(MYSQL_CONN_ID)
        # The jobs import spark_jobs.* and, for the ledger and SQL files, the salesflow package.
        python_path = os.pathsep.join(
            filter(None, [str(PROJECT_ROOT), str(PROJECT_ROOT / "plugins"), os.environ.get("PYTHONPATH")])
        )
        local_ip = os.environ.get("SPARK_LOCAL_IP")
        self.env_vars = {
            **(self.env_vars or {}),
            "PYTHONPATH": python_path,
            # Only when set: on a cluster the driver must bind an address the executors can reach.
            **({"SPARK_LOCAL_IP": local_ip} if local_ip else {}),
            "SALESFLOW_JDBC_PASSWORD": connection.password or "",
            **s3.environment(),
            **(self._remote.environment() if self._remote is not None else {}),
        }

    def _pending(self, settings: Settings, spec: JobSpec) -> tuple[list[int], bool]:
        """The accepted files still VALIDATED, and whether an earlier attempt at them died in the
        job (their ``last_error``): then this attempt narrows the batch."""
        from salesflow.db import connect
        from salesflow.ledger import FileLedger
        from salesflow.statuses import FileStatus

        accepted = {f.file_id for f in spec.accepted_files()}
        with connect(settings) as conn:
            entries = FileLedger(conn, settings.tables).entries_for_run(settings.bucket, spec.run_id)
        pending = [e for e in entries if e.id in accepted and e.status == FileStatus.VALIDATED]
        errors = [e.last_error or "" for e in pending]
        return [e.id for e in pending], any(JOB_FAILED in error and OUTAGE not in error for error in errors)

    def _submit(self, settings: Settings, context: Any, files: list[int] | None) -> str | None:
        """One spark-submit of the job (on ``files`` only, when given); None, or why it died."""
        from airflow.exceptions import AirflowException

        from salesflow.run_files import spec_uri

        self.application_args = ["--spec", spec_uri(settings, context["run_id"])]
        if files is not None:
            self.application_args += ["--files", ",".join(map(str, files))]
            log.info("transform: the job on %d of the run's files alone: %s", len(files), files)
            if not files:
                log.info("transform: (no file: does the job itself start and end?)")
        self._hook = None  # a hook per submit: it takes the arguments when it is made
        self._log_tail.clear()
        try:
            if self._remote is not None:
                self._run_client()
            else:
                super().execute(context)
        except AirflowException as error:
            lines = list(self._log_tail)
            text = job_error(lines, str(error))
            return f"{OUTAGE} {text}" if declares_outage(lines) and not text.startswith(OUTAGE) else text
        return None

    def _run_client(self) -> None:
        """The job as a Spark Connect client: ``python <application> <args>``, its output logged and
        kept as spark-submit's is; a non-zero exit raises as a failed spark-submit does."""
        from airflow.exceptions import AirflowException

        command = [sys.executable, self.application, *self.application_args]
        assert self._remote is not None
        self.log.info("transform: the job runs as a client of the Spark Connect server %s", self._remote.url)
        self._client = subprocess.Popen(
            command,
            env={**os.environ, **self.env_vars},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        assert self._client.stdout is not None
        for line in self._client.stdout:
            self._log_tail.append(line)
            self.log.info("%s", line.rstrip())
        code = self._client.wait()
        if code != 0:
            raise AirflowException(f"the job on the Spark Connect server exited with code {code}")

    def on_kill(self) -> None:
        if self._client is not None and self._client.poll() is None:
            self._client.terminate()
            return
        super().on_kill()

    def _get_hook(self) -> Any:
        """The provider's hook, its log lines also kept (the last ones say why a job died)."""
        hook = super()._get_hook()
        process_log = hook._process_spark_submit_log

        def keep(lines: Iterator[Any]) -> Iterator[Any]:
            for line in lines:
                self._log_tail.append(str(line))
                yield line

        hook._process_spark_submit_log = lambda lines: process_log(keep(lines))
        return hook

    def _failure(self, settings: Settings, error: str) -> Exception:
        """An outage (the job says so, or a service does not answer now), else the files' fault."""
        if error.startswith(OUTAGE):
            return ServiceOutageError(error)
        outage = service_outage(settings, self._remote)
        if outage is not None:
            return ServiceOutageError(f"{OUTAGE} {outage}; the Spark job: {error}")
        return SparkJobFailedError(f"{JOB_FAILED} {error} (the next attempt narrows the batch)")

    def _narrow(self, settings: Settings, context: Any, spec: JobSpec, pending: list[int]) -> None:
        """The batch whole once more (a death that does not repeat, such as a killed driver, costs
        nothing else and the batch stays one); if it dies again, parts of it in jobs of their own
        until each file that fails alone is found."""

        def run(files: list[int] | None) -> str | None:
            error = self._submit(settings, context, files)
            if error is not None and isinstance(
                failure := self._failure(settings, error), ServiceOutageError
            ):
                raise failure
            return error

        log.warning(
            "transform: an earlier attempt died in the job; its %d files whole once more", len(pending)
        )
        if (error := run(None)) is None:
            return
        # A job on no file at all that dies too is the environment's fault (a host name that does
        # not resolve, a missing jar): no file is set aside for it, and no attempt is counted.
        if (probe := self._submit(settings, context, [])) is not None:
            raise ServiceOutageError(f"{OUTAGE} the Spark job dies with no file to read too: {probe}")
        log.warning("transform: the job died again (%s); narrowing the batch", error)
        culprits = narrow(pending, run)
        if culprits:
            set_aside(settings, spec, culprits)


def set_aside(settings: Settings, spec: JobSpec, culprits: dict[int, str]) -> None:
    """Files the job dies of alone: QUARANTINED with the error (``load_failed:``, so the load's
    quarantine moves them), and in the run's result for the report."""
    from salesflow.db import connect
    from salesflow.ledger import LOAD_FAILED, FileLedger, StatusMove
    from salesflow.run_files import read_transform_result, write_transform_result
    from salesflow.statuses import FileStatus

    keys = {f.file_id: f.object_key for f in spec.files}
    reasons = {file_id: f"{LOAD_FAILED}{error}" for file_id, error in culprits.items()}
    with connect(settings) as conn:
        moves = [StatusMove(i, reason=reason, last_error=reason) for i, reason in reasons.items()]
        FileLedger(conn, settings.tables).transition_many(FileStatus.QUARANTINED, moves)
    outcomes = {
        str(i): FileOutcome(object_key=keys[i], status=FileStatus.QUARANTINED.value, reason=reason)
        for i, reason in reasons.items()
    }
    result = read_transform_result(settings, spec.run_id) or TransformResult(run_id=spec.run_id)
    write_transform_result(
        settings, spec.run_id, result.merged(TransformResult(run_id=spec.run_id, files=outcomes))
    )
    for file_id, reason in reasons.items():
        log.error(
            "file %s (ledger id %d): QUARANTINED, %s; it fails the job alone, the others load without it",
            keys[file_id],
            file_id,
            reason,
        )
