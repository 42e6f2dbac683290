"""The pipeline, unchanged, on a Spark standalone cluster: a master and a worker from the pyspark wheel.

The cluster runs on loopback on free ports (``scripts/spark_cluster.sh``, started and stopped by
PID). The ``salesflow_spark`` connection points at ``spark://127.0.0.1:<port>``; the DAG runs on
generated data and must leave the same tables as a run in local mode. The master's own record of
finished applications, and the worker's application folders, prove the jobs ran on the cluster.
The worker runs as on a machine of its own (``scripts/own_machine.sh``): its executors see none of
the driver's files, so the run proves they reach their data through S3 and MySQL only.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from include.processes import free_ports
from include.sample_data.generate import bad_case_files, good_files
from salesflow.db import connect
from salesflow.ledger import FileLedger
from salesflow.paths import PROJECT_ROOT
from salesflow.storage import s3_hook
from tests.support.e2e import expected_marts, marts, query, run_dag, upload, valid_rows

pytestmark = [pytest.mark.heavy, pytest.mark.e2e]

SCRIPT = PROJECT_ROOT / "scripts" / "spark_cluster.sh"
# One Spark job per run (docs/decisions): the run's only application.
APPS = ("salesflow-transform",)


@dataclass(frozen=True)
class Cluster:
    master_port: int
    ui_port: int
    state_dir: Path

    @property
    def worker_pid(self) -> int:
        return int((self.state_dir / "worker.pid").read_text())

    def as_the_worker_sees(self, path: Path) -> Path:
        """PATH in the worker's own mount namespace (/proc/PID/root gives its view of the disk)."""
        return Path(f"/proc/{self.worker_pid}/root") / path.relative_to("/")

    @property
    def master(self) -> str:
        return f"spark://127.0.0.1:{self.master_port}"

    def state(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ui_port}/json/", timeout=5) as response:
            return json.load(response)


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory, s3_endpoint) -> Iterator[Cluster]:
    """A master and one worker on free loopback ports, the worker as on a machine of its own;
    stopped by PID at the end, pass or fail. The worker starts with the S3 keys in its environment
    (its executors inherit it; a cloud cluster has a role instead)."""
    master_port, ui_port, worker_ui_port = free_ports(3)
    state_dir = tmp_path_factory.mktemp("spark-cluster")
    env = {
        **os.environ,
        "SALESFLOW_SPARK_MASTER_PORT": str(master_port),
        "SALESFLOW_SPARK_MASTER_UI_PORT": str(ui_port),
        "SALESFLOW_SPARK_WORKER_UI_PORT": str(worker_ui_port),
        "SALESFLOW_SPARK_WORKER_OWN_MACHINE": "1",
    }
    try:
        started = subprocess.run(
            [str(SCRIPT), "start", str(state_dir)], env=env, capture_output=True, text=True, timeout=180
        )
        assert started.returncode == 0, f"the cluster did not start:\n{started.stdout}{started.stderr}"
        yield Cluster(master_port, ui_port, state_dir)
    finally:
        subprocess.run([str(SCRIPT), "stop", str(state_dir)], env=env, capture_output=True, timeout=120)
    assert not list(state_dir.glob("*.pid")), "a cluster process was not stopped"


def point_spark_at(monkeypatch, master: str) -> None:
    """The salesflow_spark connection, as an environment variable (restored by monkeypatch)."""
    if master.startswith("spark://"):
        host, port = master.rsplit(":", 1)
        conn = {"conn_type": "spark", "host": host, "port": int(port)}
    else:
        conn = {"conn_type": "spark", "host": master}
    monkeypatch.setenv("AIRFLOW_CONN_SALESFLOW_SPARK", json.dumps(conn))
    from airflow.providers.apache.spark.hooks.spark_submit import SparkSubmitHook

    from salesflow.config import SPARK_CONN_ID

    assert SparkSubmitHook(conn_id=SPARK_CONN_ID)._resolve_connection()["master"] == master


