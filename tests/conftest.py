"""Shared fixtures: real services, one set per test session.

- S3: a moto server on a free loopback port, started and stopped by PID.
- MySQL: a MariaDB of the session's own (``include.local_services``, a temporary folder, a free port,
  stopped by PID at the end), or the server at SALESFLOW_MYSQL_HOST/PORT when that is set; a
  database of its own per session (``sf_test_<random>``), dropped at the end.
- Spark: one local session for the whole suite; a Spark Connect server (``include.spark_connect``)
  for the tests that ask for one, started once, stopped by PID at the end.
- Airflow: its own AIRFLOW_HOME with a SQLite metadata DB, migrated only when a test needs it.

Everything the session makes has a unique name, so two runs never collide and a failed run leaves
nothing that breaks the next.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from include.local_s3 import MINIO_LOGIN, MinioServer, MotoServer, connection_json
from include.local_services import MariaDB
from tests.support.services import MySqlAddress, mysql_connection

ROOT = Path(__file__).resolve().parents[1]
SESSION_TAG = uuid.uuid4().hex[:8]
_TMP = Path(tempfile.mkdtemp(prefix=f"salesflow-tests-{SESSION_TAG}-"))

# Airflow reads its settings at import: give the session its own home before anything imports it.
os.environ.update(
    {
        "AIRFLOW_HOME": str(_TMP / "airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_TMP / 'airflow' / 'airflow.db'}",
        "SALESFLOW_ENV": "dev",
        "SALESFLOW__STORAGE__BUCKET": f"sf-test-{SESSION_TAG}",
        "SALESFLOW__MYSQL__DATABASE": f"sf_test_{SESSION_TAG}",
        "SALESFLOW__LOCAL__ERROR_DIR": str(_TMP / "error"),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
)
os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
(_TMP / "airflow").mkdir(parents=True, exist_ok=True)

# The session's MariaDB, before anything reads where MySQL is (a user's own when it is named).
_MARIADB = None if os.environ.get("SALESFLOW_MYSQL_HOST") else MariaDB(_TMP / "mysql")
if _MARIADB is not None:
    _MARIADB.up()
    atexit.register(_MARIADB.down)  # also when the session ends without pytest_sessionfinish
    os.environ.update(_MARIADB.environment())
_MYSQL = MySqlAddress.from_environment()
# A Spark job run in this process (tests.support.runs) reads the password as spark-submit gives it.
os.environ["SALESFLOW_JDBC_PASSWORD"] = _MYSQL.password
os.environ["AIRFLOW_CONN_SALESFLOW_MYSQL"] = json.dumps(
    {
        "conn_type": "mysql",
        "host": _MYSQL.host,
        "port": _MYSQL.port,
        "login": _MYSQL.user,
        "password": _MYSQL.password,
        "extra": {"local_infile": True},
    }
)
os.environ["AIRFLOW_CONN_SALESFLOW_SPARK"] = json.dumps({"conn_type": "spark", "host": "local[2]"})


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on a free loopback port for the whole session; stopped by its PID."""
    with MotoServer(log_path=_TMP / "moto.log") as server:
        os.environ["AIRFLOW_CONN_SALESFLOW_S3"] = connection_json(
            server.endpoint, "sf-test-access-key", "sf-test-secret-key"
        )
        # A Spark job run in this process finds S3 as spark-submit would give it to the job.
        from salesflow.spark_setup import S3Access

        os.environ.update(S3Access.from_connection().environment())
        yield server.endpoint


