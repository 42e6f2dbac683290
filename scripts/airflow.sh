#!/usr/bin/env bash
# make airflow / make airflow-stop: a real Airflow 3.3 on this machine with the project's DAGs.
#   scripts/airflow.sh start   api-server (UI), scheduler, dag-processor, triggerer (`airflow
#                              standalone`), LocalExecutor, a PostgreSQL metadata DB and a MariaDB
#                              of its own (include/local_services.py, in the state folder), the moto
#                              S3 server, a Spark Connect server the jobs are clients of
#                              (SALESFLOW_SPARK=submit: spark-submit instead), the bucket's event
#                              queue that starts a run when a file lands (SALESFLOW_EVENTS=off: the
#                              daily schedule only) and the MySQL schema; prints the UI address and
#                              the login.
#   scripts/airflow.sh stop    stops everything it started, by process group and PID.
#   SALESFLOW_EXECUTOR=celery scripts/airflow.sh start
#                              the CeleryExecutor layout instead: a Redis broker of its own too,
#                              each component its own process, task logs in S3 (remote logging);
#                              then scripts/airflow.sh worker NAME starts a Celery worker in a
#                              mount namespace of its own (a private /tmp, logs and error folder:
#                              it sees no other worker's files), scripts/airflow.sh kill-worker NAME
#                              kills it and everything it started (SIGKILL).
# Settings: AIRFLOW_PORT (8080), SALESFLOW_S3_PORT (5055), SALESFLOW_AIRFLOW_STATE
# (var/airflow-stack), SALESFLOW_SERVICES_DIR (the databases' folders; the state folder),
# SALESFLOW_AIRFLOW_DB (a metadata DB of yours: no PostgreSQL is started), SALESFLOW_REDIS_URL (a
# broker of yours) and the usual SALESFLOW_* variables (SALESFLOW_MYSQL_HOST: a MySQL of yours).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cmd=${1:-start}
state=${SALESFLOW_AIRFLOW_STATE:-$root/var/airflow-stack}
case "$state" in /*) ;; *) state=$root/$state ;; esac
# The databases' folders (PostgreSQL runs as the postgres user: every folder above must let it in).
services=${SALESFLOW_SERVICES_DIR:-$state}
mkdir -p "$state"

# stop_group FILE [SIGNAL]: the process group whose id FILE holds (TERM, then KILL after 30 s).
stop_group() {
  local file=$1 signal=${2:-TERM} pgid
  [ -f "$file" ] || return 0
  pgid=$(cat "$file")
  if kill -0 -- "-$pgid" 2>/dev/null; then
    kill "-$signal" -- "-$pgid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 -- "-$pgid" 2>/dev/null || break; sleep 0.5; done
    kill -KILL -- "-$pgid" 2>/dev/null || true
  fi
  rm -f "$file"
}
stop_airflow() {
  local file
  for file in "$state"/worker-*.pgid; do [ -e "$file" ] && stop_group "$file"; done
  if [ -f "$state/standalone.pgid" ]; then
    stop_group "$state/standalone.pgid"
    echo "airflow: stopped"
  fi
  scripts/moto.sh stop "$state/moto.pid" >/dev/null
  scripts/spark_connect.sh stop "$state/spark-connect" 2>/dev/null || true
}
stop_stack() {
  stop_airflow
  .venv/bin/python -m include.local_services down --dir "$services"
}

if [ "$cmd" = "stop" ]; then
  stop_stack
  exit 0
fi
if [ "$cmd" = "kill-worker" ]; then
  # As a machine that dies: SIGKILL to every process of the worker's mount namespace (its tasks
  # and the Spark jobs they started included), then its namespace is gone with its files.
  pidfile="$state/worker-${2:?usage: $0 kill-worker NAME}.pgid"
  [ -f "$pidfile" ] || exit 0
  namespace=$(readlink "/proc/$(cat "$pidfile")/ns/mnt" 2>/dev/null || true)
  if [ -n "$namespace" ]; then
    for process in /proc/[0-9]*; do
      if [ "$(readlink "$process/ns/mnt" 2>/dev/null)" = "$namespace" ]; then
        kill -KILL "${process#/proc/}" 2>/dev/null || true
      fi
    done
  fi
  stop_group "$pidfile" KILL
  exit 0
fi
case "$cmd" in start|worker) ;; *) echo "usage: $0 start|stop|worker NAME|kill-worker NAME" >&2; exit 2 ;; esac

[ "$cmd" = "worker" ] || scripts/bootstrap.sh
source scripts/env.sh
port=${AIRFLOW_PORT:-8080}
executor=${SALESFLOW_EXECUTOR:-local}
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
# Every component signs and checks the task tokens with one secret (standalone shares it itself).
[ -f "$state/jwt.secret" ] || python -c 'import secrets; print(secrets.token_urlsafe(48))' >"$state/jwt.secret"
export AIRFLOW__API_AUTH__JWT_SECRET="$(cat "$state/jwt.secret")"
[ -f "$state/passwords.json" ] || python -c 'import json,secrets; print(json.dumps({"admin": secrets.token_urlsafe(12)}))' >"$state/passwords.json"
umask 022

servers=(mysql postgres)
if [ "$executor" = "celery" ]; then
  servers+=(redis)
  [ -n "${SALESFLOW_REDIS_URL:-}" ] || [ "$cmd" = "worker" ] || scripts/apt.sh redis-server
fi
[ -n "${SALESFLOW_AIRFLOW_DB:-}" ] || [ "$cmd" = "worker" ] || scripts/apt.sh postgresql
[ "$cmd" = "worker" ] || stop_airflow >/dev/null 2>&1 || true
salesflow_up "$services" "${servers[@]}" || { stop_stack; exit 3; }
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$SALESFLOW_AIRFLOW_DB"
if [ "$executor" = "celery" ]; then
  export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
  export AIRFLOW__CELERY__BROKER_URL="$SALESFLOW_REDIS_URL"
  export AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql+psycopg2://${SALESFLOW_AIRFLOW_DB#*://}"
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:$port/execution/"
  # Task logs go to the bucket when a task ends, so the UI and the REST API serve them after the
  # worker that ran it is gone.
  bucket=$(AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING python -c 'from salesflow.config import load_settings; print(load_settings().bucket)')
  export AIRFLOW__LOGGING__REMOTE_LOGGING=True
  export AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER="s3://$bucket/airflow-task-logs"
  export AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID=salesflow_s3
fi

if [ "$cmd" = "worker" ]; then
  # A worker as on a machine of its own (scripts/own_machine.sh): /tmp, Airflow's log folder and
  # the error folder are its own, so it shares nothing on disk with another worker, and its host
  # name, which Airflow records as the task's host, is its own. Its task logs reach the UI through
  # S3 (remote logging), so it serves none itself.
  name=${2:?usage: $0 worker NAME}
  # The stack's event queue, when it watches one (the DAG is parsed here too).
  [ -s "$state/events.queue" ] && export SALESFLOW_EVENTS_QUEUE_URL="$(cat "$state/events.queue")"
  # The stack's Spark Connect server, when it runs one: the worker's jobs are its clients.
  if connection=$(scripts/spark_connect.sh connection "$state/spark-connect" 2>/dev/null); then
    export AIRFLOW_CONN_SALESFLOW_SPARK="$connection"
  fi
  error_dir=$(AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING python -c 'from salesflow.config import load_settings; print(load_settings().error_dir)')
  mkdir -p "$AIRFLOW_HOME/logs" "$error_dir"
  stop_group "$state/worker-$name.pgid" KILL
  export AIRFLOW__CORE__HOSTNAME_CALLABLE=socket.gethostname
  setsid scripts/own_machine.sh "$name" --keep "$root" --keep "$state" \
    --private "$AIRFLOW_HOME/logs" --private "$error_dir" -- \
    airflow celery worker --celery-hostname "$name@$name" --concurrency 1 --queues default --skip-serve-logs \
    >"$state/worker-$name.log" 2>&1 < /dev/null &
  echo $! >"$state/worker-$name.pgid"
  for _ in $(seq 1 120); do
    if grep -q "$name@$name ready" "$state/worker-$name.log" 2>/dev/null; then
      echo "airflow: worker $name ready (log $state/worker-$name.log)"
      exit 0
    fi
    kill -0 "$(cat "$state/worker-$name.pgid")" 2>/dev/null || break
    sleep 1
  done
  echo "airflow: worker $name did not come up, see $state/worker-$name.log" >&2
  tail -n 5 "$state/worker-$name.log" >&2
  exit 1
fi
python -m salesflow.cli check-mysql >/dev/null || { stop_stack; exit 3; }
scripts/moto.sh start "$SALESFLOW_S3_PORT" "$state/moto.pid"
# A warm Spark (issue 24): the stack's Spark Connect server on a free loopback port, reading the
# stack's S3, and salesflow_spark pointing the jobs at it. SALESFLOW_SPARK=submit keeps
# spark-submit (a JVM per job, on the connection env.sh gives).
if [ "${SALESFLOW_SPARK:-connect}" = "connect" ]; then
  connect_exports=$(SALESFLOW_SPARK_CONNECT_PORT=${SALESFLOW_SPARK_CONNECT_PORT:-0} \
    scripts/spark_connect.sh start "$state/spark-connect") || { stop_stack; exit 1; }
  eval "$(grep AIRFLOW_CONN_SALESFLOW_SPARK <<<"$connect_exports")"
fi
AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING python -m salesflow.cli init-db
AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING python -m salesflow.cli create-bucket
# A file lands, a run starts (issue 25): the bucket notifies a queue the DAG's Asset watcher polls
# (the triggerer runs it). SALESFLOW_EVENTS=off: the daily schedule only.
rm -f "$state/events.queue"
if [ "${SALESFLOW_EVENTS:-on}" = "on" ]; then
  AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING python -m salesflow.cli wire-events >"$state/events.queue" \
    || { stop_stack; exit 1; }
  export SALESFLOW_EVENTS_QUEUE_URL="$(cat "$state/events.queue")"
fi
echo "airflow: migrating the metadata DB"
airflow db migrate >"$state/migrate.log" 2>&1 || { echo "airflow: db migrate failed, see $state/migrate.log" >&2; stop_stack; exit 1; }

# Its own session and process group: stopping the group stops the scheduler's workers too.
if [ "$executor" = "celery" ]; then
  # standalone forces the LocalExecutor: the components one by one, in one process group.
  setsid bash -c 'airflow api-server & airflow scheduler & airflow dag-processor & airflow triggerer & wait' \
    >"$state/standalone.log" 2>&1 < /dev/null &
else
  setsid airflow standalone >"$state/standalone.log" 2>&1 < /dev/null &
fi
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
