#!/usr/bin/env bash
# The Spark driver's class-data-sharing archive (.venv/spark-cds.jsa), built once per virtualenv and
# again when the jars or the warm-up change (include/spark_cds.py: a warm-up job over S3A against a
# moto server of its own). Safe to call again; a driver whose JVM cannot use the archive just starts
# without it.
set -euo pipefail
cd "$(dirname "$0")/.."
archive=.venv/spark-cds.jsa
stamp=$archive.sha256
want=$(cat .venv/spark-jars/.pom.sha256 spark_jobs/warmup.py include/spark_cds.py | sha256sum | cut -d' ' -f1)
[ -f "$archive" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && exit 0
source scripts/env.sh
echo "bootstrap: building the Spark driver's class-data-sharing archive ($archive)"
rm -f "$archive" "$stamp"
python -m include.spark_cds "$archive"
[ -f "$archive" ] && echo "$want" > "$stamp"
exit 0
