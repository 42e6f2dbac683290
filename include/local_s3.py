"""The local S3 endpoint of development: a moto server on loopback, started and stopped by its PID.

    python -m include.local_s3 start [PORT] [PIDFILE]    (what scripts/moto.sh runs)
    python -m include.local_s3 stop [PIDFILE]

    with MotoServer(log_path=...) as server:            (tests/conftest.py, the benchmarks)
        server.endpoint                                   -> http://127.0.0.1:<a free port>

Why here: the test fixtures, the benchmarks (``benchmarks/``, outside the image) and the shell
scripts (``scripts/moto.sh`` for ``make demo`` and ``make airflow``) all need the same server, and
``include/`` is the one package all of them import already (``include.sample_data`` is shared the
same way). Under ``tests/`` the benchmarks and the scripts would import test code; under
``benchmarks/`` the tests and the scripts would import the benchmarks; under ``plugins/salesflow``
Airflow would load a development tool with the pipeline. In the image it is one small file that
nothing imports, and moto is installed there anyway (requirements.txt).

Stopping is by PID only, never by name: a PID file whose process is no longer a moto server (the PID
reused) is removed without signalling anything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.request
from pathlib import Path

from include.processes import (
    HOST,
    ChildServer,
    ServerStartError,
    free_port,
    read_pid,
    runs_program,
    stop_pid,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PORT = 5055
DEFAULT_PIDFILE = ROOT / "var" / "moto.pid"
STOP_SECONDS = 10.0
MOTO_SERVER = "moto_server"
# scripts/minio.sh builds it here; MinIO wants a password of 8 characters or more.
MINIO_BINARY = ROOT / "var" / "tools" / "minio" / "minio"
MINIO_LOGIN = ("salesflow-local", "salesflow-local-secret")

# The one error a failed start raises, under the name the benchmarks know.
MotoStartError = ServerStartError


def connection_json(
    endpoint: str, login: str = "salesflow-local", password: str = "salesflow-local-secret"
) -> str:
    """The ``salesflow_s3`` connection to a local S3 at ``endpoint``, as ``AIRFLOW_CONN_SALESFLOW_S3``
    holds it (moto takes any keys; ``scripts/env.sh`` writes the same for the demo)."""
    return json.dumps(
        {
            "conn_type": "aws",
            "login": login,
            "password": password,
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"},
        }
    )


def answers(endpoint: str) -> bool:
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1):
            return True
    except OSError:
        return False


class LocalS3Server(ChildServer):
    """An S3 server on loopback: ``start()`` returns its endpoint once it answers."""

    name = "an S3 server"

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def address(self) -> str:
        return self.endpoint

    def start(self, timeout: float | None = None) -> str:
        super().start(timeout)
        return self.endpoint


class MotoServer(LocalS3Server):
    """moto's S3: fast and in every environment, but it ignores copy conditions
    (``CopySourceIfMatch``): a test of those runs against ``MinioServer``."""

    name = "the moto server"

    def command(self) -> list[str]:
        return [str(Path(sys.executable).parent / MOTO_SERVER), "-H", HOST, "-p", str(self.port)]

    def answers(self) -> bool:
        return answers(self.endpoint)


class MinioServer(LocalS3Server):
    """MinIO, built from its Go module by ``scripts/minio.sh``: an S3 that honours the conditions
    of copies, puts and deletes, for the tests of what salesflow relies on them for
    (docs/testing.md). Its data lives in ``data_dir``; its keys are ``MINIO_LOGIN``."""

    name = "the MinIO server"

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        log_path: Path | None = None,
        settings: dict[str, str] | None = None,
    ) -> None:
        super().__init__(port, log_path)
        self.data_dir = data_dir
        self.settings = settings or {}  # MINIO_* settings, such as a notification target

    def command(self) -> list[str]:
        if not MINIO_BINARY.exists():
            raise ServerStartError(f"no MinIO at {MINIO_BINARY}: run scripts/minio.sh (it builds it)")
        console = free_port()
        return [
            str(MINIO_BINARY), "server", str(self.data_dir), "--quiet",
            "--address", f"{HOST}:{self.port}", "--console-address", f"{HOST}:{console}",
        ]  # fmt: skip

    def environment(self) -> dict[str, str]:
        login, password = MINIO_LOGIN
        return {**os.environ, **self.settings, "MINIO_ROOT_USER": login, "MINIO_ROOT_PASSWORD": password}

    def answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.endpoint}/minio/health/live", timeout=1):
                return True
        except OSError:
            return False


def start_detached(port: int, pidfile: Path) -> int:
    """Starts a server that outlives this process, its PID in `pidfile`, its log beside it."""
    pid = read_pid(pidfile)
    if pid is not None and runs_program(pid, MOTO_SERVER):
        print(f"moto: already running (pid {pid})")
        return 0
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    server = MotoServer(port, Path(str(pidfile).removesuffix(".pid") + ".log"))
    try:
        server.start()
    except MotoStartError as error:
        print(f"moto: {error}", file=sys.stderr)
        return 1
    pidfile.write_text(f"{server.pid}\n")
    print(f"moto: S3 on {server.endpoint} (pid {server.pid})")
    return 0


def stop_detached(pidfile: Path) -> int:
    """Stops the server of `pidfile` (if it is one) and removes the file."""
    if not pidfile.exists():
        return 0
    pid = read_pid(pidfile)
    if pid is not None:
        stop_pid(pid, MOTO_SERVER, timeout=STOP_SECONDS)
    pidfile.unlink(missing_ok=True)
    print("moto: stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/moto.sh", description="The local S3 endpoint (moto).")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("start", help="start a moto server in the background")
    start.add_argument("port", nargs="?", type=int, default=DEFAULT_PORT)
    start.add_argument("pidfile", nargs="?", type=Path, default=DEFAULT_PIDFILE)
    stop = commands.add_parser("stop", help="stop the server of a PID file")
    stop.add_argument("pidfile", nargs="?", type=Path, default=DEFAULT_PIDFILE)
    args = parser.parse_args(argv)
    if args.command == "start":
        return start_detached(args.port, args.pidfile)
    return stop_detached(args.pidfile)


if __name__ == "__main__":
    sys.exit(main())
