"""Medians over the repeats, the table printed at the end, the machine, and the JSON file."""

from __future__ import annotations

import json
import os
import platform
import statistics
from pathlib import Path
from typing import Any

from benchmarks.common import MB
from benchmarks.memory import SAMPLE_SECONDS
from benchmarks.services import pymysql_connect

# How every DAG run is measured, for the JSON's "method".
RUN_METHOD = {
    "e2e": "first [DAG TEST] task start to 'DagRun Finished' (sensor to end of run)",
    "tasks": "task_instance start_date/end_date in Airflow's metadata DB, whatever tasks the run had "
    "(mapped instances merged into one span)",
    "spark": "spark_seconds: the tasks whose operator is a SparkSubmitOperator (or a subclass) in the DAG",
    "memory": f"psutil RSS of the airflow process tree (and of the Spark Connect server) every "
    f"{SAMPLE_SECONDS} s",
    "landed_to_committed": "the newest commit of the good files (the ledger's move to LOADED) less "
    "the object's LastModified: includes starting 'airflow dags test' after the upload",
    "spread": "min and max over the repeats beside each median",
}
LANDED = "landed_to_committed_seconds"
# label, path into a run, path into the medians, format
Metric = tuple[str, tuple[str, ...], tuple[str, ...], str]


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 4) if present else None


def spread(values: list[float | None]) -> dict[str, float | None]:
    """The median with the minimum and the maximum."""
    present = [v for v in values if v is not None]
    return {"median": _median(present), "min": min(present, default=None), "max": max(present, default=None)}


def run_medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of what every measured DAG run has (``airflow_run.measure_run``); end to end and
    landed to committed also with their minimum and maximum."""
    task_ids = list(dict.fromkeys(t for r in runs for t in r["tasks"]))
    return {
        "e2e_seconds": _median([r["e2e_seconds"] for r in runs]),
        "e2e_spread": spread([r["e2e_seconds"] for r in runs]),
        "landed_to_committed_seconds": _median([r.get("landed_to_committed_seconds") for r in runs]),
        "landed_to_committed_spread": spread([r.get("landed_to_committed_seconds") for r in runs]),
        "airflow_command_seconds": _median([r["airflow_command_seconds"] for r in runs]),
        "between_tasks_seconds": _median([r["between_tasks_seconds"] for r in runs]),
        "rows_per_second": _median([r["rows_per_second"] for r in runs]),
        "spark_seconds": _median([r["spark_seconds"] for r in runs]),
        "tasks_seconds": {t: _median([r["tasks"].get(t, {}).get("seconds") for r in runs]) for t in task_ids},
        "peak_mb": {k: _median([r["peak_mb"].get(k) for r in runs]) for k in runs[0]["peak_mb"]},
    }


def floors_medians(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """The end-to-end mode: the runs' medians, the floors' and the ratio's."""
    return {
        **run_medians(repeats),
        "floors_seconds": {
            k: _median([r["floors_seconds"][k] for r in repeats]) for k in repeats[0]["floors_seconds"]
        },
        "floors_sum_seconds": _median([r["floors_sum_seconds"] for r in repeats]),
        "ratio": _median([r["ratio"] for r in repeats]),
    }


def history_medians(repeats: list[dict[str, Any]]) -> dict[str, Any]:
    """The history mode: each case's medians; the ratio is the busy median over the empty one."""
    empty = run_medians([r["empty"] for r in repeats])
    busy = run_medians([r["busy"] for r in repeats])
    return {
        "empty": empty,
        "busy": busy,
        "ratio": round(busy["e2e_seconds"] / empty["e2e_seconds"], 2),
        "median_of_repeat_ratios": _median([r["ratio"] for r in repeats]),
    }


# --------------------------------------------------------------------------------------------------
# The table


def _pick(data: dict[str, Any], path: tuple[str, ...]) -> Any:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data


