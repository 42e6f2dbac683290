"""The run's job as a Spark Connect client (issue 24): on the session's Connect server
(``spark_connect``, ``include/spark_connect.py``) the job is a plain Python process with
``SPARK_REMOTE`` set, as an Airflow task would run it. The same files, through the job in the test
session's own local Spark, must leave the same ledger, facts, marts, analytics and Parquet."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import grpc
import pyarrow.parquet as pq
import pytest
from pyspark.errors.exceptions.connect import ArithmeticException, SparkConnectGrpcException

from include.sample_data.generate import bad_case_files, format_case_files, good_files
from include.spark_connect import SparkConnectServer, cached_frames
from salesflow.contracts import SPARK_TOKEN_ENV
from salesflow.paths import PROJECT_ROOT
from salesflow.run_files import read_transform_result, run_objects, spec_uri
from salesflow.storage import s3_hook
from spark_jobs.mysql_load import failure_kind
from tests.support.e2e import TABLES, query
from tests.support.runs import prepare, put_files, run_job

AS_OF = date(2024, 6, 30)
JOB = PROJECT_ROOT / "spark_jobs" / "transform.py"
SCRIPT = PROJECT_ROOT / "scripts" / "spark_connect.sh"
# Each table whole, in its key order (a table's first columns are its key).
TABLE_ROWS = [t for t in TABLES if t not in ("customer", "store", "product", "sales_team")]
LEDGER = (
    "SELECT id, object_key, status, reason, rows_read, rows_loaded, rows_rejected, max_sales_date "
    "FROM file_ledger ORDER BY id"
)


def run_files() -> dict[str, bytes]:
    """Good files over two months, the bad cases (quarantined, or with rejected rows) and a file of
    each other format."""
    files = good_files(rows=600, files=2, seed=24, start_month=date(2024, 1, 1), months=2)
    files += bad_case_files(seed=24, start_month=date(2024, 1, 1))
    files += format_case_files(seed=24, start_month=date(2024, 2, 1))
    return {f"sales_data/{g.name}": g.content for g in files}


# A month to recompute too: the facts and summaries are then also read back over JDBC.
RECOMPUTE = ["2024-01"]


def run_as_connect_client(server, settings, run_id: str, recompute: list[str]) -> None:
    """The run up to its job with the DAG's functions, then the job's own ``main()`` in a process
    of its own, with the server's URL and token in its environment and no Java at all (a session
    of its own could not start)."""
    prepare(settings, run_id, AS_OF, recompute)
    env = {
        **os.environ,
        **server.environment(),
        "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "plugins")]),
        "JAVA_HOME": "/nonexistent",
    }
    done = subprocess.run(
        [sys.executable, str(JOB), "--spec", spec_uri(settings, run_id)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, (
        f"the job failed on the Connect server:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    assert server.password not in done.stdout + done.stderr


def parquet_rows(settings, run_id: str) -> dict[str, list[tuple]]:
    """The job's Parquet under the run's prefix: per partition folder, its rows in order."""
    hook = s3_hook()
    found: dict[str, list[tuple]] = {}
    for key in run_objects(hook, settings, run_id, "parquet/"):
        if not key.endswith(".parquet"):
            continue
        body = hook.get_key(key, settings.bucket).get()["Body"].read()
        table = pq.read_table(io.BytesIO(body))
        folder = key.split("/parquet/", 1)[1].rsplit("/", 1)[0]
        found.setdefault(folder, []).extend(tuple(row.values()) for row in table.to_pylist())
    return {folder: sorted(rows, key=repr) for folder, rows in found.items()}


def outcome(settings, run_id: str) -> dict:
    return {
        "ledger": query(settings, LEDGER),
        "tables": {table: query(settings, f"SELECT * FROM {table} ORDER BY 1, 2, 3") for table in TABLE_ROWS},
        "parquet": parquet_rows(settings, run_id),
        "result": read_transform_result(settings, run_id),
    }


@pytest.mark.heavy  # two whole jobs on every format and case: make test-heavy, to keep make test short
def test_the_job_as_a_connect_client_leaves_what_the_local_job_leaves(spark, spark_connect, environment):
    server_pid = spark_connect.running_pid()
    files = run_files()
    # One environment at a time: the DAG's steps read the bucket and database from the environment.
    connect = environment("connect")
    put_files(connect, files)
    run_as_connect_client(spark_connect, connect, "run-1", RECOMPUTE)
    local = environment("local")
    put_files(local, files)
    run_job(spark, local, "run-1", AS_OF, RECOMPUTE)

    on_connect, on_local = outcome(connect, "run-1"), outcome(local, "run-1")
    statuses = {row[2] for row in on_connect["ledger"]}
    assert statuses == {"LOADED", "QUARANTINED"}, "the runs did not exercise both outcomes"
    assert all(on_connect["tables"].values()), "a table stayed empty: the comparison proves little"
    assert on_connect["ledger"] == on_local["ledger"]
    assert on_connect["tables"] == on_local["tables"]
    assert on_connect["parquet"] == on_local["parquet"]
    assert on_connect["result"] == on_local["result"]
    # The jobs' stop() released their own sessions only: the same server still runs.
    assert spark_connect.running_pid() == server_pid


def new_session(server):
    """A session of its own on ``server``, as a job's client makes one (its token in the URL)."""
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    return RemoteSparkSession.builder.remote(f"{server.url}/;token={server.password}").create()


