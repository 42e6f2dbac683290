"""SparkSubmitOperator with salesflow's settings: JDBC jar, Spark conf, credentials by environment."""

from __future__ import annotations

import os
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

from salesflow.config import MYSQL_CONN_ID, SPARK_CONN_ID, load_settings
from salesflow.paths import PROJECT_ROOT, SPARK_CDS_ARCHIVE

DRIVER_JAVA_OPTIONS = "spark.driver.extraJavaOptions"


def with_class_data_sharing(conf: dict[str, str]) -> dict[str, str]:
    """``conf`` with the driver mapping the class-data-sharing archive, when there is one.

    It saves seconds of JVM start-up per job (docs/performance.md); a JVM that cannot use the
    archive starts without it.
    """
    if not SPARK_CDS_ARCHIVE.is_file():
        return conf
    options = f"{conf.get(DRIVER_JAVA_OPTIONS, '')} -XX:SharedArchiveFile={SPARK_CDS_ARCHIVE}".strip()
    return {**conf, DRIVER_JAVA_OPTIONS: options}


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

        from salesflow.pipeline import recording_failures, run_input, spark_spec_path

        settings = load_settings()
        spec = run_input(settings, context["run_id"], spark_spec_path(settings, context["run_id"]))
        if spec is None:
            return  # the run is over and its folder gone: no Spark job to start
        self.application_args = ["--spec", str(spec)]
        self.conf = with_class_data_sharing({**settings.spark_conf, **(self.conf or {})})
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