def run_metrics(runs: list[dict[str, Any]], task_ids: list[str]) -> list[Metric]:
    """End to end, rows/s, each task that ran somewhere (Spark ones marked), the rest of a run."""
    metrics: list[Metric] = [
        ("end to end (s)", ("e2e_seconds",), ("e2e_seconds",), ".1f"),
        ("landed to committed (s)", (LANDED,), (LANDED,), ".1f"),
        ("rows/s", ("rows_per_second",), ("rows_per_second",), ",.0f"),
    ]
    for task_id in task_ids:
        if all(_pick(r, ("tasks", task_id, "state")) in ("skipped", None) for r in runs):
            continue
        mark = " [Spark]" if any(_pick(r, ("tasks", task_id, "spark")) for r in runs) else ""
        path = ("tasks", task_id, "seconds")
        metrics.append((f"  {task_id}{mark} (s)", path, ("tasks_seconds", task_id), ".1f"))
    names = [
        ("  Spark tasks (s)", ("spark_seconds",), ".1f"),
        ("  between tasks (s)", ("between_tasks_seconds",), ".1f"),
        ("airflow command (s)", ("airflow_command_seconds",), ".1f"),
        ("peak Spark JVMs (MB)", ("peak_mb", "spark_jvm"), ".0f"),
        ("peak Spark trees (MB)", ("peak_mb", "spark_tree"), ".0f"),
        ("peak Airflow process (MB)", ("peak_mb", "airflow_process"), ".0f"),
    ]
    return metrics + [(label, path, path, fmt) for label, path, fmt in names]


def grid(
    columns: list[tuple[str, dict[str, Any], bool]],
    metrics: list[Metric],
    runs: list[dict[str, Any]] | None = None,
) -> str:
    """One metric a line, one column per (header, run or medians, whether it is the medians); with
    ``runs``, the minimum and maximum over them last."""
    lines = [["", *(header for header, _, _ in columns), *(["min", "max"] if runs else [])]]
    for label, path, median_path, fmt in metrics:
        values = [_pick(source, median_path if is_median else path) for _, source, is_median in columns]
        if runs:
            present = [v for v in (_pick(run, path) for run in runs) if v is not None]
            values += [min(present, default=None), max(present, default=None)]
        lines.append([label, *(format(v, fmt) if v is not None else "-" for v in values)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line))
        for line in lines
    )


def floors_table(report: dict[str, Any]) -> str:
    """The repeats side by side and their medians, the floors and the ratio last."""
    repeats, median = report["repeats"], report["median"]
    metrics = run_metrics(repeats, list(median["tasks_seconds"]))
    for name in median["floors_seconds"]:
        metrics.append((f"floor {name} (s)", ("floors_seconds", name), ("floors_seconds", name), ".2f"))
    metrics += [
        ("floors sum (s)", ("floors_sum_seconds",), ("floors_sum_seconds",), ".2f"),
        ("ratio e2e / floors", ("ratio",), ("ratio",), ".1f"),
    ]
    columns = [(f"r{r['repeat']}", r, False) for r in repeats] + [("median", median, True)]
    table = grid(columns, metrics, repeats)
    if "latency" in report:
        table += "\n\n" + latency_table(report["latency"])
    return table


def latency_table(latency: dict[str, Any]) -> str:
    """The one-file runs of the floors mode (``--latency-rows``): each, the medians, min and max."""
    runs, median = latency["repeats"], latency["median"]
    metrics = run_metrics(runs, list(median["tasks_seconds"]))
    columns = [(f"{latency['rows']:,} rows r{r['repeat']}", r, False) for r in runs]
    return grid([*columns, ("median", median, True)], metrics, runs)


def history_table(report: dict[str, Any]) -> str:
    """Each repeat's empty and busy runs side by side, then the medians; the ratio under the busy ones."""
    repeats, median = report["repeats"], report["median"]
    columns: list[tuple[str, dict[str, Any], bool]] = []
    for r in repeats:
        columns += [
            (f"r{r['repeat']} empty", r["empty"], False),
            (f"r{r['repeat']} busy", {**r["busy"], "ratio": r["ratio"]}, False),
        ]
    columns += [
        ("median empty", median["empty"], True),
        ("median busy", {**median["busy"], "ratio": median["ratio"]}, True),
    ]
    task_ids = list(dict.fromkeys([*median["empty"]["tasks_seconds"], *median["busy"]["tasks_seconds"]]))
    runs = [r[case] for r in repeats for case in ("empty", "busy")]
    metrics = [*run_metrics(runs, task_ids), ("ratio busy / empty", ("ratio",), ("ratio",), ".2f")]
    return grid(columns, metrics)


# --------------------------------------------------------------------------------------------------
# The machine and the file


def machine() -> dict[str, Any]:
    import psutil

    info: dict[str, Any] = {
        "cpus": os.cpu_count(),
        "memory_mb": round(psutil.virtual_memory().total / MB),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": [round(v, 2) for v in os.getloadavg()],
    }
    conn = pymysql_connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            info["mysql"] = cursor.fetchone()[0]
    finally:
        conn.close()
    return info


def save(report: dict[str, Any], path: Path, table: str) -> None:
    """Writes the JSON and prints the table and where the JSON is."""
    path.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(table)
    print(f"\nbench: results in {path}")
