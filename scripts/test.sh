#!/usr/bin/env bash
# make test: lint, then the test suite against the real services (moto S3 started by the tests,
# MySQL at SALESFLOW_MYSQL_HOST, Spark local). Extra arguments go to pytest.
# make test-heavy (scripts/test.sh --heavy): only the heavy suites (real scheduler, Spark cluster,
# fault injection), no lint.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
source scripts/env.sh
python -m salesflow.cli check-mysql >/dev/null || exit 3
if [ "${1:-}" = "--heavy" ]; then
  shift
  # The heavy suites also need Debian's chromium (the UI test; never a downloaded browser) and psql.
  need=()
  [ -x /usr/bin/chromium ] || need+=(chromium)
  command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
  if [ ${#need[@]} -gt 0 ]; then
    echo "test-heavy: installing Debian packages: ${need[*]}"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  status=0
  python -m pytest -m heavy "$@" || status=$?
  [ "$status" -eq 5 ] && { echo "test-heavy: no heavy test selected"; status=0; }
  exit "$status"
fi
ruff check .
ruff format --check .
exec python -m pytest -m "not heavy" "$@"
