"""Issue 25: the bucket wired for events (a real SQS of the moto server), and what a run makes of
the messages that started it. The scheduler, triggerer and runs are in tests/airflow/test_events.py."""

from __future__ import annotations

import json

import pytest
from airflow.providers.amazon.aws.hooks.sqs import SqsHook

from salesflow.events import NOTIFICATION_ID, describe_messages, wire_bucket
from salesflow.storage import s3_hook


def received(url: str) -> list[str]:
    sqs = SqsHook(aws_conn_id="salesflow_s3").get_conn()
    bodies = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        if not batch:
            return bodies
        for message in batch:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_the_wired_bucket_sends_an_event_per_file_landed_under_the_source_prefix(environment):
    settings = environment("events")
    s3 = s3_hook().get_conn()
    other = {
        "Id": "someone-elses",
        "QueueArn": "arn:aws:sqs:us-east-1:123456789012:other",
        "Events": ["s3:ObjectRemoved:*"],
    }
    s3.put_bucket_notification_configuration(
        Bucket=settings.bucket, NotificationConfiguration={"QueueConfigurations": [other]}
    )
    url = wire_bucket(settings)
    assert wire_bucket(settings) == url  # again: the same queue, one notification of ours
    queues = s3.get_bucket_notification_configuration(Bucket=settings.bucket)["QueueConfigurations"]
    assert sorted(q["Id"] for q in queues) == sorted([NOTIFICATION_ID, "someone-elses"])
    received(url)  # S3's test events
    s3.put_object(Bucket=settings.bucket, Key="sales_data/2024 05/a+b.csv", Body=b"x")
    s3.put_object(Bucket=settings.bucket, Key="elsewhere/c.csv", Body=b"x")
    keys, dropped = describe_messages(received(url), settings.bucket, settings.prefixes.source)
    assert (keys, dropped) == (["sales_data/2024 05/a+b.csv"], [])


def test_messages_that_are_not_events_of_the_bucket_are_dropped_each_with_its_reason():
    record = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "b"}, "object": {"key": "in%2Fa.csv"}},
    }
    foreign = {"s3": {"bucket": {"name": "other"}, "object": {"key": "in/x.csv"}}}
    bodies = [
        json.dumps({"Records": [record, foreign, {"eventName": "?"}]}),
        json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "b"}),
        "garbage {",
        json.dumps([1, 2]),
        json.dumps({"Records": [{"s3": {"bucket": {"name": "b"}, "object": {"key": "out/y.csv"}}}]}),
    ]
    keys, dropped = describe_messages(bodies, "b", "in/")
    assert keys == ["in/a.csv"]
    assert dropped == [
        "an event of bucket other, not b",
        'not an S3 record: {"eventName": "?"}',
        "s3:TestEvent of bucket b",
        "not JSON: 'garbage {'",
        "not an S3 event: '[1, 2]'",
        "s3://b/out/y.csv is not under in/",
    ]


def test_with_a_queue_named_the_dag_runs_daily_and_on_each_event_and_never_waits(monkeypatch, airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    from salesflow.events import EVENTS_QUEUE_ENV, LANDING_EVENTS
    from salesflow.paths import PROJECT_ROOT

    monkeypatch.setenv(EVENTS_QUEUE_ENV, "http://127.0.0.1:5055/123456789012/sf-landing")
    dag = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags["sales_pipeline"]
    (asset,) = dag.timetable.asset_condition.objects
    assert asset.name == LANDING_EVENTS
    (watcher,) = asset.watchers
    assert watcher.trigger.kwargs["sqs_queue"] == "http://127.0.0.1:5055/123456789012/sf-landing"
    assert dag.timetable.timetable.expression == "0 0 * * *"  # the daily sweep
    assert dag.get_task("wait_for_files").wait is False
    monkeypatch.delenv(EVENTS_QUEUE_ENV)
    plain = DagBag(dag_folder=str(PROJECT_ROOT / "dags")).dags["sales_pipeline"]
    assert plain.timetable == dag.timetable.timetable  # the same daily runs
    assert plain.get_task("wait_for_files").wait is True


def test_a_kafka_url_makes_the_watcher_read_its_topic_and_each_message_an_event_of_the_sqs_shape():
    from salesflow.events import KAFKA_CONN_ID, kafka_message, kafka_topic, landing_asset

    (watcher,) = landing_asset("kafka://kafka:9092/salesflow-landing").watchers
    kwargs = watcher.trigger.kwargs
    assert (watcher.trigger.scheme, kwargs["topics"], kwargs["kafka_config_id"]) == (
        "kafka",
        ["salesflow-landing"],
        KAFKA_CONN_ID,
    )
    assert kwargs["apply_function"] == "salesflow.events.kafka_message"
    message = type("Message", (), {"value": lambda self: b'{"Records": []}'})()
    assert kafka_message(message) == {"message_batch": [{"Body": '{"Records": []}'}]}
    assert kafka_topic("https://sqs.eu-west-1.amazonaws.com/1/q") is None
    for wrong in ("kafka://kafka:9092", "kafka://kafka:9092/a,b"):
        with pytest.raises(ValueError, match="name one topic"):
            kafka_topic(wrong)
