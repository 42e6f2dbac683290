#!/usr/bin/env bash
# Start or stop the local S3 endpoint (moto server on loopback), by PID, never by name.
#   scripts/moto.sh start [PORT] [PIDFILE]   |   scripts/moto.sh stop [PIDFILE]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cmd=${1:?start or stop}
case "$cmd" in
  start)
    port=${2:-5055}; pidfile=${3:-$root/var/moto.pid}
    mkdir -p "$(dirname "$pidfile")"
    if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "moto: already running (pid $(cat "$pidfile"))"; exit 0
    fi
    "$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"${pidfile%.pid}.log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 100); do
      if "$root/.venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/')" 2>/dev/null; then
        echo "moto: S3 on http://127.0.0.1:$port (pid $(cat "$pidfile"))"; exit 0
      fi
      kill -0 "$(cat "$pidfile")" 2>/dev/null || { echo "moto: failed to start, see ${pidfile%.pid}.log" >&2; exit 1; }
      sleep 0.1
    done
    echo "moto: not answering on port $port, see ${pidfile%.pid}.log" >&2; exit 1 ;;
  stop)
    pidfile=${2:-$root/var/moto.pid}
    if [ -f "$pidfile" ]; then
      pid=$(cat "$pidfile"); kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$pidfile"; echo "moto: stopped"
    fi ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
