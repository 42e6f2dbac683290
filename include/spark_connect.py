"""A warm Spark: a Spark Connect server from the pyspark wheel, on loopback, started and stopped by PID.

    python -m include.spark_connect start [STATE_DIR]     (what scripts/spark_connect.sh runs)
        starts the server unless it runs; prints the shell exports that point a client at it
    python -m include.spark_connect stop [STATE_DIR]
    python -m include.spark_connect connection [STATE_DIR]
        the salesflow_spark connection (JSON, with the token) for a running server
    python -m include.spark_connect serve
        the server in the foreground, on every interface (the compose stack's spark-connect
        service: a container's main process, its network the stack's own)

    with SparkConnectServer(folder, port=...) as server:  (the tests)
        server.environment()   -> SPARK_REMOTE, SPARK_CONNECT_AUTHENTICATE_TOKEN

The server is what a spark-submit of a job would be, kept running: the jars (``spark_jars``), the
Spark conf of the settings with S3A's endpoint settings, ``spark.sql.session.timeZone=UTC``, no UI,
the class-data-sharing archive when bootstrap built one. A job then runs as a plain Python process
with ``SPARK_REMOTE`` set (``spark_jobs.common.build_session``) and pays no JVM start.

S3: the standard AWS variables of the caller's environment (``AWS_ENDPOINT_URL_S3``,
``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``: what
``S3Access.environment()`` gives a submitted job, and what the job's own boto3 reads as a client),
taken from the ``salesflow_s3`` connection when the environment names one (the scripts' way: the
server reads the S3 the tasks use, whatever AWS variables the caller holds).
The keys reach the JVM (S3A's default credential chain) through its environment only; the conf,
none of it secret, goes in a properties file (mode 0600), so neither is on a command line or in a
log. Without keys S3A finds the machine's role.

Settings: ``SALESFLOW_SPARK_CONNECT_PORT`` (15002), ``SALESFLOW_SPARK_CONNECT_MASTER`` (``local[*]``;
``spark://127.0.0.1:7077`` for the cluster of ``scripts/spark_cluster.sh``, whose workers need the
keys in their own environment). Every client authenticates with the folder's token (``password``,
mode 0600, generated once): another user of the machine cannot use the server, and its S3 keys,
through the open port. With a token, pyspark talks plain gRPC only to the host name ``localhost``.

The server detaches itself (``sbin/start-connect-server.sh`` runs it under ``spark-daemon.sh``),
which writes its JVM's PID; that PID is stopped only while it is still a JVM of the Connect server.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

from include.local_services import LocalServer
from include.processes import (
    HOST,
    ServerStartError,
    free_port,
    read_pid,
    runs_java_class,
    tcp_open,
    wait_until_answers,
)
from salesflow.contracts import SPARK_REMOTE_ENV, SPARK_TOKEN_ENV

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_STATE = ROOT / "var" / "spark-connect"
DEFAULT_PORT = 15002
PORT_ENV = "SALESFLOW_SPARK_CONNECT_PORT"
MASTER_ENV = "SALESFLOW_SPARK_CONNECT_MASTER"
SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
CACHE_ENTRY_CLASS = "org.apache.spark.sql.execution.CachedData"
IDENT = "salesflow"  # spark-daemon.sh's name for its PID and log files
START_SECONDS = 120.0
SERVER_RETENTION = {
    "spark.ui.retainedJobs": "50",
    "spark.ui.retainedStages": "50",
    "spark.ui.retainedTasks": "1000",
    "spark.sql.ui.retainedExecutions": "50",
    "spark.ui.dagGraph.retainedRootRDDs": "50",
}
# What would make the server's own spark-submit a Connect client, or point it elsewhere.
CLIENT_VARIABLES = ("SPARK_REMOTE", "SPARK_LOCAL_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_API_MODE")


def spark_home() -> Path:
    """The pyspark package folder: the wheel is a whole Spark (``bin/``, ``sbin/``, ``jars/``)."""
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def server_conf(port: int, bind: str = HOST) -> dict[str, str]:
    """The server's Spark conf: what the operator gives a submitted job, on a gRPC port of loopback
    (of ``bind``)."""
    from salesflow.config import load_settings
    from salesflow.paths import SPARK_CDS_ARCHIVE
    from salesflow.spark_setup import S3Access, spark_jars

    settings = load_settings()
    conf = {
        **settings.spark_conf,
        **S3Access.from_environment().spark_conf(),
        "spark.jars": ",".join(spark_jars(settings)),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        # The status store keeps every job, stage, task and SQL execution up to these counts even
        # with no UI (defaults 1,000 jobs, stages and executions and 100,000 tasks): a JVM per job
        # never gets there, a server that lives for thousands of jobs grows until it does.
        **SERVER_RETENTION,
        "spark.connect.grpc.binding.address": bind,
        "spark.connect.grpc.binding.port": str(port),
        "spark.connect.grpc.port.maxRetries": "0",  # this port or none: clients are told this one
    }
    if SPARK_CDS_ARCHIVE.is_file():  # a JVM that cannot map it starts without it
        options = [
            conf.get("spark.driver.extraJavaOptions", ""),
            f"-XX:SharedArchiveFile={SPARK_CDS_ARCHIVE}",
        ]
        conf["spark.driver.extraJavaOptions"] = " ".join(filter(None, options))
    return conf


def properties(conf: dict[str, str]) -> str:
    """``conf`` as a Java properties file (``--properties-file``)."""

    def escaped(text: str) -> str:
        return text.replace("\\", "\\\\").replace("\n", "\\n").replace("=", "\\=").replace(":", "\\:")

    return "".join(f"{escaped(name)}={escaped(value)}\n" for name, value in sorted(conf.items()))


class SparkConnectServer(LocalServer):
    """The Connect server of one folder: ``data/`` its scratch space (shuffle files, the jobs'
    local checkpoints), ``logs/`` its log, ``password`` the clients' token."""

    name = "spark-connect"
    program = "java"

    def __init__(self, folder: Path, port: int | None = None, master: str | None = None) -> None:
        super().__init__(folder)
        self.wanted_port = port if port is not None else int(os.environ.get(PORT_ENV, DEFAULT_PORT))
        self.master = master or os.environ.get(MASTER_ENV, "local[*]")
        self.logs = self.folder / "logs"
        self.conf_file = self.folder / "connect.properties"

    @property
    def url(self) -> str:
        return f"sc://localhost:{self.port}"

    def is_ours(self, pid: int) -> bool:
        return runs_java_class(pid, SERVER_CLASS)

    def choose_port(self) -> int:
        """The port asked for (a fixed one, that clients are given), or a free one for 0."""
        if self.wanted_port == 0:
            return free_port()
        # In use means something answers there: the sockets a killed server left closing (its
        # clients' connections) do not keep the JVM, which binds with SO_REUSEADDR, off its port.
        if self.answers(self.wanted_port):
            raise ServerStartError(
                f"{self.name}: port {self.wanted_port} on {HOST} is in use; choose another with {PORT_ENV}"
            )
        return self.wanted_port

    def initialise(self) -> None:
        self.data.mkdir(parents=True)

    def command(self, port: int) -> list[str]:
        script = spark_home() / "sbin" / "start-connect-server.sh"
        return [str(script), "--master", self.master, "--properties-file", str(self.conf_file)]

    def answers(self, port: int) -> bool:
        return tcp_open(port)

    def server_environment(self) -> dict[str, str]:
        """The script's (and so the JVM's) environment: the caller's, with the S3 keys it holds, the
        token, and where spark-daemon.sh keeps its PID and log files."""
        env = {name: value for name, value in os.environ.items() if name not in CLIENT_VARIABLES}
        return {
            **env,
            SPARK_TOKEN_ENV: self.password,
            "SPARK_HOME": str(spark_home()),
            "SPARK_PID_DIR": str(self.folder),
            "SPARK_LOG_DIR": str(self.logs),
            "SPARK_IDENT_STRING": IDENT,
            "SPARK_LOCAL_DIRS": str(self.data),
            "SPARK_LOCAL_IP": HOST,
            "PYSPARK_PYTHON": env.get("PYSPARK_PYTHON", sys.executable),
        }

    @property
    def daemon_pidfile(self) -> Path:
        return self.folder / f"spark-{IDENT}-{SERVER_CLASS}-1.pid"

    @property
    def server_log(self) -> Path | None:
        found = sorted(self.logs.glob(f"spark-{IDENT}-{SERVER_CLASS}-1-*.out"))
        return found[0] if found else None

    def _start(self, port: int) -> None:
        self.logs.mkdir(parents=True, exist_ok=True)
        self.conf_file.touch(mode=0o600)
        self.conf_file.write_text(properties(server_conf(port)))
        self.daemon_pidfile.unlink(missing_ok=True)
        started = subprocess.run(
            self.command(port),
            env=self.server_environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            start_new_session=True,  # a Ctrl-C in the caller's terminal is not the server's
            timeout=60,
        )
        pid = read_pid(self.daemon_pidfile)
        what = f"{self.name} on {HOST}:{port}"
        if started.returncode != 0 or pid is None:
            output = "\n".join(f"  | {line}" for line in (started.stdout + started.stderr).splitlines()[-8:])
            raise ServerStartError(f"{what} did not start (exit {started.returncode})\n{output}")
        self.pidfile.write_text(f"{pid}\n")
        try:
            wait_until_answers(
                lambda: self.answers(port), pid, f"{what} (pid {pid})", self.server_log, START_SECONDS
            )
        except ServerStartError:
            self.down()
            raise

    def down(self) -> None:
        super().down()
        self.daemon_pidfile.unlink(missing_ok=True)

    def environment(self) -> dict[str, str]:
        """What a client needs: the URL, and the token (also as an environment variable: pyspark
        reads it there, and it is never part of a URL that could be logged)."""
        return {SPARK_REMOTE_ENV: self.url, SPARK_TOKEN_ENV: self.password}


