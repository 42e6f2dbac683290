"""Issue 25, the compose stack's event path on real servers: MinIO (the compose S3) notifies a Kafka
topic, and the DAG's asset watcher (common-messaging's ``MessageQueueTrigger``, scheme ``kafka``)
turns each message into an event the run reads as it reads an SQS message. The broker runs from
the jars of ``scripts/kafka.sh`` (the compose image's version), MinIO from ``scripts/minio.sh``.
The scheduler and triggerer around the watcher are those of tests/airflow/test_events.py (SQS)."""

from __future__ import annotations

import asyncio
import json
import uuid
from types import SimpleNamespace

import pytest

from include.local_kafka import KafkaBroker
from include.local_s3 import MINIO_LOGIN, MinioServer, connection_json
from salesflow.events import (
    GROUP,
    KAFKA_CONN_ID,
    LANDING_EVENTS,
    NOTIFICATION_ID,
    describe_messages,
    landing_asset,
    message_bodies,
    wire_bucket,
)

TOPIC = "salesflow-landing"
TARGET = "SALESFLOW"  # MinIO's id of its Kafka target: its ARN is arn:minio:sqs::SALESFLOW:kafka
EVENT_SECONDS = 30


@pytest.fixture(scope="module")
def kafka(tmp_path_factory):
    folder = tmp_path_factory.mktemp("kafka")
    with KafkaBroker(folder / "node", log_path=folder / "broker.log") as broker:
        yield broker


@pytest.fixture(scope="module")
def minio_to_kafka(kafka, tmp_path_factory):
    """A MinIO whose Kafka target is the broker (the compose file's MINIO_NOTIFY_KAFKA_* settings)."""
    folder = tmp_path_factory.mktemp("minio-kafka")
    notify = {
        f"MINIO_NOTIFY_KAFKA_ENABLE_{TARGET}": "on",
        f"MINIO_NOTIFY_KAFKA_BROKERS_{TARGET}": kafka.address,
        f"MINIO_NOTIFY_KAFKA_TOPIC_{TARGET}": TOPIC,
    }
    with MinioServer(folder / "data", log_path=folder / "minio.log", settings=notify) as server:
        yield server


@pytest.fixture
def wired(minio_to_kafka, kafka, monkeypatch):
    """The settings of a bucket on that MinIO, wired to notify the topic; the watcher's connection."""
    from salesflow.config import load_settings
    from salesflow.storage import s3_hook

    monkeypatch.setenv("AIRFLOW_CONN_SALESFLOW_S3", connection_json(minio_to_kafka.endpoint, *MINIO_LOGIN))
    monkeypatch.setenv("SALESFLOW__STORAGE__BUCKET", f"sf-kafka-{uuid.uuid4().hex[:8]}")
    extra = {
        "bootstrap.servers": kafka.address,
        "group.id": "salesflow-landing",
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
    }
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{KAFKA_CONN_ID.upper()}", json.dumps({"conn_type": "kafka", "extra": extra})
    )
    settings = load_settings()
    s3_hook().create_bucket(bucket_name=settings.bucket)
    return settings


def next_bodies(queue_url: str) -> list[str]:
    """What a run started by the watcher's next event reads: the trigger run until it fires once,
    its event handed over as the scheduler hands an asset event to the run."""
    from airflow.sdk import Asset

    (watcher,) = landing_asset(queue_url).watchers

    async def first_event():
        trigger = watcher.trigger
        try:
            async for event in trigger.run():
                return event
        finally:
            await trigger.trigger.cleanup()

    event = asyncio.run(asyncio.wait_for(first_event(), EVENT_SECONDS))
    asset_event = SimpleNamespace(extra={"payload": event.payload})
    return message_bodies({Asset(name=LANDING_EVENTS, group=GROUP): [asset_event]})


def test_minio_notifies_kafka_and_the_watcher_wakes_a_run_for_each_file_landed(wired, kafka):
    from salesflow.storage import s3_hook

    settings = wired
    arn = f"arn:minio:sqs::{TARGET}:kafka"
    assert wire_bucket(settings, target=arn) == arn
    assert wire_bucket(settings, target=arn) == arn  # again: one notification of ours
    s3 = s3_hook().get_conn()
    (queue,) = s3.get_bucket_notification_configuration(Bucket=settings.bucket)["QueueConfigurations"]
    assert (queue["Id"], queue["QueueArn"]) == (NOTIFICATION_ID, arn)

    url = f"kafka://{kafka.address}/{TOPIC}"
    s3.put_object(Bucket=settings.bucket, Key="elsewhere/c.csv", Body=b"x")  # outside the prefix: no event
    s3.put_object(Bucket=settings.bucket, Key="sales_data/2024 05/a+b.csv", Body=b"x")
    s3.put_object(Bucket=settings.bucket, Key="sales_data/b.csv", Body=b"y")
    first = describe_messages(next_bodies(url), settings.bucket, settings.prefixes.source)
    assert first == (["sales_data/2024 05/a+b.csv"], [])
    # A watcher started again (a new triggerer) goes on where the last one stopped: the message
    # that waited in the topic is read, the one read before is not read twice.
    second = describe_messages(next_bodies(url), settings.bucket, settings.prefixes.source)
    assert second == (["sales_data/b.csv"], [])


def test_a_message_that_is_not_an_s3_event_wakes_a_run_that_drops_it(wired, kafka):
    from confluent_kafka import Producer

    topic = "salesflow-garbage"  # a topic of its own: MinIO's messages are the other test's
    producer = Producer({"bootstrap.servers": kafka.address})
    producer.produce(topic, b"garbage {")
    assert producer.flush(10) == 0
    bodies = next_bodies(f"kafka://{kafka.address}/{topic}")
    assert describe_messages(bodies, wired.bucket, wired.prefixes.source) == ([], ["not JSON: 'garbage {'"])