@pytest.fixture(scope="session")
def strict_s3() -> Iterator[object]:
    """An S3 hook on a MinIO server for the session: an S3 that honours the conditions of copies
    and deletes, where moto ignores them (``scripts/minio.sh`` builds it; ``make test`` does)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    with MinioServer(_TMP / "minio-data", log_path=_TMP / "minio.log") as server:
        os.environ["AIRFLOW_CONN_SALESFLOW_STRICT_S3"] = connection_json(server.endpoint, *MINIO_LOGIN)
        yield S3Hook(aws_conn_id="salesflow_strict_s3")


@pytest.fixture(scope="session")
def settings():
    from salesflow.config import load_settings

    return load_settings()


@pytest.fixture(scope="session")
def mysql_database(settings) -> Iterator[str]:
    """The session's own database with schema and seeded dimensions; dropped at the end."""
    from salesflow.db import drop_database, init_database

    init_database(settings)
    yield settings.database
    drop_database(settings)


@pytest.fixture
def db(mysql_database):
    """A PyMySQL connection to the session database."""
    conn = mysql_connection(mysql_database)
    yield conn
    conn.close()


@pytest.fixture(scope="session")
def bucket(s3_endpoint, settings) -> Iterator[str]:
    from salesflow.storage import s3_hook

    hook = s3_hook()
    hook.create_bucket(bucket_name=settings.bucket)
    yield settings.bucket


@pytest.fixture(scope="session")
def spark(s3_endpoint):
    """One small local Spark session for the suite, with the JDBC driver and S3A (the session's S3,
    the committer of the settings) as the operator gives them to a job."""
    from pyspark.sql import SparkSession

    from salesflow.config import load_settings
    from salesflow.spark_setup import S3Access, spark_jars

    settings = load_settings()
    builder = SparkSession.builder.master("local[1]").appName("salesflow-tests")
    conf = {
        **settings.spark_conf,
        **S3Access.from_connection().spark_conf(),
        "spark.sql.shuffle.partitions": "1",
        "spark.ui.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.jars": ",".join(spark_jars(settings)),
    }
    conf.pop("spark.driver.memory", None)
    for name, value in conf.items():
        builder = builder.config(name, value)
    session = builder.getOrCreate()
    yield session
    session.stop()
    # py4j logs from __del__ at interpreter exit, after pytest closed its streams.
    logging.getLogger("py4j").setLevel(logging.WARNING)


@pytest.fixture(scope="session")
def spark_connect(s3_endpoint):
    """A Spark Connect server for the session (free port, ``local[2]``), set up as a submitted job
    is: the jars, the Spark conf of the settings, the session's S3 (the AWS variables above).
    ``environment()`` is what a client needs. Stopped by its PID at the end, pass or fail."""
    from include.spark_connect import SparkConnectServer

    server = SparkConnectServer(_TMP / "spark-connect", port=0, master="local[2]")
    atexit.register(server.down)  # also when the session ends without its teardown
    with server:
        yield server
    assert server.running_pid() is None, "the Spark Connect server was not stopped"


@pytest.fixture(scope="session")
def airflow_db() -> None:
    """Airflow's SQLite metadata DB, migrated once for the tests that run a DAG."""
    subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ,
    )


@pytest.fixture
def environment(monkeypatch, tmp_path, s3_endpoint, mysql_database, airflow_db):
    """Switches to a bucket, database and folders of their own; returns the settings."""
    from salesflow.config import load_settings
    from salesflow.db import drop_database, init_database
    from salesflow.storage import s3_hook

    made: list = []

    def switch(name: str):
        tag = f"{name}_{uuid.uuid4().hex[:6]}"
        monkeypatch.setenv("SALESFLOW__STORAGE__BUCKET", f"sf-e2e-{tag}".replace("_", "-"))
        monkeypatch.setenv("SALESFLOW__MYSQL__DATABASE", f"sf_e2e_{tag}")
        monkeypatch.setenv("SALESFLOW__LOCAL__ERROR_DIR", str(tmp_path / tag / "error"))
        settings = load_settings()
        s3_hook().create_bucket(bucket_name=settings.bucket)
        init_database(settings)
        made.append(settings)
        return settings

    yield switch
    for settings in made:
        drop_database(settings)


def pytest_sessionfinish(session, exitstatus) -> None:
    if _MARIADB is not None:
        _MARIADB.down()
    shutil.rmtree(_TMP, ignore_errors=True)
