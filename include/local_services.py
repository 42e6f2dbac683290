"""The servers of development: MariaDB (the pipeline's MySQL), PostgreSQL (Airflow's metadata DB) and
Redis (Celery's broker), from Debian's packages, each run from a folder of the project's, on a free
loopback port, started and stopped by PID, never by name, never a system-wide instance or its data.

    python -m include.local_services up --dir DIR mysql [postgres] [redis]   (salesflow_up)
        starts what is not running yet and prints the shell exports that say where each one is
    python -m include.local_services down --dir DIR                   (salesflow_down)
        stops every server of DIR by the PID it recorded

    with MariaDB(folder) as server: server.environment()               (tests/conftest.py)

A folder holds one server's data (``data/``), its log, PID, port and generated password (mode
0600): a second ``up`` finds a running server and returns at once, or starts the stopped one on
its previous port when that is still free (another port otherwise) without initialising again.
A server that is configured elsewhere (``SALESFLOW_MYSQL_HOST``, ``SALESFLOW_AIRFLOW_DB``,
``SALESFLOW_REDIS_URL``) is used as it is and nothing is started for it.
"""

from __future__ import annotations

import argparse
import os
import pwd
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
from abc import ABC, abstractmethod
from pathlib import Path
from types import TracebackType

from include.processes import (
    HOST,
    ServerStartError,
    free_port,
    last_lines,
    port_is_free,
    read_pid,
    runs_program,
    signal_until_gone,
    tcp_open,
    wait_until_answers,
)

START_SECONDS = 60.0
SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin")


def _program(name: str) -> str:
    """The full path of a server program, looked up on PATH and in the sbin folders."""
    found = shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), *SBIN]))
    if found is None:
        raise ServerStartError(f"{name} is not installed (scripts/bootstrap.sh installs it from Debian)")
    return found


class LocalServer(ABC):
    """One server in its own folder. Subclasses say how to initialise, run and reach it."""

    name: str  # as given on the command line and in messages
    program: str  # the executable's file name, to recognise our PID
    stop_signal: int = signal.SIGTERM

    def __init__(self, folder: Path) -> None:
        self.folder = folder.resolve()
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        self.pidfile = self.folder / "server.pid"
        self.portfile = self.folder / "port"
        self.passwordfile = self.folder / "password"
        self.process: subprocess.Popen | None = None

    # -- what each server defines

    @abstractmethod
    def initialise(self) -> None:
        """Creates the data folder (runs once per folder)."""

    @abstractmethod
    def command(self, port: int) -> list[str]:
        """The server's command line, in the foreground."""

    @abstractmethod
    def answers(self, port: int) -> bool:
        """The server accepts connections on `port`."""

    def prepare(self, port: int) -> None:  # noqa: B027 - optional step, nothing by default
        """Runs once the server answers (users, databases); idempotent."""

    def run_as(self) -> str | None:
        """The user the server runs as (None: this process's user)."""
        return None

    def is_ours(self, pid: int) -> bool:
        """The PID (from the PID file) is still this kind of server, not a process that reused it."""
        return runs_program(pid, self.program)

    def choose_port(self) -> int:
        """The port to start on: the previous one when it is still free, else a free one."""
        return self.port if self.portfile.exists() and port_is_free(self.port) else free_port()

    @abstractmethod
    def environment(self) -> dict[str, str]:
        """The variables that point the project at this server."""

    # -- the shared life cycle

    @property
    def port(self) -> int:
        return int(self.portfile.read_text())

    @property
    def password(self) -> str:
        return self.passwordfile.read_text().strip()

    def running_pid(self) -> int | None:
        pid = read_pid(self.pidfile)
        return pid if pid is not None and self.is_ours(pid) else None

    def up(self) -> bool:
        """Starts the server unless it runs already; True if this call started it."""
        if self.running_pid() is not None and self.portfile.exists():
            # Ours and running (maybe still starting, for another caller): wait until it answers.
            what = f"{self.name} on {HOST}:{self.port} (pid {self.running_pid()})"
            wait_until_answers(lambda: self.answers(self.port), None, what, self.log, START_SECONDS)
            return False
        self.pidfile.unlink(missing_ok=True)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self.passwordfile.exists():
            self.passwordfile.touch(mode=0o600)
            self.passwordfile.write_text(secrets.token_urlsafe(18) + "\n")
        if not self.data.exists():
            try:
                self.initialise()
            except BaseException:
                shutil.rmtree(self.data, ignore_errors=True)  # the next call starts it afresh
                raise
        port = self.choose_port()
        self.portfile.write_text(f"{port}\n")
        self._start(port)
        self.prepare(port)
        return True

    def _start(self, port: int) -> None:
        user = self.run_as()
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(port),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C in the caller's terminal is not the server's
                user=user,
                group=pwd.getpwnam(user).pw_gid if user else None,
                extra_groups=[] if user else None,
            )
        self.pidfile.write_text(f"{self.process.pid}\n")
        what = f"{self.name} on {HOST}:{port} (pid {self.process.pid})"
        try:
            wait_until_answers(lambda: self.answers(port), self.process, what, self.log, START_SECONDS)
        except ServerStartError:
            self.down()
            raise

    def down(self) -> None:
        pid = self.running_pid()
        if pid is not None:
            signal_until_gone(pid, self.stop_signal)
        self.pidfile.unlink(missing_ok=True)

    def __enter__(self) -> LocalServer:
        self.up()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.down()


