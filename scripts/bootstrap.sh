#!/usr/bin/env bash
# Installs what salesflow needs on a fresh Debian machine, and nothing on a second call:
# Java 17, the MariaDB JDBC driver, the headers mysqlclient builds against, .venv from the pinned
# requirements, the S3A jars for Spark (scripts/spark_jars.sh, Maven) (uv is used because pip builds pyspark from source: ~4 min against ~45 s).
set -euo pipefail
cd "$(dirname "$0")/.."

# MariaDB's server too: every command but `make lint` runs its own (include/local_services.py);
# Redis for the CeleryExecutor layout (SALESFLOW_EXECUTOR=celery scripts/airflow.sh, tests/celery).
packages=(libmariadb-java libmariadb-dev pkg-config mariadb-client mariadb-server redis-server)
command -v java >/dev/null 2>&1 || packages+=(openjdk-17-jre-headless)
scripts/apt.sh "${packages[@]}"

PYTHON=${PYTHON:-python3.11}
# From inside another virtualenv, build from the interpreter it was made from (that one has pip).
PYTHON=$("$PYTHON" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  scripts/spark_jars.sh
  exec scripts/spark_cds.sh
fi
echo "bootstrap: creating .venv from requirements.txt"
# uv from PATH, else from a small virtualenv of its own: where python3.11 is Debian's, pip refuses
# to install into it (externally managed, PEP 668), and a user's site-packages is no better.
UV=$(command -v uv || true)
if [ -z "$UV" ]; then
  UV=var/tools/uv/bin/uv
  if [ ! -x "$UV" ]; then
    "$PYTHON" -c 'import ensurepip' 2>/dev/null || scripts/apt.sh python3-venv
    rm -rf var/tools/uv
    "$PYTHON" -m venv var/tools/uv
    var/tools/uv/bin/python -m pip install -q uv
  fi
fi
[ -x .venv/bin/python ] || $UV venv -q --python "$PYTHON" .venv
$UV pip install -q --python .venv/bin/python -r requirements.txt
rm -f .venv/spark-cds.jsa  # built for the Spark the venv held before
echo "$want" > "$stamp"
scripts/spark_jars.sh
exec scripts/spark_cds.sh
