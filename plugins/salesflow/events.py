"""A file lands, a run starts: S3 event notifications through a queue to an Asset watcher.

An event is a wake-up, never the list of files: the run it starts claims what the listing and the
ledger say is new, as every run does, so an event that comes late, twice, out of order or not at
all does no harm (the daily timetable stays as the sweep). ``wire_bucket`` (``salesflow.cli
wire-events``) makes the queue and the bucket's notification for the source prefix; the DAG watches
the queue when ``SALESFLOW_EVENTS_QUEUE_URL`` names it (``make airflow`` sets it), and each run
logs what the messages that started it said, dropping those that are not S3 events of its bucket.

Two queues, one message shape:
- SQS (``https://...``): what real S3 and moto notify. ``wire_bucket`` makes the queue and its policy.
- Kafka (``kafka://<brokers>/<topic>``): what MinIO, the compose stack's S3, can notify and the
  watcher can read (MinIO cannot notify SQS; common-messaging reads SQS, Kafka and Redis pub/sub,
  and MinIO's Redis target writes a key, not a pub/sub message). MinIO's own target sends, so
  ``wire_bucket(target=ARN)`` only puts the notification; the brokers the watcher reads come from
  the ``salesflow_kafka`` connection. Each message becomes an event of the SQS shape
  (``kafka_message``), so a run reads both the same way.
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import unquote_plus

from salesflow.config import AWS_CONN_ID, Settings

log = logging.getLogger(__name__)

# The queue the DAG watches (read when the DAG file is parsed: a trigger takes no template).
EVENTS_QUEUE_ENV = "SALESFLOW_EVENTS_QUEUE_URL"
LANDING_EVENTS = "salesflow.landing_events"
GROUP = "salesflow"
NOTIFICATION_ID = "salesflow-landing"
# An empty poll waits this long before the next (SQS long-polls wait_time_seconds within a poll).
POLL_SECONDS = 2
KAFKA_CONN_ID = "salesflow_kafka"
KAFKA_SCHEME = "kafka://"


def queue_name(settings: Settings) -> str:
    """One queue per bucket (SQS names: letters, digits, hyphens, underscores, up to 80)."""
    return f"{settings.bucket}-landing"[:80]


def kafka_topic(queue_url: str) -> str | None:
    """The topic of a ``kafka://<brokers>/<topic>`` URL; None for any other queue (SQS)."""
    if not queue_url.startswith(KAFKA_SCHEME):
        return None
    topic = queue_url[len(KAFKA_SCHEME) :].partition("/")[2].strip("/")
    if not topic or "," in topic:
        raise ValueError(f"{EVENTS_QUEUE_ENV}={queue_url!r}: name one topic, kafka://<brokers>/<topic>")
    return topic


def landing_asset(queue_url: str) -> Any:
    """The Asset an S3 event for the source prefix updates: its watcher polls the queue."""
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger
    from airflow.sdk import Asset, AssetWatcher

    topic = kafka_topic(queue_url)
    if topic is not None:
        trigger = MessageQueueTrigger(
            scheme="kafka",
            topics=[topic],
            kafka_config_id=KAFKA_CONN_ID,
            apply_function=f"{__name__}.kafka_message",
            poll_timeout=POLL_SECONDS,
            poll_interval=0,  # after a message: the next one at once
        )
    else:
        trigger = MessageQueueTrigger(
            scheme="sqs",
            sqs_queue=queue_url,
            aws_conn_id=AWS_CONN_ID,
            max_messages=10,
            wait_time_seconds=POLL_SECONDS,
            waiter_delay=POLL_SECONDS,
        )
    watcher = AssetWatcher(name="s3_events", trigger=trigger)
    return Asset(name=LANDING_EVENTS, group=GROUP, watchers=[watcher])


def schedule(queue_url: str | None) -> Any:
    """Daily (the sweep), and also whenever an event arrives when a queue is named."""
    if not queue_url:
        return "@daily"
    import pendulum
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    daily = CronTriggerTimetable("@daily", timezone=pendulum.UTC)  # what "@daily" gives in Airflow 3
    return AssetOrTimeSchedule(timetable=daily, assets=[landing_asset(queue_url)])


