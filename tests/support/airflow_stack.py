"""A real Airflow for a heavy test: ``scripts/airflow.sh`` with ports, databases, bucket and folders
of its own, and the REST API it serves. Everything started is stopped and dropped at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from include.local_s3 import connection_json
from include.processes import free_ports
from salesflow.paths import PROJECT_ROOT

SCRIPT = str(PROJECT_ROOT / "scripts" / "airflow.sh")
RUN_TIMEOUT_SECONDS = 420
# Screenshots the UI tests keep (CI keeps var/test-artifacts).
ARTIFACTS = PROJECT_ROOT / "var" / "test-artifacts"
# Debian's chromium, headless, with nothing of its own that calls another host.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@dataclass(frozen=True)
class Stack:
    base: str
    password: str
    settings: Any
    state: Path
    env: dict[str, str]

    def start_worker(self, name: str) -> None:
        """A Celery worker in a mount and UTS namespace of its own (``airflow.sh worker``)."""
        subprocess.run([SCRIPT, "worker", name], env=self.env, check=True, timeout=120)

    def kill_worker(self, name: str) -> None:
        """SIGKILL to every process of the worker's namespace, as a machine that dies."""
        subprocess.run([SCRIPT, "kill-worker", name], env=self.env, check=True, timeout=60)


def stack_environment(state: Path, services: Path, tag: str, port: int, s3_port: int) -> dict[str, str]:
    env = {
        **os.environ,
        "SALESFLOW_AIRFLOW_STATE": str(state),
        "SALESFLOW_SERVICES_DIR": str(services),
        "AIRFLOW_PORT": str(port),
        "SALESFLOW_S3_PORT": str(s3_port),
        "SALESFLOW__STORAGE__BUCKET": f"sf-stack-{tag}",
        "SALESFLOW__MYSQL__DATABASE": f"sf_stack_{tag}",
        "SALESFLOW__LOCAL__ERROR_DIR": str(state / "error"),
        # A run that finds no file waits this long, then is skipped (6 hours in production).
        "SALESFLOW_SENSOR_TIMEOUT_SECONDS": "20",
        "SALESFLOW_SENSOR_POKE_SECONDS": "5",
        # spark-submit, a JVM per job inside the worker (the Celery tests kill workers with their
        # jobs); a test of the warm Spark passes SALESFLOW_SPARK=connect.
        "SALESFLOW_SPARK": "submit",
        # Runs start when a test says (its counts of runs hold); the events test turns them on.
        "SALESFLOW_EVENTS": "off",
    }
    for name in ("AIRFLOW_HOME", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW_CONN_SALESFLOW_S3"):
        env.pop(name, None)
    env.pop("SALESFLOW_S3_ENDPOINT", None)
    for name in [name for name in env if name.startswith("AWS_")]:  # the session's S3, not the stack's
        env.pop(name)
    return env


@contextmanager
def airflow_stack(state: Path, extra: dict[str, str] | None = None) -> Iterator[Stack]:
    """Starts the stack; this process then talks to the same bucket, database and S3 server.

    ``extra``: more environment for every component (``SALESFLOW_EXECUTOR=celery`` for the Celery
    layout; its workers are started with ``Stack.start_worker``).
    """
    from salesflow.config import load_settings
    from salesflow.db import drop_database

    tag = uuid.uuid4().hex[:6]
    port, s3_port = free_ports(2)
    # PostgreSQL runs as the postgres user, which pytest's own 0700 folders keep out.
    services = Path(tempfile.mkdtemp(prefix=f"sf-stack-{tag}-"))
    services.chmod(0o711)
    env = {**stack_environment(state, services, tag, port, s3_port), **(extra or {})}
    shared = ("SALESFLOW__STORAGE__BUCKET", "SALESFLOW__MYSQL__DATABASE", "SALESFLOW__LOCAL__ERROR_DIR")
    saved = {key: os.environ.get(key) for key in (*shared, "AIRFLOW_CONN_SALESFLOW_S3")}
    try:
        subprocess.run([SCRIPT, "start"], env=env, check=True, timeout=600)
        os.environ.update({key: env[key] for key in shared})
        os.environ["AIRFLOW_CONN_SALESFLOW_S3"] = connection_json(f"http://127.0.0.1:{s3_port}")
        password = json.loads((state / "passwords.json").read_text())["admin"]
        yield Stack(f"http://127.0.0.1:{port}", password, load_settings(), state, env)
    finally:
        subprocess.run([SCRIPT, "stop"], env=env, check=False, timeout=120)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(services, ignore_errors=True)
        drop_database(load_settings(), f"sf_stack_{tag}")


class Api:
    """The Airflow REST API (/api/v2) with a token from /auth/token."""

    def __init__(self, base: str, password: str) -> None:
        self.base = base
        body = json.dumps({"username": "admin", "password": password}).encode()
        request = urllib.request.Request(
            f"{base}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
        )
        self.token = json.load(urllib.request.urlopen(request, timeout=30))["access_token"]

    def get(self, path: str, *, token: bool = True) -> Any:
        """GET any path of the server, as JSON (with the token unless told otherwise)."""
        headers = {"Authorization": f"Bearer {self.token}"} if token else {}
        request = urllib.request.Request(f"{self.base}{path}", headers=headers)
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def call(self, method: str, path: str, payload: dict | None = None) -> dict:
        request = urllib.request.Request(
            f"{self.base}/api/v2{path}",
            data=None if payload is None else json.dumps(payload).encode(),
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
            method=method,
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.call("GET", f"/dags/{dag_id}")
                return
            except urllib.error.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(2)

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict]:
        quoted = urllib.request.quote(run_id, safe="")
        instances = self.call("GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti for ti in instances}

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """A task try's log as the API serves it (from remote storage once the try is over)."""
        quoted = urllib.request.quote(run_id, safe="")
        path = f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/logs/{try_number}?full_content=true"
        return json.dumps(self.call("GET", path)["content"])

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT_SECONDS) -> dict:
        """Waits until the run is neither queued nor running; the run."""
        deadline = time.monotonic() + timeout
        quoted = urllib.request.quote(run_id, safe="")
        while True:
            run = self.call("GET", f"/dags/{dag_id}/dagRuns/{quoted}")
            if run["state"] not in ("queued", "running"):
                return run
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id} still {run['state']} after {timeout} s")
            time.sleep(3)

    def runs(self, dag_id: str) -> list[dict]:
        return self.call("GET", f"/dags/{dag_id}/dagRuns?limit=100")["dag_runs"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        quoted = urllib.request.quote(run_id, safe="")
        instances = self.call("GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances")["task_instances"]
        return {ti["task_id"]: ti["state"] for ti in instances}

    def wait_for_runs(self, dag_id: str, count: int) -> list[dict]:
        """Waits until `count` runs exist and none is queued or running."""
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while True:
            runs = self.runs(dag_id)
            if len(runs) >= count and all(r["state"] not in ("queued", "running") for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError(f"runs still going after {RUN_TIMEOUT_SECONDS} s: {runs}")
            time.sleep(3)


@contextmanager
def browser_page(viewport_height: int) -> Iterator[Any]:
    """A page of a headless Debian Chromium (never a downloaded browser), 1400 pixels wide."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield browser.new_context(viewport={"width": 1400, "height": viewport_height}).new_page()
        finally:
            browser.close()


def log_in(page: Any, base: str, password: str) -> None:
    """Signs in to the Airflow UI at ``base`` as admin."""
    page.goto(f"{base}/", wait_until="networkidle")
    page.locator("input[name=username]").fill("admin")
    page.locator("input[name=password]").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")
