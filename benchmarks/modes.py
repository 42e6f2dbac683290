"""The benchmark's repeats and its report.

- ``floors``: the files into a fresh sandbox, the DAG run over them, then the machine's floors on
  the same bytes; the ratio is the run's end-to-end time over the floors' sum.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from benchmarks import floors, summary
from benchmarks.airflow_run import DAG_ID, measure_run
from benchmarks.common import MB, BenchError
from benchmarks.inputs import MONTHS, START_MONTH, Input, spread
from benchmarks.services import Sitting, sandbox


def _repeats(count: int, one: Callable[[int], dict[str, Any]]) -> list[dict[str, Any]]:
    results = []
    for index in range(1, count + 1):
        try:
            results.append(one(index))
        except BenchError as error:
            raise BenchError(f"repeat {index}: {error}") from None
    return results


def _parameters(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names}


def _generated(what: str, make: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    data = make()
    seconds = time.perf_counter() - started
    print(f"bench: {what}, generated in {seconds:.1f} s", flush=True)
    return data, seconds


# --------------------------------------------------------------------------------------------------
# End to end against the floors


def floors_repeat(index: int, data: Input, sitting: Sitting) -> dict[str, Any]:
    """A fresh sandbox, the files uploaded, the DAG run over them, the floors on the same bytes."""
    with sandbox(sitting, f"r{index}") as box:
        upload_seconds = box.upload(data.files)
        run = measure_run(sitting, box, data.good, "run")
        measured = floors.measure_floors(box, data)
        where = {"database": box.settings.database, "bucket": box.settings.bucket}
    return {
        "repeat": index,
        **where,
        **run,
        "upload_seconds": round(upload_seconds, 3),
        **measured,
        "ratio": round(run["e2e_seconds"] / measured["floors_sum_seconds"], 2),
    }


def run_floors(args: argparse.Namespace, sitting: Sitting, info: dict[str, Any]) -> dict[str, Any]:
    data, generate_seconds = _generated(
        f"{args.rows:,} good rows in {args.files:,} files{' + bad cases' if args.bad_cases else ''}",
        lambda: spread(args.rows, args.files, args.seed, args.bad_cases),
    )
    print(f"bench: {data.size / MB:.1f} MB uploaded per repeat; {args.repeat} repeat(s)", flush=True)
    repeats = _repeats(args.repeat, lambda index: floors_repeat(index, data, sitting))
    return {
        "benchmark": f"{DAG_ID} end to end against the floors",
        "parameters": {
            **_parameters(args, "rows", "files", "repeat", "seed", "bad_cases"),
            "start_month": f"{START_MONTH:%Y-%m}",
            "months": MONTHS,
        },
        "input": {**data.describe(), "generate_seconds": round(generate_seconds, 3)},
        "machine": info,
        "method": {
            **summary.RUN_METHOD,
            **floors.METHOD,
            "ratio": "e2e_seconds / floors_sum_seconds, per repeat; median of the ratios",
        },
        "repeats": repeats,
        "median": summary.floors_medians(repeats),
    }
