#!/usr/bin/env bash
# Start or stop the local S3 endpoint (moto server on loopback), by PID, never by name.
#   scripts/moto.sh start [PORT] [PIDFILE]   |   scripts/moto.sh stop [PIDFILE]
# Defaults: port 5055, var/moto.pid; the server's log is the PID file's name with .log.
# The work is done by include/local_s3.py, which the tests and the benchmarks use too.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" exec "$root/.venv/bin/python" -m include.local_s3 "$@"
