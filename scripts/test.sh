#!/usr/bin/env bash
# make test: lint, then the test suite against the real services, which the test session starts
# itself (tests/conftest.py): a moto S3 server and a MariaDB in a temporary folder (or the MySQL at
# SALESFLOW_MYSQL_HOST when that is set), Spark local. Extra arguments go to pytest.
# make test-heavy (scripts/test.sh --heavy): only the heavy suites (real scheduler, Spark cluster,
# fault injection), no lint.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
source scripts/env.sh
# An S3 that honours copy and delete conditions, for the tests of S3 semantics (moto ignores them),
# and a Kafka broker's jars, for the compose stack's event path (MinIO notifies Kafka).
scripts/minio.sh
scripts/kafka.sh
if [ "${1:-}" = "--heavy" ]; then
  shift
  # The heavy suites also need Debian's chromium (the UI test; never a downloaded browser) and
  # PostgreSQL (Airflow's metadata DB, started per stack by scripts/airflow.sh).
  scripts/apt.sh chromium postgresql
  status=0
  python -m pytest -m heavy "$@" || status=$?
  [ "$status" -eq 5 ] && { echo "test-heavy: no heavy test selected"; status=0; }
  exit "$status"
fi
ruff check .
ruff format --check .
exec python -m pytest -m "not heavy" "$@"