class MariaDB(LocalServer):
    """MariaDB as the pipeline's MySQL: user root with a generated password, over TCP on loopback."""

    name = "mysql"
    program = "mariadbd"

    @property
    def socket(self) -> Path:
        return self.folder / "mysqld.sock"

    def initialise(self) -> None:
        _run(
            [
                _program("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={self.data}",
                "--auth-root-authentication-method=normal",  # root@localhost, no password until prepare()
                "--skip-test-db",
                *(["--user=root"] if os.geteuid() == 0 else []),
            ],
            self.log,
            f"mariadb-install-db in {self.data}",
        )

    def command(self, port: int) -> list[str]:
        return [
            _program(self.program),
            "--no-defaults",  # never the system's my.cnf (its port, socket or data folder)
            f"--datadir={self.data}",
            f"--port={port}",
            f"--bind-address={HOST}",
            f"--socket={self.socket}",
            f"--pid-file={self.folder / 'mariadbd.pid'}",
            "--skip-name-resolve",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
            "--local-infile=1",
            "--max-allowed-packet=256M",
            *(["--user=root"] if os.geteuid() == 0 else []),
        ]

    def answers(self, port: int) -> bool:
        return self.socket.exists() and tcp_open(port)

    def prepare(self, port: int) -> None:
        """The TCP user root@127.0.0.1 with the folder's password (through the socket, once)."""
        import pymysql

        password = self.password
        try:
            conn = pymysql.connect(unix_socket=str(self.socket), user="root", password=password)
        except pymysql.err.OperationalError:
            conn = pymysql.connect(unix_socket=str(self.socket), user="root", password="")
        with conn, conn.cursor() as cursor:
            for host in ("localhost", HOST):
                cursor.execute(f"CREATE USER IF NOT EXISTS 'root'@'{host}' IDENTIFIED BY %s", (password,))
                cursor.execute(f"ALTER USER 'root'@'{host}' IDENTIFIED BY %s", (password,))
                cursor.execute(f"GRANT ALL PRIVILEGES ON *.* TO 'root'@'{host}' WITH GRANT OPTION")

    def environment(self) -> dict[str, str]:
        return {
            "SALESFLOW_MYSQL_HOST": HOST,
            "SALESFLOW_MYSQL_PORT": str(self.port),
            "SALESFLOW_MYSQL_USER": "root",
            "SALESFLOW_MYSQL_PASSWORD": self.password,
        }


class PostgreSQL(LocalServer):
    """PostgreSQL as Airflow's metadata DB (database ``airflow``), run as the ``postgres`` user:
    its server refuses to run as root."""

    name = "postgres"
    program = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: TERM would wait for Airflow's pooled connections
    database = "airflow"

    @property
    def bin(self) -> Path:
        initdbs = Path("/usr/lib/postgresql").glob("*/bin/initdb")
        versions = sorted(initdbs, key=lambda path: int(path.parent.parent.name))
        if not versions:
            raise ServerStartError("PostgreSQL is not installed (scripts/apt.sh postgresql installs it)")
        return versions[-1].parent

    def run_as(self) -> str | None:
        return "postgres" if os.geteuid() == 0 else None

    def initialise(self) -> None:
        user = self.run_as()
        if user:
            for path in (self.folder, self.passwordfile):
                shutil.chown(path, user)
            check = subprocess.run(["runuser", "-u", user, "--", "test", "-w", str(self.folder)], check=False)
            if check.returncode != 0:
                raise ServerStartError(
                    f"the postgres user cannot write {self.folder}: a folder above it is closed to others"
                )
        _run(
            [
                str(self.bin / "initdb"),
                f"--pgdata={self.data}",
                "--username=postgres",
                f"--pwfile={self.passwordfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            self.log,
            f"initdb in {self.data}",
            user=user,
        )

    def command(self, port: int) -> list[str]:
        return [
            str(self.bin / self.program),
            "-D",
            str(self.data),
            "-p",
            str(port),
            "-k",
            str(self.folder),  # its socket here, not in /var/run/postgresql
            "-c",
            f"listen_addresses={HOST}",
            "-c",
            "max_connections=200",  # the scheduler, the api-server and each task hold some
        ]

    def answers(self, port: int) -> bool:
        command = [str(self.bin / "pg_isready"), "-q", "-h", HOST, "-p", str(port)]
        ready = subprocess.run(command, check=False, capture_output=True)
        return ready.returncode == 0

    def prepare(self, port: int) -> None:
        import psycopg2

        conn = psycopg2.connect(
            host=HOST, port=port, user="postgres", password=self.password, dbname="postgres"
        )
        conn.autocommit = True  # CREATE DATABASE runs outside a transaction
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            conn.close()

    def environment(self) -> dict[str, str]:
        url = f"postgresql+psycopg2://postgres:{self.password}@{HOST}:{self.port}/{self.database}"
        return {"SALESFLOW_AIRFLOW_DB": url}


class Redis(LocalServer):
    """Redis as Celery's broker: a generated password (in a 0600 config file, never on a command
    line), nothing persisted (a broker restarted loses queued messages; Airflow's scheduler
    requeues tasks it does not hear of)."""

    name = "redis"
    program = "redis-server"

    @property
    def config(self) -> Path:
        return self.folder / "redis.conf"

    def initialise(self) -> None:
        self.data.mkdir(parents=True)
        self.config.touch(mode=0o600)
        self.config.write_text(f'requirepass "{self.password}"\nsave ""\nappendonly no\n')

    def command(self, port: int) -> list[str]:
        return [
            _program(self.program),
            str(self.config),
            "--bind",
            HOST,
            "--port",
            str(port),
            "--dir",
            str(self.data),
            "--daemonize",
            "no",
        ]

    def answers(self, port: int) -> bool:
        return tcp_open(port)

    def environment(self) -> dict[str, str]:
        return {"SALESFLOW_REDIS_URL": f"redis://:{self.password}@{HOST}:{self.port}/0"}


SERVERS: dict[str, type[LocalServer]] = {"mysql": MariaDB, "postgres": PostgreSQL, "redis": Redis}
# A server configured elsewhere by its user: this variable set means "do not start one".
CONFIGURED_BY = {
    "mysql": "SALESFLOW_MYSQL_HOST",
    "postgres": "SALESFLOW_AIRFLOW_DB",
    "redis": "SALESFLOW_REDIS_URL",
}


def _run(command: list[str], log: Path, what: str, user: str | None = None) -> None:
    with log.open("ab") as out:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
            user=user,
            group=pwd.getpwnam(user).pw_gid if user else None,
            extra_groups=[] if user else None,
        )
    if result.returncode != 0:
        raise ServerStartError(f"{what} failed (exit {result.returncode}); see {log}\n{last_lines(log)}")


def server(name: str, folder: Path) -> LocalServer:
    return SERVERS[name](folder / name)


def up(folder: Path, names: list[str]) -> list[str]:
    """Starts the named servers that are neither configured elsewhere nor running; the shell exports."""
    exports: list[str] = []
    for name in names:
        configured = CONFIGURED_BY[name]
        if os.environ.get(configured):
            print(f"services: {name} is configured elsewhere ({configured}); starting none", file=sys.stderr)
            continue
        local = server(name, folder)
        started = local.up()
        state = "started" if started else "already running"
        where = f"{HOST}:{local.port} (pid {local.running_pid()}, {local.folder})"
        print(f"services: {name} {state} on {where}", file=sys.stderr)
        exports += [f"export {key}={shlex.quote(value)}" for key, value in local.environment().items()]
    return exports


def down(folder: Path, names: list[str]) -> None:
    for name in names:
        local = server(name, folder)
        pid = local.running_pid()
        local.down()
        if pid is not None:
            print(f"services: {name} stopped (pid {pid})", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m include.local_services", description="Local databases.")
    parser.add_argument("action", choices=("up", "down"))
    parser.add_argument("--dir", type=Path, required=True, help="holds a folder per server")
    parser.add_argument("names", nargs="*", help=f"of {', '.join(SERVERS)} (down: all when none is named)")
    args = parser.parse_intermixed_args(argv)
    if unknown := set(args.names) - set(SERVERS):
        parser.error(f"no server called {', '.join(sorted(unknown))}; there are {', '.join(SERVERS)}")
    try:
        if args.action == "up":
            print("\n".join(up(args.dir, args.names)))
        else:
            down(args.dir, args.names or list(SERVERS))
    except ServerStartError as error:
        print(f"services: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
