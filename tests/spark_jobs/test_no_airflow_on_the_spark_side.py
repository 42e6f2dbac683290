"""The Spark side needs no Airflow: a job runs as a Spark Connect client or on a cluster's driver,
where only the project's code and the wheel's dependencies are. Every module of ``spark_jobs/`` is
imported in a fresh interpreter (the PYTHONPATH spark-submit gets) and neither Airflow nor any
module that names it in an import may be loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from salesflow.paths import PROJECT_ROOT

PROBE = """
import ast, importlib, json, pathlib, sys
for path in sorted(pathlib.Path("spark_jobs").glob("*.py")):
    importlib.import_module(f"spark_jobs.{path.stem}")
def names_airflow(module):
    source = pathlib.Path(module.__file__).read_text()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "airflow" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "airflow":
            return True
    return False
ours = sorted(n for n, m in sys.modules.items() if n.split(".")[0] in ("salesflow", "spark_jobs")
              and getattr(m, "__file__", None))
print(json.dumps({
    "ours": ours,
    "airflow_loaded": sorted(n for n in sys.modules if n.split(".")[0] == "airflow"),
    "naming_airflow": [n for n in ours if names_airflow(sys.modules[n])],
}))
"""


def test_no_module_the_spark_job_loads_imports_airflow():
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT), str(PROJECT_ROOT / "plugins")])}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert "spark_jobs.transform" in found["ours"] and "salesflow.contracts" in found["ours"]
    assert found["airflow_loaded"] == []
    assert found["naming_airflow"] == []
