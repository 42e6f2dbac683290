"""Finding the file that makes the run's Spark job fail, when the job dies as a whole.

The job sets aside a file whose *load* fails by splitting its batch inside the job (the load's own
bisection). A failure that kills the job itself (an out-of-memory, a crash of the driver, a parser
error reading one file) ends that process with every file of the batch, so the narrowing happens
one level up, in the task (``operators/spark.py``): the next attempt runs the batch whole once
more (a death that does not repeat leaves the batch as it was), and when it dies again, runs the job
on parts of the batch, each in a process of its own, until the file that fails alone is found. That
file is quarantined with the error it caused; every other file loads in the same run.

Here: the pure parts (the order of the parts tried, the error a job's log ends with). A failure
while a service is lost (MySQL or S3 not answering) blames no file: the task fails and Airflow
retries the whole batch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

# The error the task leaves on the run's files in flight, in ``last_error``: the next attempt
# narrows the batch when it reads one of these; an outage's files are not counted an attempt.
JOB_FAILED = "spark_job_failed:"
OUTAGE = "outage:"
# A staged file is named after its ledger id (``run_files.staged_key``).
DOWNLOADED_NAME = re.compile(r"/(\d{10})\.[A-Za-z.]+\b")
# What a dying JVM or Python driver says last, most telling first.
CAUSED_BY = re.compile(r"Caused by: (.*)")
ERROR_LINES = (
    re.compile(r"(java\.lang\.OutOfMemoryError.*)"),
    CAUSED_BY,
    re.compile(r"salesflow-\w+ failed: (.*)"),
    re.compile(r"^\S*(?:Error|Exception): (.*)"),
)
# The first line of a trace: a JVM's exception (``org.apache.spark.SparkException: ...``) or Python's.
TRACE_START = re.compile(r"^(?:Traceback \(most recent call last\)|[\w.$]+(?:Error|Exception)\b)")
ERROR_CHARS = 300
WRAPPERS = ("org.apache.spark.", "py4j.", "Py4JJavaError")


def job_error(lines: Iterable[str], fallback: str) -> str:
    """The one line that says why a job died, from the end of its log (or ``fallback``)."""
    lines = [line.strip() for line in lines if line.strip()]
    for pattern in ERROR_LINES:
        searched = whole_traces(lines) if pattern is CAUSED_BY else lines
        found = [match.group(1) for line in searched if (match := pattern.search(line))]
        # Spark's and Py4J's own exceptions wrap the one that says what went wrong.
        telling = [text for text in found if not text.startswith(WRAPPERS)]
        if found:
            return _short((telling or found)[0])
    return _short(fallback)


def whole_traces(lines: list[str]) -> list[str]:
    """The lines from the first start of a trace on: a trace that the start of the kept end of the
    log cut through has lost its first causes, and its deeper ones would be taken for them (the same
    trace is logged again, whole, with the traceback)."""
    start = next((index for index, line in enumerate(lines) if TRACE_START.match(line)), 0)
    return lines[start:]


def declares_outage(lines: Iterable[str]) -> bool:
    """The job's own last word: it failed because a service was lost (``spark_jobs.common``)."""
    return any(re.search(rf"salesflow-\w+ failed: {OUTAGE}", line) for line in lines)


def _short(text: str) -> str:
    return " ".join(text.split())[:ERROR_CHARS]


def named_files(error_text: str, batch: Iterable[int]) -> list[int]:
    """The files of ``batch`` that an error names by their downloaded path, in batch order."""
    named = {int(found) for found in DOWNLOADED_NAME.findall(error_text)}
    return [file_id for file_id in batch if file_id in named]


def halves(batch: list[int], suspects: list[int]) -> list[list[int]]:
    """The parts to try next: a file the error named on its own first, else the two halves."""
    if suspects and len(batch) > 1:
        first = suspects[:1]
        return [first, [f for f in batch if f not in first]]
    middle = len(batch) // 2
    return [batch[:middle], batch[middle:]]


def narrow(
    batch: list[int],
    run: Callable[[list[int]], str | None],
    suspects: Callable[[str, list[int]], list[int]] = named_files,
) -> dict[int, str]:
    """Runs ``batch`` in parts until every part either passes or is one file that fails alone.

    ``run(files)`` runs the job on ``files`` and returns None, or the error it died with (it raises
    itself when a service is lost). The whole batch is known to fail already: it is split first.
    Returns the files that fail alone, each with its error.
    """
    culprits: dict[int, str] = {}
    queue = halves(batch, []) if len(batch) > 1 else [batch]
    while queue:
        part = queue.pop(0)
        if not part:
            continue
        error = run(part)
        if error is None:
            continue
        if len(part) == 1:
            culprits[part[0]] = error
            continue
        queue[:0] = halves(part, suspects(error, part))
    return culprits
