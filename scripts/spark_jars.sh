#!/usr/bin/env bash
# The jars Spark needs beside the wheel (include/spark/pom.xml: S3A, the AWS SDK modules, the S3A
# committers' Spark binding) in .venv/spark-jars, fetched from Maven Central once and again only
# when the pom changes.
set -euo pipefail
cd "$(dirname "$0")/.."
pom=include/spark/pom.xml
jars=.venv/spark-jars
stamp=$jars/.pom.sha256
want=$(sha256sum "$pom" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  exit 0
fi
command -v mvn >/dev/null 2>&1 || scripts/apt.sh maven
echo "bootstrap: fetching the S3A jars for Spark into $jars (Maven Central)"
rm -rf "$jars.partial"
mvn -q -B -f "$pom" dependency:copy-dependencies -Djars.dir="$PWD/$jars.partial"
rm -rf "$jars"
mv "$jars.partial" "$jars"
echo "$want" > "$stamp"
