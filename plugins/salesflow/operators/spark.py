"""SparkSubmitOperator with salesflow's settings: JDBC jar, Spark conf, credentials by environment."""

from __future__ import annotations

import os
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from salesflow.config import MYSQL_CONN_ID, SPARK_CONN_ID, load_settings
from salesflow.paths import PROJECT_ROOT, SPARK_CDS_ARCHIVE

DRIVER_JAVA_OPTIONS = "spark.driver.extraJavaOptions"


# Below this much input the driver JVM compiles with C1 only: its work is too short to repay the
# optimising compiler's own CPU (measured: 400,000 rows 3.8 s faster with C1 only, 5,000,000 rows
# twice as fast with both compilers; docs/performance.md).
QUICK_COMPILE_BELOW_BYTES = 100 * 1024 * 1024


def driver_java_options(conf: dict[str, str], input_bytes: int) -> dict[str, str]:
    """``conf`` with the driver JVM's start-up options for a job reading ``input_bytes``.

    The class-data-sharing archive (when bootstrap built one) saves about 5 s of start-up per job;
    a JVM that cannot use it starts without it.
    """
    options = [conf.get(DRIVER_JAVA_OPTIONS, "")]
    if SPARK_CDS_ARCHIVE.is_file():
        options.append(f"-XX:SharedArchiveFile={SPARK_CDS_ARCHIVE}")
    if input_bytes < QUICK_COMPILE_BELOW_BYTES:
        options.append("-XX:TieredStopAtLevel=1")
    joined = " ".join(filter(None, options))
    return {**conf, DRIVER_JAVA_OPTIONS: joined} if joined else conf


class SalesflowSparkSubmitOperator(SparkSubmitOperator):
    """Runs one of ``spark_jobs/`` with the environment's Spark conf and MySQL credentials.

    The job's only argument is the run's spec (``--spec``, written by ``download_files``), found from
    the run id. The MySQL password reaches the job as an environment variable set in ``execute()``:
    it is not a template field, so it never lands in rendered fields, the command line or the log.
    """

    def __init__(self, *, application: str, **kwargs: Any) -> None:
        kwargs.setdefault("conn_id", SPARK_CONN_ID)
        super().__init__(application=application, **kwargs)

    def execute(self, context: Any) -> None:
        from airflow.providers.mysql.hooks.mysql import MySqlHook

        from salesflow.pipeline import read_spec, recording_failures, spark_spec_path

        settings = load_settings()
        spec = read_spec(settings, context["run_id"])
        if spec is None:
            return  # the run is over and its folder gone: no Spark job to start
        self.application_args = ["--spec", str(spark_spec_path(settings, context["run_id"]))]
        input_bytes = sum(f.size_bytes for f in spec.accepted_files())
        self.conf = driver_java_options({**settings.spark_conf, **(self.conf or {})}, input_bytes)
        self.jars = ",".join(filter(None, [settings.jdbc_jar, self.jars]))
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
        }
        with recording_failures(settings, context["run_id"], self.task_id):
            super().execute(context)
