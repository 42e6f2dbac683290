"""Issue 20: the README's commands start the servers they need themselves.

`make demo` runs in a copy of the project inside a network namespace of its own (`unshare -n`): no
MySQL, PostgreSQL or S3 server of this machine is reachable there, so the demo ends with its files
loaded only if it starts its own MariaDB and moto on the namespace's loopback. The copy shares the
bootstrapped `.venv` (the namespace has no network to build one) and nothing else.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from salesflow.paths import PROJECT_ROOT

pytestmark = pytest.mark.heavy

# Inside the namespace: loopback up, nothing answering on MySQL's default port, then the demo.
IN_NAMESPACE = """
ip link set lo up
if (exec 3<>/dev/tcp/127.0.0.1/3306) 2>/dev/null; then echo "something answers on 3306"; exit 97; fi
exec make demo ROWS=3000 FILES=2
"""


def project_copy(target: Path) -> Path:
    """The project's files as git sees them (committed or not, never ignored ones), and its .venv."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = PROJECT_ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(PROJECT_ROOT / ".venv")
    return target


def test_make_demo_starts_its_own_servers_where_none_answers(tmp_path):
    clone = project_copy(tmp_path / "clone")
    # A newcomer's environment: none of this test session's servers or settings.
    env = {key: value for key, value in os.environ.items() if not key.startswith(("SALESFLOW", "AIRFLOW"))}
    result = subprocess.run(
        ["unshare", "--net", "bash", "-c", IN_NAMESPACE],
        cwd=clone, env=env, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert re.search(
        r"services: mysql started on 127\.0\.0\.1:\d+ \(pid \d+, .*/var/services/demo/mysql\)", output
    )
    ledger = output.split("== file ledger", 1)[1].split("\n== ", 1)[0]
    loaded = [line for line in ledger.splitlines() if " LOADED " in f" {line} "]
    # The two generated files, the good file of each other format (.csv.gz, .parquet, .jsonl), the
    # file with bad rows (its good ones load) and the one with extra columns.
    assert len(loaded) == 2 + 3 + 2, ledger
    assert "QUARANTINED" in ledger
    # Nothing left running: the demo stopped its MariaDB by its PID (and removed the PID file).
    assert "services: mysql stopped" in output
    assert not (clone / "var/services/demo/mysql/server.pid").exists()