def describe_messages(bodies: list[str], bucket: str, prefix: str) -> tuple[list[str], list[str]]:
    """(the keys the messages name under the source prefix, why each other message is dropped)."""
    keys, dropped = [], []
    for body in bodies:
        try:
            message = json.loads(body)
        except ValueError:
            dropped.append(f"not JSON: {body[:120]!r}")
            continue
        if not isinstance(message, dict):
            dropped.append(f"not an S3 event: {body[:120]!r}")
        elif message.get("Event") == "s3:TestEvent":
            dropped.append(f"s3:TestEvent of bucket {message.get('Bucket')}")
        elif not isinstance(message.get("Records"), list):
            dropped.append(f"not an S3 event: {body[:120]!r}")
        else:
            for record in message["Records"]:
                named = _record_key(record)
                if named is None:
                    dropped.append(f"not an S3 record: {json.dumps(record)[:120]}")
                elif named[0] != bucket:
                    dropped.append(f"an event of bucket {named[0]}, not {bucket}")
                elif not named[1].startswith(prefix):
                    dropped.append(f"s3://{bucket}/{named[1]} is not under {prefix}")
                else:
                    keys.append(named[1])
    return keys, dropped


def _record_key(record: Any) -> tuple[str, str] | None:
    """(bucket, key) of an S3 event record; keys come URL-encoded (moto encodes '/' too)."""
    try:
        return record["s3"]["bucket"]["name"], unquote_plus(record["s3"]["object"]["key"])
    except (KeyError, TypeError):
        return None


def kafka_message(message: Any) -> dict[str, Any]:
    """A Kafka message as the event payload an SQS message makes (the watcher's ``apply_function``):
    every message is a wake-up, even one that is not an S3 event (the run logs and drops it)."""
    value = message.value()
    body = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
    return {"message_batch": [{"Body": body}]}


def message_bodies(triggering_events: Any) -> list[str]:
    """The SQS message bodies of the asset events that started a run (none for a timetable run)."""
    from airflow.sdk import Asset

    try:  # the accessor is keyed by Asset (its name and URI)
        events = triggering_events[Asset(name=LANDING_EVENTS, group=GROUP)] if triggering_events else []
    except KeyError:
        events = []
    bodies = []
    for event in events:
        payload = (getattr(event, "extra", None) or {}).get("payload") or {}
        bodies += [str(m.get("Body", "")) for m in payload.get("message_batch", []) if isinstance(m, dict)]
    return bodies


def log_messages(settings: Settings, bodies: list[str]) -> list[str]:
    """Log what the messages that started the run name, and each one dropped; the keys named."""
    keys, dropped = describe_messages(bodies, settings.bucket, settings.prefixes.source)
    for key in keys:
        log.info("event: s3://%s/%s landed (the run claims whatever is new)", settings.bucket, key)
    for why in dropped:
        log.warning("event dropped: %s", why)
    return keys


def wire_bucket(settings: Settings, target: str | None = None) -> str:
    """The bucket's queue and its ObjectCreated notification for the source prefix; idempotent (a
    notification of another id is kept). Returns the queue URL, or ``target``: the ARN of a queue
    the S3 server sends to itself (MinIO's Kafka target, ``arn:minio:sqs::<ID>:kafka``), for
    which only the notification is put."""
    if target is not None:
        notify(settings, target)
        return target
    from airflow.providers.amazon.aws.hooks.sqs import SqsHook

    sqs = SqsHook(aws_conn_id=AWS_CONN_ID).get_conn()
    url = sqs.create_queue(QueueName=queue_name(settings))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bucket_arn = f"arn:aws:s3:::{settings.bucket}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "s3-sends-landing-events",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnLike": {"aws:SourceArn": bucket_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    notify(settings, arn)
    return url


def notify(settings: Settings, queue_arn: str) -> None:
    """The bucket's ObjectCreated notification for the source prefix to ``queue_arn`` (ours
    replaced, any other kept)."""
    from salesflow.storage import s3_hook

    s3 = s3_hook().get_conn()
    current = s3.get_bucket_notification_configuration(Bucket=settings.bucket)
    current.pop("ResponseMetadata", None)
    queues = [q for q in current.get("QueueConfigurations", []) if q.get("Id") != NOTIFICATION_ID]
    queues.append(
        {
            "Id": NOTIFICATION_ID,
            "QueueArn": queue_arn,
            "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": settings.prefixes.source}]}},
        }
    )
    s3.put_bucket_notification_configuration(
        Bucket=settings.bucket, NotificationConfiguration={**current, "QueueConfigurations": queues}
    )
