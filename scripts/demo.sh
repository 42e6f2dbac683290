#!/usr/bin/env bash
# make demo: the main job end to end on the embedded defaults.
# A moto S3 server, a MariaDB (var/services/demo, unless SALESFLOW_MYSQL_HOST points at another
# MySQL) and a Spark Connect server (local[*]) on free loopback ports, started here and stopped at
# the end by PID; Airflow's SQLite metadata DB. The demo has its own database (salesflow_demo) and folders under
# var/demo, reset on each call.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
# The demo's S3 on a free port (nothing outside the demo talks to it).
export SALESFLOW_S3_PORT=${SALESFLOW_S3_PORT:-$(.venv/bin/python -c 'from include.processes import free_port; print(free_port())')}
source scripts/env.sh
export SALESFLOW__MYSQL__DATABASE=${DEMO_DATABASE:-salesflow_demo}
export SALESFLOW__STORAGE__BUCKET=${DEMO_BUCKET:-salesflow-demo}
export SALESFLOW__LOCAL__ERROR_DIR="$SALESFLOW_ROOT/var/demo/error"
rows=${ROWS:-300000}
files=${FILES:-4}

services="$SALESFLOW_ROOT/var/services/demo"
pidfile="$SALESFLOW_ROOT/var/demo-moto.pid"
connect_state="$SALESFLOW_ROOT/var/demo-spark-connect"
trap 'scripts/spark_connect.sh stop "$connect_state" 2>/dev/null; scripts/moto.sh stop "$pidfile"; salesflow_down "$services"' EXIT
salesflow_up "$services" mysql
python -m salesflow.cli check-mysql >/dev/null || exit 3
scripts/moto.sh start "$SALESFLOW_S3_PORT" "$pidfile"
# A warm Spark (issue 24): a Spark Connect server on a free loopback port, the job its client.
# SALESFLOW_SPARK=submit runs the job through spark-submit instead.
if [ "${SALESFLOW_SPARK:-connect}" = "connect" ]; then
  connect_exports=$(SALESFLOW_SPARK_CONNECT_PORT=${SALESFLOW_SPARK_CONNECT_PORT:-0} \
    scripts/spark_connect.sh start "$connect_state")
  eval "$(grep AIRFLOW_CONN_SALESFLOW_SPARK <<<"$connect_exports")"
fi

if [ ! -f "$AIRFLOW_HOME/.migrated" ]; then
  echo "demo: preparing Airflow's metadata DB (SQLite, $AIRFLOW_HOME)"
  mkdir -p "$AIRFLOW_HOME"
  airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 && touch "$AIRFLOW_HOME/.migrated"
fi

echo "demo: fresh database $SALESFLOW__MYSQL__DATABASE and folders var/demo"
rm -rf "$SALESFLOW_ROOT/var/demo"
mkdir -p "$SALESFLOW_ROOT/var/demo"
mariadb_drop="DROP DATABASE IF EXISTS \`$SALESFLOW__MYSQL__DATABASE\`"
python - "$mariadb_drop" <<'PY'
import sys
from salesflow.config import load_settings
from salesflow.db import connect
with connect(load_settings(), database=None) as conn, conn.cursor() as cursor:
    cursor.execute(sys.argv[1])
PY
python -m salesflow.cli init-db 2>/dev/null
python -m salesflow.cli create-bucket 2>/dev/null
# Plus a small good file and a broken one of each other format (.csv.gz, .parquet, .jsonl).
python -m include.sample_data.generate --rows "$rows" --files "$files" --bad-cases --format-cases \
  --s3-bucket "$SALESFLOW__STORAGE__BUCKET" 2>/dev/null

# A section of what the demo prints: a title, then what one salesflow.cli command prints.
show() {
  echo
  echo "== $1"
  AIRFLOW__LOGGING__LOGGING_LEVEL=WARNING python -m salesflow.cli "$2" 2>/dev/null
}

log="$SALESFLOW_ROOT/var/demo/dag_test.log"
echo "demo: running the DAG (airflow dags test sales_pipeline); full log in $log"
status=0
airflow dags test sales_pipeline >"$log" 2>&1 || status=$?
grep -E "\] (claim|download|publish|archive): |\] (validated|quarantined) |salesflow.transform (file|transform:)|\] quarantine|DagRun Finished" "$log" \
  | sed -E 's/^[0-9TZ:.-]+ \[[a-z]+ *\] //; s/ \[[a-zA-Z_.]+\] loc=.*$//; s/^[0-9-]+ [0-9:,]+ salesflow.transform //; s/ \[airflow.task.hooks.*$//' || true
show "file ledger ($SALESFLOW__MYSQL__DATABASE.file_ledger)" ledger
show "s3://$SALESFLOW__STORAGE__BUCKET" ls
echo
echo "== local error folder ($SALESFLOW__LOCAL__ERROR_DIR)"
ls -1 "$SALESFLOW__LOCAL__ERROR_DIR" 2>/dev/null || echo "(empty)"
if [ "$status" -ne 0 ] || ! grep -q "state=success" "$log"; then
  echo "demo: the DAG run did not succeed; see $log" >&2
  exit 1
fi
show "run report" latest-report
show "analytics: the biggest month-over-month movers of the latest month (sales_comparison_mart)" movers
show "analytics: customers per segment in the latest snapshot (customer_segments)" segments
echo
echo "demo: done. Its MariaDB is stopped again; its data stays in $services."
echo "  make sql   opens a client on the demo's database (tables: sales, customers_data_mart,"
echo "  sales_team_data_mart, sales_comparison_mart, customer_segments, file_ledger, customer, store, ...)"
