"""The services a benchmark run talks to, each made for it and removed after it.

- the environment of ``scripts/env.sh``, with Airflow's home (a SQLite metadata DB) under the
  results folder, migrated once and kept between sittings;
- the sitting's services (``sitting_services``): one moto S3 server (``include.local_s3``, a free
  port, stopped by PID) and, unless the jobs go through spark-submit, one Spark Connect server in
  front of it (``include.spark_connect``), as ``make airflow`` runs them: long-lived, warm after the
  first job;
- a ``Sandbox`` per case: its own bucket (emptied and deleted at the end), scratch database
  (``sf_bench_<pid>_<tag>``, dropped at the end) and work and error folders.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchmarks.common import BIN, ROOT, BenchError
from include.local_s3 import MotoServer, MotoStartError, connection_json
from include.processes import ServerStartError
from include.sample_data.generate import GeneratedFile

UPLOAD_THREADS = 32
S3_LOGIN = {"login": "sf-bench-access-key", "password": "sf-bench-secret-key"}
REQUIRED_CONNECTIONS = ("AIRFLOW_CONN_SALESFLOW_MYSQL", "AIRFLOW_CONN_SALESFLOW_SPARK")
SPARK_WAYS = ("connect", "submit")  # a client of the sitting's warm server, or a JVM per job


# --------------------------------------------------------------------------------------------------
# The environment and Airflow's home


def project_environment() -> dict[str, str]:
    """The environment of scripts/env.sh: this one if it is sourced already, else this one + env.sh.

    env.sh is sourced only once: sourcing it again would re-expand the ``AIRFLOW_CONN_*`` defaults.
    """
    if "SALESFLOW_ROOT" in os.environ:
        env = os.environ.copy()
    else:
        result = subprocess.run(
            ["bash", "-c", f'source "{ROOT}/scripts/env.sh" && env -0'],
            check=True,
            capture_output=True,
            env=os.environ.copy(),
        )
        pairs = (item.split("=", 1) for item in result.stdout.decode().split("\0") if "=" in item)
        env = {name: value for name, value in pairs if name != "_"}
    for name in REQUIRED_CONNECTIONS:
        value = env.get(name, "")
        if not value:
            raise BenchError(f"{name} is not set (source scripts/env.sh first)")
        if value.lstrip().startswith("{"):
            try:
                json.loads(value)
            except ValueError:
                raise BenchError(f"{name} is not valid JSON (was scripts/env.sh sourced twice?)") from None
    return env


def airflow_environment(out: Path) -> dict[str, str]:
    """The project's environment with Airflow's home in ``<out>/airflow``; this process uses it too."""
    env = project_environment()
    home = out / "airflow"
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",  # the [DAG TEST] lines are INFO
            "PYTHONUNBUFFERED": "1",
        }
    )
    # This process reads the same settings and connections (Airflow's own home included).
    os.environ.update({k: env[k] for k in ("AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN")})
    for name in ("AIRFLOW_CONN_SALESFLOW_MYSQL", "SALESFLOW_ENV"):
        os.environ.setdefault(name, env[name])
    return env


def ensure_airflow_db(env: dict[str, str]) -> None:
    home = Path(env["AIRFLOW_HOME"])
    marker = home / ".migrated"
    if marker.exists():
        return
    home.mkdir(parents=True, exist_ok=True)
    print(f"bench: preparing Airflow's metadata DB (SQLite, {home})", flush=True)
    with (home / "migrate.log").open("wb") as log:
        status = subprocess.run(
            [str(BIN / "airflow"), "db", "migrate"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        ).returncode
    if status != 0:
        raise BenchError(f"airflow db migrate failed (exit {status}), see {home / 'migrate.log'}")
    marker.touch()


@dataclass
class Sitting:
    """What every repeat of one benchmark call shares."""

    out: Path
    stem: str  # the name of the results: bench-<...>-<time>
    base_env: dict[str, str]
    spark_tasks: frozenset[str]  # the DAG's tasks that submit a Spark job
    s3_endpoint: str = ""  # the sitting's moto server
    spark_server_pid: int | None = None  # the Connect server's JVM, sampled with each run's memory
    _last_date: datetime | None = field(default=None, repr=False)

    def logical_date(self) -> datetime:
        """Now, to the second, and always later than the date given before: every run has its own."""
        moment = datetime.now(UTC).replace(microsecond=0)
        if self._last_date is not None and moment <= self._last_date:
            moment = self._last_date + timedelta(seconds=1)
        self._last_date = moment
        return moment

    @property
    def scratch_root(self) -> Path:
        return self.out / f"tmp-{os.getpid()}"


@contextmanager
def sitting_services(sitting: Sitting, spark: str) -> Iterator[None]:
    """The sitting's S3 (moto) and, for ``spark == "connect"``, its Spark Connect server reading it:
    ``salesflow_s3`` and ``salesflow_spark`` point every run of the sitting at them. Both stopped by
    PID at the end, also on failure."""
    from include.spark_connect import SparkConnectServer, airflow_connection, s3_from_connection

    logs = sitting.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    moto = MotoServer(log_path=logs / f"{sitting.stem}-moto.log")
    try:
        endpoint = moto.start()
    except MotoStartError as error:
        raise BenchError(str(error)) from None
    try:
        sitting.s3_endpoint = endpoint
        connection = connection_json(endpoint, S3_LOGIN["login"], S3_LOGIN["password"])
        sitting.base_env["AIRFLOW_CONN_SALESFLOW_S3"] = os.environ["AIRFLOW_CONN_SALESFLOW_S3"] = connection
        if spark != "connect":
            yield
            return
        s3_from_connection()  # the server reads the sitting's S3 with the connection's keys
        server = SparkConnectServer(sitting.scratch_root / "spark-connect", port=0)
        started = time.perf_counter()
        try:
            server.up()
        except ServerStartError as error:
            server.down()
            raise BenchError(str(error)) from None
        try:
            print(f"bench: Spark Connect server up in {time.perf_counter() - started:.1f} s", flush=True)
            sitting.base_env["AIRFLOW_CONN_SALESFLOW_SPARK"] = airflow_connection(server)
            sitting.spark_server_pid = server.running_pid()
            yield
        finally:
            server.down()
            shutil.rmtree(server.folder, ignore_errors=True)
    finally:
        moto.stop()


# --------------------------------------------------------------------------------------------------
# S3 and MySQL


def s3_client(endpoint: str):
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=S3_LOGIN["login"],
        aws_secret_access_key=S3_LOGIN["password"],
        region_name="us-east-1",
        config=Config(max_pool_connections=UPLOAD_THREADS, retries={"max_attempts": 5, "mode": "standard"}),
    )


def mysql_login() -> dict[str, Any]:
    from salesflow.config import MYSQL_CONN_ID
    from salesflow.db import mysql_hook

    connection = mysql_hook(None).get_connection(MYSQL_CONN_ID)
    return {
        "host": connection.host or "127.0.0.1",
        "port": int(connection.port or 3306),
        "user": connection.login or "root",
        "password": connection.password or "",
    }


def pymysql_connect(database: str | None = None, **extra: Any):
    import pymysql

    login = mysql_login()
    try:
        return pymysql.connect(**login, database=database, charset="utf8mb4", **extra)
    except pymysql.err.OperationalError as error:
        raise BenchError(
            f"cannot connect to MySQL at {login['host']}:{login['port']} as {login['user']!r}: "
            f"error {error.args[0]}"
        ) from None


def _server_statement(statement: str) -> None:
    conn = pymysql_connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


@contextmanager
def scratch_database(database: str) -> Iterator[str]:
    """A new, empty database, dropped at the end."""
    _server_statement(f"CREATE DATABASE `{database}`")
    try:
        yield database
    finally:
        _server_statement(f"DROP DATABASE IF EXISTS `{database}`")


def empty_bucket(client: Any, bucket: str) -> None:
    """Deletes every object and then the bucket: the sitting's S3 keeps no case's bytes."""
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    for page in pages:
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


# --------------------------------------------------------------------------------------------------
# One case's own bucket, database and folders


@dataclass
class Sandbox:
    """A case's moto server, bucket, database and folders, and the environment of its DAG runs."""

    tag: str
    scratch: Path
    logs: Path
    stem: str
    settings: Any
    env: dict[str, str]
    client: Any
    keep_folders: bool = False  # a failed run keeps its work and error folders for a look

    def log(self, name: str) -> Path:
        return self.logs / f"{self.stem}-{self.tag}-{name}.log"

    def upload(self, files: list[GeneratedFile]) -> float:
        """Puts the files under the source prefix, many at a time; returns seconds."""
        prefix = self.settings.prefixes.source
        started = time.perf_counter()

        def put(generated: GeneratedFile) -> None:
            self.client.put_object(
                Bucket=self.settings.bucket, Key=prefix + generated.name, Body=generated.content
            )

        with ThreadPoolExecutor(max_workers=max(1, min(UPLOAD_THREADS, len(files)))) as pool:
            list(pool.map(put, files))
        return time.perf_counter() - started


