"""The few process helpers every local server of development shares (``include.local_s3``,
``include.local_services``, the tests and the benchmarks): a free loopback port, a wait until a
server answers, a stop by PID that never signals a process that is not the one recorded.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Self

HOST = "127.0.0.1"
STOP_SECONDS = 20.0
CHILD_STOP_SECONDS = 10.0  # a server this process started (``ChildServer``)


class ServerStartError(RuntimeError):
    """A local server did not come up; the message says which, on what port, and why (its log)."""


def free_port() -> int:
    """A loopback port nothing listens on now (the OS picks it)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (all held open together, so no two are the same)."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind((HOST, 0))
        return [sock.getsockname()[1] for sock in sockets]


def tcp_open(port: int, host: str = HOST) -> bool:
    """Something accepts TCP connections on ``host:port`` now."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def port_is_free(port: int) -> bool:
    """Nothing listens on the loopback port. As servers bind (SO_REUSEADDR), the connections a
    stopped server left in TIME_WAIT do not count: they would hold the port for a minute."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def alive(pid: int) -> bool:
    """The process exists and has not exited (a zombie waiting for its parent to reap it has)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True  # no /proc (not Linux): it answered the signal
    return state != "Z"


def command_line(pid: int) -> list[str] | None:
    """The process's arguments (its program first), or None without /proc (not Linux) or when it
    is gone."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    return [part.decode(errors="replace") for part in command if part]


def runs_program(pid: int, program: str) -> bool:
    """The process `pid` runs `program` (its executable or first argument has that file name), so a
    stale PID file never leads to signalling another process. A server that rewrites its command
    line as one string (redis-server shows ``/usr/bin/redis-server 127.0.0.1:6379``) is recognised
    by its first word."""
    command = command_line(pid)
    if command is None:
        return alive(pid)  # no /proc (not Linux): trust the PID file
    words = [part.split(" ")[0] for part in command[:2]]
    return any(Path(word).name == program for word in words)


def runs_java_class(pid: int, main_class: str) -> bool:
    """The process `pid` is a JVM whose command line names `main_class` (a PID file of a Spark
    server, whose program is just ``java``: another JVM that took the PID is not it)."""
    command = command_line(pid)
    if command is None:
        return alive(pid)
    return bool(command) and Path(command[0]).name == "java" and main_class in command


def stop_pid(pid: int, program: str, sig: int = signal.SIGTERM, timeout: float = STOP_SECONDS) -> None:
    """`sig` (TERM unless the server wants another), then KILL after `timeout` seconds; only if the
    PID still runs `program`."""
    if runs_program(pid, program):
        signal_until_gone(pid, sig, timeout)


def signal_until_gone(pid: int, sig: int = signal.SIGTERM, timeout: float = STOP_SECONDS) -> None:
    """`sig`, then KILL after `timeout` seconds, to a PID its caller has just recognised as its own."""
    for signal_, wait in ((sig, timeout), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal_)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)  # reaps it when it is our own child
            if not alive(pid):
                return
            time.sleep(0.05)


def stop_child(process: subprocess.Popen, *, group: bool = False, timeout: float = STOP_SECONDS) -> None:
    """A child of ours stopped: TERM, then KILL after `timeout` seconds, and reaped (its PID cannot
    be another program's before that). With `group`, the whole process group it leads (started
    with ``start_new_session``), also when the leader has already exited and left children."""
    for signal_, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        if not group and process.poll() is not None:
            return
        try:
            (os.killpg if group else os.kill)(process.pid, signal_)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            if not group:
                return
        except subprocess.TimeoutExpired:
            continue
        if group and not _group_alive(process.pid):
            return


def _group_alive(group_id: int) -> bool:
    try:
        os.killpg(group_id, 0)
    except ProcessLookupError:
        return False
    return True


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def last_lines(path: Path | None, count: int = 8) -> str:
    """The end of a server's log, for an error message (empty when there is no log)."""
    if path is None:
        return ""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(f"  | {line}" for line in lines[-count:])


def wait_until_answers(
    answers: Callable[[], bool],
    process: subprocess.Popen | int | None,
    what: str,
    log: Path | None,
    timeout: float,
) -> None:
    """Polls `answers` until it is true; raises ServerStartError (with the log's last lines) when the
    process (when this one started it: its Popen, or the PID of a server that detached itself)
    exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while not answers():
        if isinstance(process, subprocess.Popen) and process.poll() is not None:
            problem = f"exited with code {process.returncode}"
        elif isinstance(process, int) and not alive(process):
            problem = "exited"
        elif time.monotonic() > deadline:
            problem = f"is not answering after {timeout:.0f} s"
        else:
            time.sleep(0.1)
            continue
        raise ServerStartError(f"{what} {problem}; see {log}\n{last_lines(log)}")


class ChildServer:
    """A server on loopback (a free port unless one is given), a child of this process in a session
    of its own. Subclasses give its command, environment and how to tell that it answers.

    ``start()`` returns once the server answers; ``stop()`` stops it. As a context manager it does
    both. The server outlives this object only if ``stop()`` is never called.
    """

    name = "a server"
    start_seconds = 30.0  # how long ``start()`` waits for it to answer

    def __init__(self, port: int | None = None, log_path: Path | None = None) -> None:
        self.port = port
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str] | None:
        return None  # this process's own

    def answers(self) -> bool:
        raise NotImplementedError

    def prepare(self) -> None:
        """Runs before the server starts (a data folder to format); nothing by default."""

    def start(self, timeout: float | None = None) -> None:
        self.port = self.port or free_port()
        self.prepare()
        with ExitStack() as stack:
            log = stack.enter_context(self.log_path.open("wb")) if self.log_path else subprocess.DEVNULL
            self.process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.environment(),
                start_new_session=True,
            )
        try:
            what = f"{self.name} on {self.address}"
            wait_until_answers(self.answers, self.process, what, self.log_path, timeout or self.start_seconds)
        except ServerStartError:
            self.stop()
            raise

    def stop(self) -> None:
        if self.process is not None:
            stop_child(self.process, timeout=CHILD_STOP_SECONDS)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
