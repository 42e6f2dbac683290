#!/usr/bin/env bash
# Installs what salesflow needs on a fresh Debian machine, and nothing on a second call:
# Java 17, the MariaDB JDBC driver, the headers mysqlclient builds against, and .venv from the
# pinned requirements (uv is used because pip builds pyspark from source: ~4 min against ~45 s).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v java >/dev/null 2>&1 || need_apt+=(openjdk-17-jre-headless)
[ -f /usr/share/java/mariadb-java-client.jar ] || need_apt+=(libmariadb-java)
dpkg -s libmariadb-dev >/dev/null 2>&1 || need_apt+=(libmariadb-dev)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
command -v mariadb >/dev/null 2>&1 || command -v mysql >/dev/null 2>&1 || need_apt+=(mariadb-client)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

PYTHON=${PYTHON:-python3.11}
# From inside another virtualenv, build from the interpreter it was made from (that one has pip).
PYTHON=$("$PYTHON" -c 'import sys; print(getattr(sys, "_base_executable", sys.executable))')
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exec scripts/spark_cds.sh
fi
echo "bootstrap: creating .venv from requirements.txt"
if ! command -v uv >/dev/null 2>&1 && ! "$PYTHON" -m uv --version >/dev/null 2>&1; then
  "$PYTHON" -m pip install -q --user uv 2>/dev/null || "$PYTHON" -m pip install -q uv
fi
UV="uv"; command -v uv >/dev/null 2>&1 || UV="$PYTHON -m uv"
[ -x .venv/bin/python ] || $UV venv -q --python "$PYTHON" .venv
# --python, not VIRTUAL_ENV: "python -m uv" targets the interpreter that launched it otherwise.
$UV pip install -q --python .venv/bin/python -r requirements.txt
rm -f .venv/spark-cds.jsa  # built for the Spark the venv held before
echo "$want" > "$stamp"
exec scripts/spark_cds.sh