def cached_frames(pid: int) -> int:
    """How many cached frames the server's JVM holds (its cache manager's entries, live objects
    after the full collection of ``jcmd GC.class_histogram``). The cache is the JVM's, shared by
    its sessions: what a job cached and did not unpersist stays after its session is released."""
    histogram = subprocess.run(
        ["jcmd", str(pid), "GC.class_histogram"], check=True, capture_output=True, text=True, timeout=120
    ).stdout
    for line in histogram.splitlines():
        # "  num:  #instances  #bytes  class name (module)"
        fields = line.split()
        if len(fields) >= 4 and fields[3] == CACHE_ENTRY_CLASS:
            return int(fields[1])
    return 0


def s3_from_connection() -> None:
    """S3 for the server: the ``salesflow_s3`` connection when the environment names one (the S3
    the tasks use: ``make airflow``, ``make demo``), over any AWS variable the caller happens to
    hold (a user's own AWS keys, another S3's endpoint); else the caller's AWS variables."""
    if not os.environ.get("AIRFLOW_CONN_SALESFLOW_S3"):
        return
    from salesflow.spark_setup import S3Access

    for name in [name for name in os.environ if name.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(S3Access.from_connection().environment())


def airflow_connection(server: SparkConnectServer) -> str:
    """The ``salesflow_spark`` connection (JSON) that makes the DAG's jobs clients of the server."""
    import json

    connection = {"conn_type": "spark_connect", "host": "localhost", "port": server.port}
    return json.dumps({**connection, "password": server.password})


def serve(folder: Path) -> NoReturn:
    """Replaces this process with the server in the foreground, on every interface of the
    container, at ``SALESFLOW_SPARK_CONNECT_PORT``, in front of ``SALESFLOW_SPARK_CONNECT_MASTER``.

    Clients authenticate only if ``SPARK_CONNECT_AUTHENTICATE_TOKEN`` is set: pyspark sends a
    token in plain gRPC to ``localhost`` only (elsewhere it needs TLS), so the compose stack leaves
    it unset and publishes no port: only its own containers reach the server.
    """
    port = int(os.environ.get(PORT_ENV, DEFAULT_PORT))
    folder.mkdir(parents=True, exist_ok=True)
    conf_file = folder / "connect.properties"
    conf_file.touch(mode=0o600)
    conf_file.write_text(properties(server_conf(port, bind="0.0.0.0")))
    env = {name: value for name, value in os.environ.items() if name not in CLIENT_VARIABLES}
    env.update({"SPARK_HOME": str(spark_home()), "SPARK_NO_DAEMONIZE": "1", "SPARK_PID_DIR": str(folder)})
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    script = spark_home() / "sbin" / "start-connect-server.sh"
    master = os.environ.get(MASTER_ENV, "local[*]")
    print(f"spark-connect: serving on port {port}, master {master}", file=sys.stderr, flush=True)
    os.execve(script, [str(script), "--master", master, "--properties-file", str(conf_file)], env)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/spark_connect.sh", description="A Spark Connect server.")
    parser.add_argument("action", choices=("start", "stop", "connection", "serve"))
    parser.add_argument("state_dir", nargs="?", type=Path, default=DEFAULT_STATE)
    args = parser.parse_args(argv)
    if args.action == "serve":
        serve(args.state_dir)
    server = SparkConnectServer(args.state_dir)
    if args.action == "connection":  # for AIRFLOW_CONN_SALESFLOW_SPARK; it holds the token
        if server.running_pid() is None:
            print(f"spark-connect: no server runs from {args.state_dir}", file=sys.stderr)
            return 1
        print(airflow_connection(server))
        return 0
    if args.action == "stop":
        pid = server.running_pid()
        server.down()
        if pid is not None:
            print(f"spark-connect: stopped (pid {pid})", file=sys.stderr)
        return 0
    s3_from_connection()
    try:
        started = server.up()
    except ServerStartError as error:
        print(f"spark-connect: {error}", file=sys.stderr)
        return 1
    state = "started" if started else "already running"
    print(
        f"spark-connect: {state} on {server.url} (pid {server.running_pid()}, master {server.master},"
        f" log {server.server_log or server.logs})",
        file=sys.stderr,
    )
    # The token by reference: the exports can be printed or logged without it.
    print(f"export {SPARK_REMOTE_ENV}={shlex.quote(server.url)}")
    print(f'export {SPARK_TOKEN_ENV}="$(cat {shlex.quote(str(server.passwordfile))})"')
    script = shlex.quote(str(ROOT / "scripts" / "spark_connect.sh"))
    print(f'export AIRFLOW_CONN_SALESFLOW_SPARK="$({script} connection {shlex.quote(str(args.state_dir))})"')
    return 0


if __name__ == "__main__":
    sys.exit(main())
