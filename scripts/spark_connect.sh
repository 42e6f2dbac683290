#!/usr/bin/env bash
# Start or stop a Spark Connect server from the pyspark wheel (a warm Spark for the jobs), on
# loopback, by PID, never by name.
#   scripts/spark_connect.sh start [STATE_DIR]   |   scripts/spark_connect.sh stop [STATE_DIR]
# STATE_DIR (default var/spark-connect) holds its PID file, log, scratch space and the clients'
# token. SALESFLOW_SPARK_CONNECT_PORT (15002), SALESFLOW_SPARK_CONNECT_MASTER (local[*]). S3 comes
# from the AWS_* variables exported by the caller (AWS_ENDPOINT_URL_S3, AWS_ACCESS_KEY_ID, ...).
# start prints the exports a client needs: eval "$(scripts/spark_connect.sh start)".
# The work is done by include/spark_connect.py, which the tests use too.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# Its stdout is shell exports: Airflow's INFO lines (the S3 connection read) stay out of it.
AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING PYTHONPATH="$root/plugins:$root${PYTHONPATH:+:$PYTHONPATH}" \
  exec "$root/.venv/bin/python" -m include.spark_connect "$@"
