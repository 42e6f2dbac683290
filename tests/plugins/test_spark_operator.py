"""The Spark operator: its driver options (the class-data-sharing archive, the compiler by size), and
whom it blames when its job dies."""

from __future__ import annotations

import json

from salesflow.operators import spark
from salesflow.operators.spark import DRIVER_JAVA_OPTIONS, QUICK_COMPILE_BELOW_BYTES, driver_java_options


def test_small_inputs_compile_quickly_and_big_ones_fully(monkeypatch, tmp_path):
    archive = tmp_path / "spark-cds.jsa"
    archive.write_bytes(b"x")
    monkeypatch.setattr(spark, "SPARK_CDS_ARCHIVE", archive)
    conf = {"spark.ui.enabled": "false", DRIVER_JAVA_OPTIONS: "-Dkeep=1"}
    small = driver_java_options(conf, QUICK_COMPILE_BELOW_BYTES - 1)
    assert small[DRIVER_JAVA_OPTIONS] == (
        f"-Dkeep=1 -XX:SharedArchiveFile={archive} -XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=240m"
    )
    big = driver_java_options(conf, QUICK_COMPILE_BELOW_BYTES)
    assert big[DRIVER_JAVA_OPTIONS] == f"-Dkeep=1 -XX:SharedArchiveFile={archive}"
    assert big["spark.ui.enabled"] == "false" and conf[DRIVER_JAVA_OPTIONS] == "-Dkeep=1"


def test_without_an_archive_the_driver_starts_without_one(monkeypatch, tmp_path):
    monkeypatch.setattr(spark, "SPARK_CDS_ARCHIVE", tmp_path / "missing.jsa")
    assert driver_java_options({}, 10**10) == {}


class ScriptedJobs(spark.SalesflowSparkSubmitOperator):
    """The operator with spark-submit replaced by a script: which file sets die, and how."""

    def __init__(self, *, dies, **kwargs) -> None:
        super().__init__(task_id="transform_and_load", application="transform.py", **kwargs)
        self.dies = dies
        self.submitted: list[list[int] | None] = []

    def _submit(self, settings, context, files):
        self.submitted.append(files)
        return self.dies(files)

    def _failure(self, settings, error):  # every service answers
        return spark.SparkJobFailedError(error)


def test_a_job_that_dies_with_no_file_too_blames_no_file(monkeypatch):
    """A host name that does not resolve kills every job at its start: an outage, not the files."""
    set_aside = []
    monkeypatch.setattr(spark, "set_aside", lambda *args: set_aside.append(args))
    operator = ScriptedJobs(dies=lambda files: "java.net.UnknownHostException: alpha")
    try:
        operator._narrow(None, {}, None, [1, 2, 3])
        raised = None
    except spark.ServiceOutageError as error:
        raised = str(error)
    assert raised is not None and raised.startswith(spark.OUTAGE) and "UnknownHostException" in raised
    assert operator.submitted == [None, []]  # the batch whole once more, then the job on no file
    assert set_aside == []


def test_a_job_that_runs_with_no_file_narrows_to_the_file_it_dies_of(monkeypatch):
    set_aside = []
    monkeypatch.setattr(spark, "set_aside", lambda settings, spec, culprits: set_aside.append(culprits))
    operator = ScriptedJobs(dies=lambda files: "OutOfMemoryError" if files is None or 2 in files else None)
    operator._narrow(None, {}, None, [1, 2, 3])
    assert operator.submitted[:2] == [None, []]
    assert set_aside == [{2: "OutOfMemoryError"}]


def test_a_spark_connect_connection_names_the_server_and_keeps_its_token_apart(monkeypatch):
    from salesflow.config import SPARK_CONN_ID
    from salesflow.contracts import SPARK_REMOTE_ENV, SPARK_TOKEN_ENV
    from salesflow.spark_setup import SparkRemote

    token = "t0k/en-secret"
    monkeypatch.setenv(
        "AIRFLOW_CONN_SALESFLOW_SPARK",
        json.dumps(
            {"conn_type": "spark_connect", "host": "localhost", "port": 1, "login": "me", "password": token}
        ),
    )
    remote = SparkRemote.from_connection(SPARK_CONN_ID)
    assert remote is not None
    assert remote.environment() == {SPARK_REMOTE_ENV: "sc://localhost:1/;user_id=me", SPARK_TOKEN_ENV: token}
    assert token not in repr(remote) and token not in remote.url
    assert remote.outage(timeout=1).startswith("the Spark Connect server at localhost:1 does not answer")
    monkeypatch.setenv("AIRFLOW_CONN_SALESFLOW_SPARK", json.dumps({"conn_type": "spark", "host": "local[2]"}))
    assert SparkRemote.from_connection(SPARK_CONN_ID) is None
