#!/usr/bin/env bash
# make bench: the whole DAG on seeded data against the real local services, timed side by side with
# this machine's floors (S3 download, CSV parse, LOAD DATA of the same rows); medians of REPEAT runs.
#   ROWS=5000000 FILES=10 make bench          big files
#   ROWS=200000 FILES=10000 make bench        many small files
# make bench-history (or MODE=history make bench): a ROWS-row file (default 10000) of one month on an
# empty database, and into the same month already holding HISTORY_FACTS facts (default 2000000, in
# HISTORY_FILES files, default 10, loaded by a DAG run first); the ratio busy / empty.
# Results (JSON) and logs go to var/bench (BENCH_OUT=). Extra arguments go to the benchmark
# (e.g. --bad-cases, --seed 7, --latency-rows 0). The sitting starts one moto server and one Spark
# Connect server (SALESFLOW_SPARK=submit: a spark-submit JVM per job instead) on free ports, each case
# a bucket and scratch database of its own; all stopped or dropped at the end, also on failure. The MariaDB runs from
# var/services/bench (unless SALESFLOW_MYSQL_HOST is set) and is stopped when the bench ends.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${MODE:-floors}
for arg in "$@"; do
  if [ "$arg" = "--history" ]; then mode=history; fi
done
case "$mode" in
  floors) args=(--rows "${ROWS:-400000}" --files "${FILES:-4}") ;;
  history) args=(--history --rows "${ROWS:-10000}" --files "${FILES:-1}"
                 --history-facts "${HISTORY_FACTS:-2000000}" --history-files "${HISTORY_FILES:-10}") ;;
  *) echo "bench: MODE is floors (the default) or history, not '$mode'" >&2; exit 2 ;;
esac
scripts/bootstrap.sh
source scripts/env.sh
services="$SALESFLOW_ROOT/var/services/bench"
trap 'salesflow_down "$services"' EXIT
salesflow_up "$services" mysql
python -m salesflow.cli check-mysql >/dev/null || exit 3
python -m benchmarks.pipeline "${args[@]}" --repeat "${REPEAT:-3}" --spark "${SALESFLOW_SPARK:-connect}" \
  --out "${BENCH_OUT:-$SALESFLOW_ROOT/var/bench}" "$@"
