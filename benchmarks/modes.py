"""The two benchmarks: one repeat of each, and the report of all of them.

- ``floors`` (the default): the files into a fresh sandbox, the DAG run over them, then the
  machine's floors on the same bytes; the ratio is the run's end-to-end time over the floors' sum.
  Then (``--latency-rows``) the most common daily case as many times: one file of that many rows
  into a fresh sandbox, its end to end and landed to committed.
- ``history`` (issue #10): the same one-month file run twice, each time in a fresh sandbox: (a) on
  an empty database; (b) after a first, untimed DAG run has loaded the history, the month's other
  facts, through the pipeline itself. The ratio is (b) over (a), medians over the repeats.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from benchmarks import floors, summary
from benchmarks.airflow_run import DAG_ID, measure_run
from benchmarks.common import MB, BenchError
from benchmarks.inputs import (
    HISTORY_SEED_OFFSET,
    LATENCY_SEED_OFFSET,
    MONTHS,
    START_MONTH,
    HistoryInput,
    Input,
    one_month,
    spread,
)
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
    ratio = round(run["e2e_seconds"] / measured["floors_sum_seconds"], 2)
    return {
        "repeat": index,
        **where,
        **run,
        "upload_seconds": round(upload_seconds, 3),
        **measured,
        # Against the floors of plain CSV only (another format has no parse and load floor).
        "ratio": ratio if data.file_format == "csv" else None,
    }


def warm_up(sitting: Sitting) -> None:
    """One untimed run of a small file: the Spark Connect server's first job loads and compiles its
    classes (tens of seconds), which no later run of a long-lived server pays."""
    if sitting.spark_server_pid is None:
        return
    data = one_month(1_000, 1, seed=7)
    with sandbox(sitting, "warm-up") as box:
        box.upload(data.files)
        run = measure_run(sitting, box, data.good, "warm-up")
    print(f"bench: the server's first run (not counted): {run['e2e_seconds']:.1f} s end to end", flush=True)


def latency_repeat(index: int, data: Input, sitting: Sitting) -> dict[str, Any]:
    """One file into a fresh sandbox, run at once: end to end and landed to committed."""
    with sandbox(sitting, f"l{index}") as box:
        box.upload(data.files)
        run = measure_run(sitting, box, data.good, "latency")
        database = box.settings.database
    print(
        f"bench: {data.good_rows:,} rows, repeat {index}: {run['e2e_seconds']:.1f} s end to end, "
        f"{run['landed_to_committed_seconds']:.1f} s landed to committed",
        flush=True,
    )
    return {"repeat": index, "database": database, **run}


def run_latency(args: argparse.Namespace, sitting: Sitting) -> dict[str, Any]:
    data = one_month(args.latency_rows, 1, args.seed + LATENCY_SEED_OFFSET)
    repeats = _repeats(args.repeat, lambda index: latency_repeat(index, data, sitting))
    return {"rows": args.latency_rows, "repeats": repeats, "median": summary.run_medians(repeats)}


def run_floors(args: argparse.Namespace, sitting: Sitting, info: dict[str, Any]) -> dict[str, Any]:
    data, generate_seconds = _generated(
        f"{args.rows:,} good rows in {args.files:,} {args.format} files"
        + (" + bad cases" if args.bad_cases else ""),
        lambda: spread(args.rows, args.files, args.seed, args.bad_cases, args.format),
    )
    print(f"bench: {data.size / MB:.1f} MB uploaded per repeat; {args.repeat} repeat(s)", flush=True)
    repeats = _repeats(args.repeat, lambda index: floors_repeat(index, data, sitting))
    latency = run_latency(args, sitting) if args.latency_rows else None
    return {
        "benchmark": f"{DAG_ID} end to end against the floors",
        "parameters": {
            **_parameters(
                args, "rows", "files", "repeat", "seed", "bad_cases", "format", "spark", "latency_rows"
            ),
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
        **({"latency": latency} if latency else {}),
    }


# --------------------------------------------------------------------------------------------------
# A file into an empty month and into a month with history


def history_case(sitting: Sitting, tag: str, data: HistoryInput, with_history: bool) -> dict[str, Any]:
    """A fresh sandbox; with history, a first DAG run loads it (not compared); then the file's run."""
    with sandbox(sitting, tag) as box:
        history = None
        if with_history:
            box.upload(data.history.files)
            history = measure_run(sitting, box, data.history.good, "history")
        box.upload(data.file.files)
        run = measure_run(sitting, box, data.file.good, "file")
        database = box.settings.database
    case = {"database": database, **run}
    if history is not None:
        case["history_run"] = {
            "facts_in_month_before": history["ledger"]["rows_loaded_all_files"],
            "files": history["ledger"]["good_files_loaded"],
            "e2e_seconds": history["e2e_seconds"],
            "run_id": history["run_id"],
            "dag_log": history["dag_log"],
        }
    return case


def history_repeat(index: int, data: HistoryInput, sitting: Sitting) -> dict[str, Any]:
    empty = history_case(sitting, f"r{index}-empty", data, with_history=False)
    busy = history_case(sitting, f"r{index}-busy", data, with_history=True)
    ratio = round(busy["e2e_seconds"] / empty["e2e_seconds"], 2)
    print(
        f"bench: repeat {index}: {empty['e2e_seconds']:.1f} s empty, {busy['e2e_seconds']:.1f} s busy",
        flush=True,
    )
    return {"repeat": index, "empty": empty, "busy": busy, "ratio": ratio}


def run_history(args: argparse.Namespace, sitting: Sitting, info: dict[str, Any]) -> dict[str, Any]:
    data, generate_seconds = _generated(
        f"{args.rows:,} rows in {args.files:,} file(s) and a history of {args.history_facts:,} facts "
        f"in {args.history_files:,} files, all in {START_MONTH:%Y-%m}",
        lambda: HistoryInput.make(args.rows, args.files, args.history_facts, args.history_files, args.seed),
    )
    repeats = _repeats(args.repeat, lambda index: history_repeat(index, data, sitting))
    return {
        "benchmark": f"{DAG_ID}: one file into an empty month and into a month with history",
        "parameters": {
            **_parameters(args, "rows", "files", "history_facts", "history_files", "repeat", "seed", "spark"),
            "history_seed": args.seed + HISTORY_SEED_OFFSET,
            "month": f"{START_MONTH:%Y-%m}",
        },
        "input": {
            "file": data.file.describe(),
            "history": data.history.describe(),
            "generate_seconds": round(generate_seconds, 3),
        },
        "machine": info,
        "method": {
            **summary.RUN_METHOD,
            "empty": "the file's run on a fresh database",
            "busy": "the file's run on a fresh database after a DAG run loaded the history (not compared)",
            "ratio": "median busy e2e_seconds / median empty e2e_seconds (each repeat's: repeats[].ratio)",
        },
        "repeats": repeats,
        "median": summary.history_medians(repeats),
    }
