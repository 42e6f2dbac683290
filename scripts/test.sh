#!/usr/bin/env bash
# make test: lint, then the test suite against the real services (moto S3 started by the tests,
# MySQL at SALESFLOW_MYSQL_HOST, Spark local). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
source scripts/env.sh
python -m salesflow.cli check-mysql >/dev/null || exit 3
ruff check .
ruff format --check .
exec python -m pytest "$@"
