#!/usr/bin/env bash
# Start or stop a Spark standalone cluster from the pyspark wheel: one master and one worker on
# loopback, by PID, never by name.
#   scripts/spark_cluster.sh start [STATE_DIR]   |   scripts/spark_cluster.sh stop [STATE_DIR]
# STATE_DIR (default var/spark-cluster) holds the PID files, the logs and the worker's directory
# (SPARK_WORKER_DIR: one folder per application with its executors' logs).
# Ports (7077, 8080 and 8081 may be taken, so each can be set):
#   SALESFLOW_SPARK_MASTER_PORT (7077), SALESFLOW_SPARK_MASTER_UI_PORT (8080),
#   SALESFLOW_SPARK_WORKER_UI_PORT (8081); the worker: SALESFLOW_SPARK_WORKER_CORES (2),
#   SALESFLOW_SPARK_WORKER_MEMORY (2g). Point the salesflow_spark connection at
#   spark://127.0.0.1:<master port>.
# SALESFLOW_SPARK_WORKER_OWN_MACHINE=1 (root) starts the worker as on a machine of its own
# (scripts/own_machine.sh): its executors see the project's code and .venv (the image a cluster's
# nodes share) and their own empty /tmp, work and local folders, not the driver's files, so they
# reach their data through S3 and MySQL only.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cmd=${1:?start or stop}
state=${2:-$root/var/spark-cluster}
master_port=${SALESFLOW_SPARK_MASTER_PORT:-7077}
master_ui=${SALESFLOW_SPARK_MASTER_UI_PORT:-8080}
worker_ui=${SALESFLOW_SPARK_WORKER_UI_PORT:-8081}
worker_cores=${SALESFLOW_SPARK_WORKER_CORES:-2}
worker_memory=${SALESFLOW_SPARK_WORKER_MEMORY:-2g}
wait_seconds=${SALESFLOW_SPARK_START_TIMEOUT:-90}
master_class=org.apache.spark.deploy.master.Master
worker_class=org.apache.spark.deploy.worker.Worker

export SPARK_LOCAL_IP=127.0.0.1
export SPARK_LOG_DIR="$state/logs"
export PYSPARK_PYTHON="${PYSPARK_PYTHON:-$root/.venv/bin/python}"
# Exactly these ports: Spark would otherwise move on to the next free one, and a poll of the UI
# port could then find another cluster's master.
# The master's REST submission server (6066, for cluster deploy mode) is not needed: off.
export SPARK_MASTER_OPTS="${SPARK_MASTER_OPTS:-} -Dspark.port.maxRetries=0 -Dspark.master.rest.enabled=false"
export SPARK_WORKER_OPTS="${SPARK_WORKER_OPTS:-} -Dspark.port.maxRetries=0"

# True if the PID file names a live process that is still the JVM of that class (not a reused PID).
alive() {
  local pidfile=$1 class=$2 pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$class"
}

# TERM, wait up to 20 s, then KILL; only the PID recorded at start, and only if it is still ours.
stop_one() {
  local name=$1 class=$2 pidfile="$state/$1.pid" pid
  if alive "$pidfile" "$class"; then
    pid=$(cat "$pidfile")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "spark: $name (pid $pid) did not stop on TERM, killing it" >&2
      kill -9 "$pid" 2>/dev/null || true
    fi
    echo "spark: $name stopped (pid $pid)"
  fi
  rm -f "$pidfile"
}

port_busy() {
  "$root/.venv/bin/python" -c \
    'import socket, sys; sys.exit(socket.socket().connect_ex(("127.0.0.1", int(sys.argv[1]))) != 0)' "$1"
}

# Workers registered with the master on our UI port, if it is the master of our RPC port.
alive_workers() {
  "$root/.venv/bin/python" - "$master_ui" "$master_port" <<'EOF' 2>/dev/null
import json, sys, urllib.request
state = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/json/", timeout=2))
ours = state.get("url") == f"spark://127.0.0.1:{sys.argv[2]}" and state.get("status") == "ALIVE"
print(state.get("aliveworkers", 0) if ours else 0)
EOF
}

fail() {
  echo "spark: $1; see $state/master.log and $state/worker.log" >&2
  tail -n 20 "$state/master.log" "$state/worker.log" >&2 2>/dev/null || true
  stop_one worker "$worker_class"
  stop_one master "$master_class"
  exit 1
}

case "$cmd" in
  start)
    mkdir -p "$state/work" "$state/logs" "$state/local"
    if alive "$state/master.pid" "$master_class" && alive "$state/worker.pid" "$worker_class"; then
      echo "spark: already running (master pid $(cat "$state/master.pid"), worker pid $(cat "$state/worker.pid"))"
      exit 0
    fi
    stop_one worker "$worker_class"
    stop_one master "$master_class"
    for port in "$master_port" "$master_ui" "$worker_ui"; do
      if port_busy "$port"; then
        echo "spark: port $port on 127.0.0.1 is in use; choose others with SALESFLOW_SPARK_*_PORT" >&2
        exit 1
      fi
    done
    # spark-class ends in exec, so $! is the JVM's PID.
    "$root/.venv/bin/spark-class" "$master_class" --host 127.0.0.1 --port "$master_port" \
      --webui-port "$master_ui" >"$state/master.log" 2>&1 &
    echo $! >"$state/master.pid"
    own_machine=()
    if [ "${SALESFLOW_SPARK_WORKER_OWN_MACHINE:-0}" = 1 ]; then
      own_machine=("$root/scripts/own_machine.sh" spark-worker --keep "$root" \
        --private "$state/work" --private "$state/local" --)
    fi
    SPARK_WORKER_DIR="$state/work" SPARK_LOCAL_DIRS="$state/local" \
      "${own_machine[@]}" "$root/.venv/bin/spark-class" "$worker_class" "spark://127.0.0.1:$master_port" --host 127.0.0.1 \
      --cores "$worker_cores" --memory "$worker_memory" --webui-port "$worker_ui" \
      --work-dir "$state/work" >"$state/worker.log" 2>&1 &
    echo $! >"$state/worker.pid"
    deadline=$((SECONDS + wait_seconds))
    until [ "$(alive_workers || echo 0)" -ge 1 ]; do
      kill -0 "$(cat "$state/master.pid")" 2>/dev/null || fail "the master exited"
      kill -0 "$(cat "$state/worker.pid")" 2>/dev/null || fail "the worker exited"
      [ "$SECONDS" -lt "$deadline" ] || fail "no worker registered within ${wait_seconds} s"
      sleep 0.5
    done
    echo "spark: master spark://127.0.0.1:$master_port (pid $(cat "$state/master.pid"), UI http://127.0.0.1:$master_ui)," \
      "worker registered (pid $(cat "$state/worker.pid"), $worker_cores cores, $worker_memory)" ;;
  stop)
    # The worker first: it stops its executors; then the master.
    stop_one worker "$worker_class"
    stop_one master "$master_class" ;;
  *) echo "usage: $0 start|stop [STATE_DIR]" >&2; exit 2 ;;
esac