def outcome(settings, run_id: str) -> dict:
    """What a run leaves in MySQL, with facts keyed by S3 key (not ledger id) to compare two databases."""
    with connect(settings) as conn:
        ledger = {
            e.object_key: (e.status, e.reason, e.rows_read, e.rows_loaded, e.rows_rejected)
            for e in FileLedger(conn, settings.tables).entries_for_run(settings.bucket, run_id)
        }
    facts = query(
        settings,
        "SELECT l.object_key, s.line_number, s.customer_id, s.store_id, s.product_id, s.product_name, "
        "s.sales_date, s.sales_month, s.sales_person_id, s.price, s.quantity, s.total_cost, "
        "s.additional_column, s.customer_full_name, s.sales_person_full_name "
        "FROM sales s JOIN file_ledger l ON l.id = s.file_id ORDER BY l.object_key, s.line_number",
    )
    return {"ledger": ledger, "facts": facts, "marts": marts(settings)}


def test_the_cluster_worker_sees_none_of_this_machines_files(spark_cluster, tmp_path):
    """The executors' disk is not the driver's: a file written here is not there, and what the
    worker writes is not here."""
    here = tmp_path / "driver-side.txt"
    here.write_text("only on the driver's machine")
    assert os.readlink(f"/proc/{spark_cluster.worker_pid}/ns/mnt") != os.readlink("/proc/self/ns/mnt")
    assert not spark_cluster.as_the_worker_sees(here).exists()
    assert spark_cluster.as_the_worker_sees(spark_cluster.state_dir / "work").is_dir()
    assert not (spark_cluster.state_dir / "work").exists() or not any(
        (spark_cluster.state_dir / "work").iterdir()
    )
    # The code and the interpreter, as on a cluster's image, are there.
    assert spark_cluster.as_the_worker_sees(PROJECT_ROOT / "spark_jobs" / "transform.py").is_file()


def test_the_dag_on_a_standalone_cluster_gives_the_tables_of_local_mode(
    environment, spark_cluster, monkeypatch
):
    good = good_files(rows=3000, files=2, seed=11, start_month=date(2024, 3, 1), months=2)
    bad = bad_case_files(seed=11, start_month=date(2024, 3, 1))
    files = {f"sales_data/{g.name}": g for g in good + bad}
    logical_date = datetime(2024, 6, 1, tzinfo=UTC)

    # On the cluster.
    point_spark_at(monkeypatch, spark_cluster.master)
    on_cluster = environment("cluster")
    upload(on_cluster, good + bad)
    cluster_run = run_dag(logical_date)
    cluster_result = outcome(on_cluster, cluster_run.run_id)

    # The job ran there: the master lists the run's one application as finished, and the worker
    # made a folder for it, on its own disk, with the executors it launched for it.
    completed = {app["name"]: app for app in spark_cluster.state()["completedapps"]}
    assert sorted(app["name"] for app in spark_cluster.state()["completedapps"]) == sorted(APPS)
    for name in APPS:
        app = completed[name]
        assert app["state"] == "FINISHED", app
        assert not (spark_cluster.state_dir / "work" / app["id"]).exists()
        app_dir = spark_cluster.as_the_worker_sees(spark_cluster.state_dir / "work" / app["id"])
        executors = [p for p in app_dir.iterdir() if p.is_dir()]
        assert executors, f"no executor of {name} ran on the worker"
        assert all((p / "stderr").is_file() for p in executors)

    # The same tables as the SPEC's numbers, computed independently.
    expected_ledger = {
        key: ("LOADED", None, g.content.count(b"\n") - 1, g.content.count(b"\n") - 1 - len(g.rejected_reasons),
              len(g.rejected_reasons))
        if g.expected == "valid"
        else ("QUARANTINED", g.expected, None, None, None)
        for key, g in files.items()
    }  # fmt: skip
    assert cluster_result["ledger"] == expected_ledger
    rows = valid_rows(good + bad)
    assert query(on_cluster, "SELECT COUNT(*), SUM(total_cost) FROM sales") == [
        (len(rows), sum(Decimal(r["total_cost"]) for r in rows))
    ]
    assert cluster_result["marts"] == expected_marts(rows)
    # The run's files in S3 went when it ended well, as in local mode.
    assert not list(
        s3_hook().iter_file_metadata(prefix=on_cluster.prefixes.runs, bucket_name=on_cluster.bucket)
    )

    # And the same tables as the same files in local mode, row for row.
    point_spark_at(monkeypatch, "local[2]")
    local = environment("local")
    upload(local, good + bad)
    local_run = run_dag(logical_date)
    assert outcome(local, local_run.run_id) == cluster_result
    # The local run submitted nothing to the cluster.
    assert sorted(app["name"] for app in spark_cluster.state()["completedapps"]) == sorted(APPS)
