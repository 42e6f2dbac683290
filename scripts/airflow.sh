#!/usr/bin/env bash
# make airflow / make airflow-stop: a real Airflow 3.3 on this machine with the project's DAGs.
#   scripts/airflow.sh start   api-server (UI), scheduler, dag-processor, triggerer (`airflow
#                              standalone`), LocalExecutor, a PostgreSQL metadata DB and a MariaDB
#                              of its own (include/local_services.py, in the state folder), the moto
#                              S3 server and the MySQL schema; prints the UI address and the login.
#   scripts/airflow.sh stop    stops everything it started, by process group and PID.
# Settings: AIRFLOW_PORT (8080), SALESFLOW_S3_PORT (5055), SALESFLOW_AIRFLOW_STATE
# (var/airflow-stack), SALESFLOW_SERVICES_DIR (the databases' folders; the state folder),
# SALESFLOW_AIRFLOW_DB (a metadata DB of yours: no PostgreSQL is started) and
# the usual SALESFLOW_* variables (SALESFLOW_MYSQL_HOST: a MySQL of yours, no MariaDB is started).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cmd=${1:-start}
state=${SALESFLOW_AIRFLOW_STATE:-$root/var/airflow-stack}
case "$state" in /*) ;; *) state=$root/$state ;; esac
# The databases' folders (PostgreSQL runs as the postgres user: every folder above must let it in).
services=${SALESFLOW_SERVICES_DIR:-$state}
mkdir -p "$state"

stop_airflow() {
  if [ -f "$state/standalone.pgid" ]; then
    pgid=$(cat "$state/standalone.pgid")
    if kill -0 -- "-$pgid" 2>/dev/null; then
      kill -TERM -- "-$pgid" 2>/dev/null || true
      for _ in $(seq 1 60); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.5; done
      kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    rm -f "$state/standalone.pgid"
    echo "airflow: stopped"
  fi
  scripts/moto.sh stop "$state/moto.pid" >/dev/null
}
stop_stack() {
  stop_airflow
  .venv/bin/python -m include.local_services down --dir "$services"
}

if [ "$cmd" = "stop" ]; then
  stop_stack
  exit 0
fi
[ "$cmd" = "start" ] || { echo "usage: $0 start|stop" >&2; exit 2; }

scripts/bootstrap.sh
source scripts/env.sh
port=${AIRFLOW_PORT:-8080}
export AIRFLOW_HOME="$state/home"
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
# 2 cores: the default parallelism of 32 would fork 32 workers.
export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-4}
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=$port
export AIRFLOW__API__BASE_URL="http://127.0.0.1:$port"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$state/passwords.json"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=${AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL:-10}
export AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL=10
mkdir -p "$AIRFLOW_HOME"
umask 077
[ -f "$state/fernet.key" ] || python -m salesflow.crypto genkey >"$state/fernet.key"
export AIRFLOW__CORE__FERNET_KEY="$(cat "$state/fernet.key")"
[ -f "$state/passwords.json" ] || python -c 'import json,secrets; print(json.dumps({"admin": secrets.token_urlsafe(12)}))' >"$state/passwords.json"
umask 022

[ -n "${SALESFLOW_AIRFLOW_DB:-}" ] || scripts/apt.sh postgresql
stop_airflow >/dev/null 2>&1 || true
salesflow_up "$services" mysql postgres || { stop_stack; exit 3; }
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$SALESFLOW_AIRFLOW_DB"
python -m salesflow.cli check-mysql >/dev/null || { stop_stack; exit 3; }
scripts/moto.sh start "$SALESFLOW_S3_PORT" "$state/moto.pid"
AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING python -m salesflow.cli init-db
AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING python -m salesflow.cli create-bucket
echo "airflow: migrating the metadata DB"
airflow db migrate >"$state/migrate.log" 2>&1 || { echo "airflow: db migrate failed, see $state/migrate.log" >&2; stop_stack; exit 1; }

# Its own session and process group: stopping the group stops the scheduler's workers too.
setsid airflow standalone >"$state/standalone.log" 2>&1 < /dev/null &
echo $! >"$state/standalone.pgid"
echo "airflow: starting (log $state/standalone.log)"
for _ in $(seq 1 180); do
  if python - "$port" <<'PY' 2>/dev/null
import json, sys, urllib.request
health = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/v2/monitor/health", timeout=2))
sys.exit(0 if all(health.get(k, {}).get("status") == "healthy" for k in ("metadatabase", "scheduler", "triggerer", "dag_processor")) else 1)
PY
  then
    password=$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["admin"])' "$state/passwords.json")
    echo "airflow: UI on http://127.0.0.1:$port  (user admin, password $password; stored in $state/passwords.json)"
    echo "airflow: stop everything with: make airflow-stop"
    exit 0
  fi
  kill -0 "$(cat "$state/standalone.pgid")" 2>/dev/null || { echo "airflow: standalone exited, see $state/standalone.log" >&2; stop_stack; exit 1; }
  sleep 1
done
echo "airflow: not healthy after 180 s, see $state/standalone.log" >&2
stop_stack
exit 1