@pytest.fixture
def two_sessions(spark_connect):
    """Two clients of the one server, as two jobs at once would be."""
    sessions = [new_session(spark_connect) for _ in range(2)]
    yield sessions
    for session in sessions:
        session.stop()


def test_two_sessions_on_one_server_share_no_temp_view_and_no_sql_setting(two_sessions):
    first, second = two_sessions
    assert first.session_id != second.session_id
    first.sql("SELECT 1 AS x").createOrReplaceTempView("only_in_first")
    first.conf.set("spark.sql.shuffle.partitions", "7")
    first.conf.set("spark.sql.session.timeZone", "Asia/Kolkata")

    assert [row.x for row in first.sql("SELECT x FROM only_in_first").collect()] == [1]
    assert not second.catalog.tableExists("only_in_first")
    assert second.conf.get("spark.sql.shuffle.partitions") == "4"  # the settings' value, the server's
    assert second.conf.get("spark.sql.session.timeZone") == "UTC"
    # The same text read as a time in each session's zone: isolation that changes values.
    stamp = "SELECT CAST(TIMESTAMP'2024-01-01 00:00:00' AS LONG) AS epoch"
    assert second.sql(stamp).collect()[0].epoch - first.sql(stamp).collect()[0].epoch == 5 * 3600 + 1800


def test_a_frame_cached_by_a_session_stays_on_the_server_after_its_release_until_unpersisted(
    spark_connect,
):
    """Why the job unpersists what it cached: the cache is the server's, not the session's."""
    pid = spark_connect.running_pid()
    before = cached_frames(pid)
    first = new_session(spark_connect)
    assert first.range(2424).cache().count() == 2424
    first.stop()
    assert cached_frames(pid) == before + 1

    second = new_session(spark_connect)
    try:
        second.range(2424).unpersist()  # the same plan: the same entry
    finally:
        second.stop()
    assert cached_frames(pid) == before


