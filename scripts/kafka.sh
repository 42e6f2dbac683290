#!/usr/bin/env bash
# A Kafka broker's jars (include/kafka/pom.xml) in var/tools/kafka, fetched from Maven Central once and
# again only when the pom changes (about 20 s, 43 MB). The test of the compose stack's event path
# runs the broker from them (include/local_kafka.py): MinIO notifies Kafka, the DAG's watcher reads it.
set -euo pipefail
cd "$(dirname "$0")/.."
pom=include/kafka/pom.xml
jars=var/tools/kafka
stamp=$jars/.pom.sha256
want=$(sha256sum "$pom" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
command -v mvn >/dev/null 2>&1 || scripts/apt.sh maven
echo "kafka: fetching the broker's jars into $jars (Maven Central, once)"
rm -rf "$jars.partial"
mvn -q -B -f "$pom" dependency:copy-dependencies -Djars.dir="$PWD/$jars.partial"
rm -rf "$jars"
mv "$jars.partial" "$jars"
echo "$want" > "$stamp"
