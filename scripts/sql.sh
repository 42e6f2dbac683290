#!/usr/bin/env bash
# make sql: a mariadb client on the demo's database (salesflow_demo), its server started for the
# session and stopped when the client exits. Arguments go to the client (e.g. -e 'SELECT ...').
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh >/dev/null
source scripts/env.sh
services="$SALESFLOW_ROOT/var/services/demo"
trap 'salesflow_down "$services"' EXIT
salesflow_up "$services" mysql
MYSQL_PWD="${SALESFLOW_MYSQL_PASSWORD:-}" mariadb -h "$SALESFLOW_MYSQL_HOST" -P "$SALESFLOW_MYSQL_PORT" \
  -u "$SALESFLOW_MYSQL_USER" "${DEMO_DATABASE:-salesflow_demo}" "$@"