def test_the_script_finds_the_running_server_and_no_secret_is_on_its_command_line_or_in_its_files(
    spark_connect,
):
    """After the jobs: neither the S3 keys nor the MySQL password (sent in the JDBC reads' plans)
    nor the token is in the server's command line, conf file or log, or in what the script prints."""
    done = subprocess.run(
        [str(SCRIPT), "start", str(spark_connect.folder)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "already running" in done.stderr
    assert done.stdout.splitlines() == [
        f"export SPARK_REMOTE={spark_connect.url}",
        f'export {SPARK_TOKEN_ENV}="$(cat {spark_connect.passwordfile})"',
        f'export AIRFLOW_CONN_SALESFLOW_SPARK="$({SCRIPT} connection {spark_connect.folder})"',
    ]
    # That connection (by reference, as the token) is the provider's spark_connect type, to this server.
    connection = subprocess.run(
        [str(SCRIPT), "connection", str(spark_connect.folder)], capture_output=True, text=True, timeout=60
    )
    assert json.loads(connection.stdout) == {
        "conn_type": "spark_connect",
        "host": "localhost",
        "port": spark_connect.port,
        "password": spark_connect.password,
    }
    command = Path(f"/proc/{spark_connect.running_pid()}/cmdline").read_bytes().decode()
    assert "SparkConnectServer" in command
    secrets = [
        os.environ["AWS_SECRET_ACCESS_KEY"],
        os.environ["SALESFLOW_JDBC_PASSWORD"],
        spark_connect.password,
    ]
    texts = [
        command,
        spark_connect.conf_file.read_text(),
        spark_connect.server_log.read_text(),
        done.stdout,
        done.stderr,
    ]
    assert not [secret for secret in secrets for text in texts if secret in text]
    assert spark_connect.conf_file.stat().st_mode & 0o777 == 0o600


def test_a_pid_file_naming_another_process_is_never_signalled(tmp_path):
    server = SparkConnectServer(tmp_path / "connect", port=0)
    server.folder.mkdir()
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        server.pidfile.write_text(f"{stranger.pid}\n")
        assert server.running_pid() is None
        server.down()
        assert stranger.poll() is None and not server.pidfile.exists()
    finally:
        stranger.kill()
        stranger.wait()


def test_a_connect_server_that_does_not_answer_is_an_outage_and_a_spark_error_is_not():
    """An outage fails the task for Airflow to retry; it never narrows the batch or blames a file."""
    gone = SparkConnectGrpcException("failed to connect", grpc_status_code=grpc.StatusCode.UNAVAILABLE)
    assert failure_kind(gone) == "infrastructure"
    divide = ArithmeticException(
        "[DIVIDE_BY_ZERO] Division by zero.",
        errorClass="DIVIDE_BY_ZERO",
        grpc_status_code=grpc.StatusCode.INTERNAL,
    )
    assert failure_kind(divide) == "data"
    assert failure_kind(SparkConnectGrpcException("[INTERNAL_ERROR] x")) == "unknown"
    # A server that restarted under the job answers again, without the job's session.
    for lost in (
        "[NO_ACTIVE_SESSION] No active Spark session found.",
        "[INVALID_HANDLE.SESSION_CHANGED] The existing Spark server driver instance has restarted.",
    ):
        assert failure_kind(SparkConnectGrpcException(lost)) == "infrastructure"


def test_the_served_server_of_the_compose_stack_answers_a_client_without_a_token_and_reads_s3(
    tmp_path, bucket
):
    """``serve`` (the compose stack's spark-connect service): in the foreground, on every interface,
    no token, S3 from the AWS variables it is given; a client reads an object through S3A."""
    from pyspark.sql.connect.session import SparkSession as RemoteSparkSession

    from include.processes import free_port, stop_child, tcp_open, wait_until_answers
    from include.spark_connect import MASTER_ENV, PORT_ENV

    s3_hook().load_bytes(b"a\nb\nc\n", key="served/three.txt", bucket_name=bucket, replace=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", SPARK_TOKEN_ENV)}
    env.update({PORT_ENV: str(port), MASTER_ENV: "local[1]"})
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)])  # the image's
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "include.spark_connect", "serve", str(tmp_path / "state")],
            cwd=PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        wait_until_answers(lambda: tcp_open(port), server, f"serve on {port}", log, 120)
        session = RemoteSparkSession.builder.remote(f"sc://127.0.0.1:{port}").create()
        try:
            assert session.read.text(f"s3a://{bucket}/served/three.txt").count() == 3
        finally:
            session.stop()
    finally:
        stop_child(server, group=True)
    assert server.poll() is not None
    conf = (tmp_path / "state" / "connect.properties").read_text()
    assert "spark.connect.grpc.binding.address=0.0.0.0" in conf
    assert os.environ["AWS_SECRET_ACCESS_KEY"] not in conf
