#!/usr/bin/env bash
# The Spark driver's class-data-sharing archive (.venv/spark-cds.jsa), built once per virtualenv:
# a warm-up job runs with -XX:ArchiveClassesAtExit, and later drivers map the archive instead of
# loading Spark's classes from the jars again (docs/performance.md). Safe to call again; a driver
# whose JVM cannot use the archive just starts without it.
set -euo pipefail
cd "$(dirname "$0")/.."
archive=.venv/spark-cds.jsa
[ -f "$archive" ] && exit 0
source scripts/env.sh
echo "bootstrap: building the Spark driver's class-data-sharing archive ($archive)"
spark-submit --master 'local[1]' --conf spark.ui.enabled=false \
  --conf "spark.driver.extraJavaOptions=-XX:ArchiveClassesAtExit=$PWD/$archive.partial" \
  spark_jobs/warmup.py >"$archive.log" 2>&1 || { echo "bootstrap: no archive (see $archive.log); Spark starts without one" >&2; exit 0; }
mv "$archive.partial" "$archive" 2>/dev/null || echo "bootstrap: the JVM wrote no archive; Spark starts without one" >&2
