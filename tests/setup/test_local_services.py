"""Issues 20 and 22: the project's own servers (include/local_services.py), in folders of a test's
own."""

from __future__ import annotations

import socket
import subprocess
import time

import pymysql
import redis

from include.local_services import MariaDB, Redis
from include.processes import HOST, alive


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
