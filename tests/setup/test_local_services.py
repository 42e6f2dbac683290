"""Issues 20 and 22: the project's own servers (include/local_services.py), in folders of a test's
own."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pymysql
import redis

from include.local_services import MariaDB, Redis
from include.processes import HOST, alive, stop_child


def test_a_server_is_started_once_found_again_and_stopped_by_its_pid(tmp_path):
    server = MariaDB(tmp_path / "mysql")
    assert server.up() is True
    pid, port = server.running_pid(), server.port
    try:
        assert server.up() is False  # a second call finds it running
        assert (server.running_pid(), server.port) == (pid, port)
        conn = pymysql.connect(host=HOST, port=port, user="root", password=server.password)
        with conn, conn.cursor() as cursor:
            cursor.execute("SELECT @@bind_address, @@port, @@local_infile")
            assert cursor.fetchone() == (HOST, port, 1)
        assert (tmp_path / "mysql" / "password").stat().st_mode & 0o777 == 0o600
    finally:
        server.down()
    assert not alive(pid) and server.running_pid() is None


def test_a_taken_port_is_left_alone_and_a_stale_pid_is_never_signalled(tmp_path):
    server = MariaDB(tmp_path / "mysql")
    server.up()
    port = server.port
    server.down()
    with socket.socket() as taken:  # its previous port now belongs to someone else
        taken.bind((HOST, port))
        taken.listen()
        stranger = subprocess.Popen(["sleep", "30"])
        try:
            server.pidfile.write_text(f"{stranger.pid}\n")  # a PID file naming another program
            assert server.running_pid() is None
            assert server.up() is True
            assert server.port != port
            server.down()
            time.sleep(0.1)
            assert stranger.poll() is None  # never signalled
        finally:
            stranger.kill()
            server.down()


def test_redis_answers_only_with_its_password_and_is_stopped_by_its_pid(tmp_path):
    """Celery's broker: redis-server shows itself as one string; it is still found by its PID."""
    server = Redis(tmp_path / "redis")
    assert server.up() is True
    pid, port = server.running_pid(), server.port
    try:
        assert pid is not None and server.up() is False
        assert redis.Redis(host=HOST, port=port, password=server.password).ping() is True
        try:
            redis.Redis(host=HOST, port=port).ping()
            refused = False
        except redis.exceptions.AuthenticationError:
            refused = True
        assert refused
        assert server.environment()["SALESFLOW_REDIS_URL"] == f"redis://:{server.password}@{HOST}:{port}/0"
        assert (tmp_path / "redis" / "redis.conf").stat().st_mode & 0o777 == 0o600
    finally:
        server.down()
    assert not alive(pid) and server.running_pid() is None


def test_a_child_that_ignores_term_is_killed_and_a_group_goes_whole(tmp_path):
    stubborn = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(flush=True); time.sleep(60)"
    child = subprocess.Popen([sys.executable, "-c", stubborn], stdout=subprocess.PIPE)
    child.stdout.readline()  # TERM is ignored from here on
    stop_child(child, timeout=0.5)
    assert child.returncode == -signal.SIGKILL
    # A leader that exits on TERM leaves a grandchild that ignores it: the group stop ends both.
    pid_file = tmp_path / "grandchild.pid"
    leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', {stubborn!r}]); open({str(pid_file)!r}, 'w').write(str(p.pid)); time.sleep(60)",
        ],
        start_new_session=True,
    )
    while not pid_file.exists() or not pid_file.read_text():
        time.sleep(0.05)
    grandchild = int(pid_file.read_text())
    time.sleep(0.5)  # its SIGTERM handler is set
    stop_child(leader, group=True, timeout=0.5)
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert leader.returncode is not None and not alive(grandchild)
