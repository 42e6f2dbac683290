#!/usr/bin/env bash
# scripts/own_machine.sh NAME [--keep DIR]... [--private DIR]... -- COMMAND [ARG]...
# Runs COMMAND as on a machine of its own (root: unshare), for the tests that prove a component
# shares no disk with another: a mount namespace where /tmp and every --private DIR are empty tmpfs
# of its own, and a host name NAME of its own (a UTS namespace; it resolves, as a machine's own name
# does, through /etc/hosts plus the name, seen only there). Every --keep DIR below /tmp (the
# project, its .venv, a stack's configuration) is bound back in, so it is read where it is.
# Each step ends in exec: the caller's $! is COMMAND's PID, and the namespace goes when its last
# process does.
set -euo pipefail
name=${1:?usage: $0 NAME [--keep DIR]... [--private DIR]... -- COMMAND [ARG]...}
shift
keep=()
private=()
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep+=("$2"); shift 2 ;;
    --private) private+=("$2"); shift 2 ;;
    --) shift; break ;;
    *) echo "own_machine: unknown option $1" >&2; exit 2 ;;
  esac
done
[ $# -gt 0 ] || { echo "own_machine: no command given" >&2; exit 2; }

if [ "${SALESFLOW_OWN_MACHINE:-}" != "$name" ]; then
  args=("$name")
  for dir in "${keep[@]}"; do args+=(--keep "$dir"); done
  for dir in "${private[@]}"; do args+=(--private "$dir"); done
  SALESFLOW_OWN_MACHINE=$name exec unshare --mount --uts --propagation private "$0" "${args[@]}" -- "$@"
fi
unset SALESFLOW_OWN_MACHINE

hostname "$name"
mount --bind /tmp /mnt  # the machine's /tmp, held while /tmp becomes this one's own
mount -t tmpfs -o mode=1777 "salesflow-$name" /tmp
for dir in "${keep[@]}"; do
  case "$dir" in /tmp/*) mkdir -p "$dir" && mount --bind "/mnt/${dir#/tmp/}" "$dir" ;; esac
done
umount -l /mnt
for dir in "${private[@]}"; do
  mkdir -p "$dir" && mount -t tmpfs -o mode=1777 "salesflow-$name" "$dir"
done
{ cat /etc/hosts; echo "127.0.1.1 $name"; } >/tmp/.hosts && mount --bind /tmp/.hosts /etc/hosts
exec "$@"
