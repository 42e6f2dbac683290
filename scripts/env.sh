# Sourced by the Makefile's scripts: the environment salesflow runs in on this machine.
# Every value can be set beforehand to point elsewhere (another MySQL, another S3 endpoint).
# With none set, each command starts the servers it needs with salesflow_up (below).
_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export SALESFLOW_ROOT="$_root"
export PATH="$_root/.venv/bin:$PATH"
export PYTHONPATH="$_root/plugins:$_root${PYTHONPATH:+:$PYTHONPATH}"
export SALESFLOW_ENV="${SALESFLOW_ENV:-dev}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$_root/var/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$_root/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$_root/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE="${AIRFLOW__CORE__UNIT_TEST_MODE:-False}"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}"
export SPARK_LOCAL_IP=127.0.0.1
export PYSPARK_PYTHON="$_root/.venv/bin/python"

export SALESFLOW_S3_PORT="${SALESFLOW_S3_PORT:-5055}"
export SALESFLOW_S3_ENDPOINT="${SALESFLOW_S3_ENDPOINT:-http://127.0.0.1:$SALESFLOW_S3_PORT}"

# The connections as JSON, unless already set (a "}" inside ${VAR:-default} would end the expansion
# early). The MySQL one once SALESFLOW_MYSQL_HOST is known: set by its user, or by salesflow_up.
salesflow_connections() {
  if [ -z "${AIRFLOW_CONN_SALESFLOW_S3:-}" ]; then
    export AIRFLOW_CONN_SALESFLOW_S3="{\"conn_type\": \"aws\", \"login\": \"salesflow-local\", \"password\": \"salesflow-local-secret\", \"extra\": {\"endpoint_url\": \"$SALESFLOW_S3_ENDPOINT\", \"region_name\": \"us-east-1\"}}"
  fi
  if [ -z "${AIRFLOW_CONN_SALESFLOW_MYSQL:-}" ] && [ -n "${SALESFLOW_MYSQL_HOST:-}" ]; then
    export SALESFLOW_MYSQL_PORT="${SALESFLOW_MYSQL_PORT:-3306}" SALESFLOW_MYSQL_USER="${SALESFLOW_MYSQL_USER:-root}"
    export AIRFLOW_CONN_SALESFLOW_MYSQL="{\"conn_type\": \"mysql\", \"host\": \"$SALESFLOW_MYSQL_HOST\", \"port\": $SALESFLOW_MYSQL_PORT, \"login\": \"$SALESFLOW_MYSQL_USER\", \"password\": \"${SALESFLOW_MYSQL_PASSWORD:-}\", \"extra\": {\"local_infile\": true}}"
  fi
  if [ -z "${AIRFLOW_CONN_SALESFLOW_SPARK:-}" ]; then
    export AIRFLOW_CONN_SALESFLOW_SPARK="{\"conn_type\": \"spark\", \"host\": \"local[*]\"}"
  fi
}
salesflow_connections

# salesflow_up DIR NAME...: the project's own servers (mysql: mariadbd from Debian's mariadb-server,
# its data made by mariadb-install-db; postgres: Airflow's metadata DB, made by initdb) from DIR,
# started by include/local_services.py unless running or configured elsewhere (SALESFLOW_MYSQL_HOST,
# SALESFLOW_AIRFLOW_DB); exports where they are. salesflow_down DIR stops them by PID.
salesflow_up() {
  local dir=$1 exports
  shift
  exports=$(python -m include.local_services up --dir "$dir" "$@") || return 3
  eval "$exports"
  salesflow_connections
}
salesflow_down() {
  python -m include.local_services down --dir "$1"
}
