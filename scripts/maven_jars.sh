#!/usr/bin/env bash
# maven_jars.sh POM DIR WHAT: the jars POM names, with their dependencies, copied from Maven Central
# into DIR once, and again only when POM changes (its SHA-256 in DIR/.pom.sha256). A fetch that
# fails leaves DIR as it was. Used by scripts/spark_jars.sh and scripts/kafka.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
pom=$1 jars=$2 what=$3
stamp=$jars/.pom.sha256
want=$(sha256sum "$pom" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
command -v mvn >/dev/null 2>&1 || scripts/apt.sh maven
echo "$what into $jars (Maven Central)"
rm -rf "$jars.partial"
mvn -q -B -f "$pom" dependency:copy-dependencies -Djars.dir="$PWD/$jars.partial"
rm -rf "$jars"
mv "$jars.partial" "$jars"
echo "$want" > "$stamp"
