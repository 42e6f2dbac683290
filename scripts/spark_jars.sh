#!/usr/bin/env bash
# The jars Spark needs beside the wheel (include/spark/pom.xml: S3A, the AWS SDK modules, the S3A
# committers' Spark binding) in .venv/spark-jars, fetched from Maven Central once and again only
# when the pom changes.
exec "$(dirname "$0")/maven_jars.sh" include/spark/pom.xml .venv/spark-jars "bootstrap: fetching the S3A jars for Spark"
