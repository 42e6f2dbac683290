#!/usr/bin/env bash
# Installs those of the Debian packages named that are missing: `apt-get update` once, then one
# `apt-get install`; quick and silent when all are there. The packages' own system services
# (mariadb, postgresql, redis) are not started: the project runs its own servers from its own
# folders (include/local_services.py), so for the install a policy-rc.d that denies every start
# is put in place, unless the machine has one of its own.
#   scripts/apt.sh PACKAGE...
set -euo pipefail
missing=()
for package in "$@"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "apt: installing Debian packages: ${missing[*]}"
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# salesflow: no service starts during its package install\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  trap '$SUDO rm -f "$policy"' EXIT
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
