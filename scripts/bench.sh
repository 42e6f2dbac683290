#!/usr/bin/env bash
# make bench: the whole DAG on seeded data against the real local services, timed side by side with
# this machine's floors (S3 download, CSV parse, LOAD DATA of the same rows); medians of REPEAT runs.
#   ROWS=5000000 FILES=10 make bench          big files
#   ROWS=200000 FILES=10000 make bench        many small files
# Results (JSON) and logs go to var/bench (BENCH_OUT=). Extra arguments go to the benchmark
# (e.g. --bad-cases, --seed 7). Each repeat starts its own moto server on a free port and its own
# scratch database, and stops or drops them at the end, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
source scripts/env.sh
python -m salesflow.cli check-mysql >/dev/null || exit 3
exec python -m benchmarks.pipeline --rows "${ROWS:-400000}" --files "${FILES:-4}" \
  --repeat "${REPEAT:-3}" --out "${BENCH_OUT:-$SALESFLOW_ROOT/var/bench}" "$@"
