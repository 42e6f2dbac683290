"""The source-prefix sensor."""

from __future__ import annotations

from typing import Any

from airflow.providers.amazon.aws.sensors.s3 import S3KeySensor


class SalesFilesSensor(S3KeySensor):
    """S3KeySensor on the source prefix; a run asked to recompute months or to reprocess files does
    not wait for new ones."""

    def execute(self, context: Any) -> None:
        for param in ("recompute_months", "reprocess"):
            asked = context["params"].get(param) or []
            if asked:
                self.log.info("%s=%s: not waiting for new files", param, asked)
                return
        super().execute(context)
