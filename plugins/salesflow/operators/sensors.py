"""The source-prefix sensor."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor


class SalesFilesSensor(S3KeySensor):
    """S3KeySensor on the source prefix; a run asked to recompute months or to reprocess files does
    not wait for new ones. ``wait=False`` (the DAG started by S3 events: a file that lands later
    starts a run of its own) looks once and skips the run when the prefix is empty."""

    def __init__(self, *, wait: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.wait = wait

    def execute(self, context: Any) -> None:
        from airflow.sdk.exceptions import AirflowSkipException

        from salesflow.config import load_settings
        from salesflow.events import log_messages, message_bodies

        # What the S3 events that started the run say (each message not one of ours dropped).
        log_messages(load_settings(), message_bodies(context.get("triggering_asset_events")))
        for param in ("recompute_months", "reprocess"):
            asked = context["params"].get(param) or []
            if asked:
                self.log.info("%s=%s: not waiting for new files", param, asked)
                return
        if self.wait:
            super().execute(context)
        elif not self.poke(context):
            raise AirflowSkipException("no file in the landing prefix (a file that lands starts its own run)")
