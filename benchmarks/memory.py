"""Memory of a DAG run: the RSS of the Airflow process, of the Spark JVMs it starts (or of the Spark
Connect server its jobs are clients of) and of the rest.

``/usr/bin/time -v`` on ``spark-submit`` misses the JVM, so the whole process tree is sampled.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from benchmarks.common import MB

SAMPLE_SECONDS = 0.2


class MemorySampler(threading.Thread):
    """Samples the RSS of a process tree: the root itself, the Spark trees below it, the rest.

    A direct child whose command line names Spark (spark-submit, spark-class, SparkSubmit) or Java
    roots a Spark tree: every process below it (the JVM, the Python driver, the Python workers)
    counts to that tree, and its ``java`` processes to the JVM figure. A Spark Connect server's JVM
    (``server_pid``: not below the root, it outlives the run) counts to both Spark figures.
    """

    def __init__(self, pid: int, interval: float = SAMPLE_SECONDS, server_pid: int | None = None) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.server_pid = server_pid
        self.interval = interval
        self.samples: list[tuple[float, int, int, int, int]] = []  # time, root, jvm, spark tree, other
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def run(self) -> None:
        import psutil

        try:
            root = psutil.Process(self.pid)
        except psutil.Error:
            return
        while not self._stop_event.is_set():
            sample = self._sample(root, psutil)
            if sample is not None:
                self.samples.append(sample)
            self._stop_event.wait(self.interval)

    @staticmethod
    def _is_spark(process: Any, psutil: Any) -> bool:
        try:
            command = " ".join(process.cmdline())
            return process.name() == "java" or any(
                mark in command for mark in ("spark-submit", "spark-class", "SparkSubmit")
            )
        except psutil.Error:
            return False

    def _sample(self, root: Any, psutil: Any) -> tuple[float, int, int, int, int] | None:
        now = time.time()
        try:
            root_rss = root.memory_info().rss
            descendants = root.children(recursive=True)
        except psutil.Error:
            return None
        parents: dict[int, int] = {}
        for process in descendants:
            try:
                parents[process.pid] = process.ppid()
            except psutil.Error:
                continue
        spark_roots = {
            p.pid for p in descendants if parents.get(p.pid) == root.pid and self._is_spark(p, psutil)
        }
        jvm = spark = other = 0
        for process in descendants:
            top = process.pid
            while parents.get(top, root.pid) != root.pid:
                top = parents[top]
            try:
                rss = process.memory_info().rss
                is_java = process.name() == "java"
            except psutil.Error:
                continue
            if top in spark_roots:
                spark += rss
                jvm += rss if is_java else 0
            else:
                other += rss
        if self.server_pid is not None:
            try:
                server_rss = psutil.Process(self.server_pid).memory_info().rss
            except psutil.Error:
                server_rss = 0
            jvm, spark = jvm + server_rss, spark + server_rss
        return now, root_rss, jvm, spark, other

    def peaks(self, start: float | None = None, end: float | None = None) -> dict[str, float]:
        """Peaks in MB over the samples from start to end (widened by one interval: short tasks)."""
        start = None if start is None else start - self.interval
        end = None if end is None else end + self.interval
        window = [
            s for s in self.samples if (start is None or s[0] >= start) and (end is None or s[0] <= end)
        ]
        if not window:
            return {}

        def peak(values) -> float:
            return round(max(values) / MB, 1)

        return {
            "spark_jvm": peak(s[2] for s in window),
            "spark_tree": peak(s[3] for s in window),
            "airflow_process": peak(s[1] for s in window),
            "airflow_other_children": peak(s[4] for s in window),
            "whole_tree": peak(s[1] + s[3] + s[4] for s in window),
        }
