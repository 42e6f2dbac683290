#!/usr/bin/env bash
# make bench-latency: landed to committed of a 10,000-row file (ROWS=) with the real stack of
# `make airflow` (scheduler, triggerer, api-server, S3 events, its Spark Connect server), FILES= (10)
# files one after another, each once the run before it ended (extra arguments: --back-to-back, each
# once the file before is LOADED); benchmarks/latency.py. A stack of its own (var/bench/latency-stack, free
# ports, its own bucket and database), stopped at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
source scripts/env.sh
state="$SALESFLOW_ROOT/var/bench/latency-stack"
read -r api_port s3_port < <(python -c 'from include.processes import free_port; print(free_port(), free_port())')
export SALESFLOW_AIRFLOW_STATE="$state" AIRFLOW_PORT="$api_port" SALESFLOW_S3_PORT="$s3_port"
export SALESFLOW_S3_ENDPOINT="http://127.0.0.1:$s3_port"
unset AIRFLOW_CONN_SALESFLOW_S3
export SALESFLOW__STORAGE__BUCKET=salesflow-bench-latency SALESFLOW__MYSQL__DATABASE=salesflow_bench_latency
export SALESFLOW_EVENTS=on SALESFLOW_SPARK=${SALESFLOW_SPARK:-connect}  # submit: a JVM per job (the before of issue 24)
# A stack from nothing: a ledger kept from an earlier sitting would hold these files already.
scripts/airflow.sh stop >/dev/null 2>&1 || true
rm -rf "$state"
trap 'scripts/airflow.sh stop' EXIT
scripts/airflow.sh start
salesflow_connections
salesflow_up "$state" mysql  # the stack's MariaDB, already running: where it is
python -m benchmarks.latency --base "http://127.0.0.1:$api_port" --password-file "$state/passwords.json" \
  --rows "${ROWS:-10000}" --files "${FILES:-10}" --out "${BENCH_OUT:-$SALESFLOW_ROOT/var/bench}" "$@"
