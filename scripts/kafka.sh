#!/usr/bin/env bash
# A Kafka broker's jars (include/kafka/pom.xml) in var/tools/kafka, fetched from Maven Central once and
# again only when the pom changes (about 20 s, 43 MB). The test of the compose stack's event path
# runs the broker from them (include/local_kafka.py): MinIO notifies Kafka, the DAG's watcher reads it.
exec "$(dirname "$0")/maven_jars.sh" include/kafka/pom.xml var/tools/kafka "kafka: fetching the broker's jars"