def _overrides(tag: str, scratch: Path) -> dict[str, str]:
    name = f"{os.getpid()}_{tag}".lower()
    return {
        "SALESFLOW__MYSQL__DATABASE": f"sf_bench_{name}".replace("-", "_"),
        "SALESFLOW__STORAGE__BUCKET": f"sf-bench-{name}".replace("_", "-"),
        "SALESFLOW__LOCAL__ERROR_DIR": str(scratch / "error"),
    }


def _clean_up(box: Sandbox, bucket_made: bool, database_made: bool) -> None:
    if bucket_made:
        try:
            empty_bucket(box.client, box.settings.bucket)
        except Exception as error:  # the error that ended the case matters more; say what is left
            print(f"bench: could not delete bucket {box.settings.bucket}: {error}", file=sys.stderr)
    if database_made:
        try:
            from salesflow.db import drop_database

            drop_database(box.settings)
        except Exception as error:
            print(f"bench: could not drop {box.settings.database}: {error}", file=sys.stderr)
    if box.keep_folders:
        shutil.rmtree(box.scratch / "floor", ignore_errors=True)
    else:
        shutil.rmtree(box.scratch, ignore_errors=True)


@contextmanager
def sandbox(sitting: Sitting, tag: str) -> Iterator[Sandbox]:
    """A fresh bucket on the sitting's S3, database (schema and dimensions) and folders; all gone after."""
    from salesflow.config import load_settings
    from salesflow.db import init_database

    scratch = sitting.scratch_root / tag
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    logs = sitting.out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    overrides = _overrides(tag, scratch)
    os.environ.update(overrides)
    box = Sandbox(tag, scratch, logs, sitting.stem, load_settings(), {**sitting.base_env, **overrides}, None)
    box.client = s3_client(sitting.s3_endpoint)
    bucket_made = database_made = False
    try:
        box.client.create_bucket(Bucket=box.settings.bucket)
        bucket_made = True
        database_made = True
        init_database(box.settings)
        yield box
    finally:
        _clean_up(box, bucket_made, database_made)
