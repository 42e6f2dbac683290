"""Narrowing a batch the Spark job dies of (salesflow.isolation), with a stand-in for the job."""

from __future__ import annotations

from salesflow.isolation import declares_outage, job_error, named_files, narrow


class Job:
    """Dies on any part that holds one of ``fatal`` (naming it in its error when ``names``)."""

    def __init__(self, fatal: set[int], names: bool = False) -> None:
        self.fatal = fatal
        self.names = names
        self.parts: list[list[int]] = []

    def __call__(self, part: list[int]) -> str | None:
        self.parts.append(part)
        bad = sorted(self.fatal & set(part))
        if not bad:
            return None
        return (
            f"Encountered error while reading file file:///w/downloads/{bad[0]:010d}.csv"
            if self.names
            else "OOM"
        )


def test_each_file_that_fails_alone_is_found_and_every_other_part_runs():
    job = Job({3, 6})
    assert narrow(list(range(1, 9)), job) == {3: "OOM", 6: "OOM"}
    passed = {f for part in job.parts if not ({3, 6} & set(part)) for f in part}
    assert passed == {1, 2, 4, 5, 7, 8}
    # Halves, then halves again: never the whole batch (it failed already) and no file twice alone.
    assert job.parts[:2] == [[1, 2, 3, 4], [1, 2]]
    assert [p for p in job.parts if len(p) == 1] == [[3], [4], [5], [6]]


def test_a_file_the_error_names_is_tried_alone_first():
    job = Job({6}, names=True)
    culprits = narrow(list(range(1, 9)), job)
    assert set(culprits) == {6} and "0000000006.csv" in culprits[6]
    # The batch is known to fail: split at once (the error of the whole is not known here), then
    # the named file alone, then the rest of its half in one part.
    assert job.parts == [[1, 2, 3, 4], [5, 6, 7, 8], [6], [5, 7, 8]]


def test_a_batch_of_one_is_run_once():
    job = Job({5})
    assert narrow([5], job) == {5: "OOM"}
    assert job.parts == [[5]]
    assert narrow([7], Job(set())) == {}


def test_the_error_a_job_died_of_is_its_most_telling_line():
    trace = [
        "26/12/06 05:00:01 ERROR Executor: Exception in task 0.0",
        "org.apache.spark.SparkException: [FAILED_READ_FILE.NO_HINT] Encountered error while reading file",
        "Caused by: org.apache.spark.SparkException: wrapped",
        "Caused by: com.univocity.parsers.common.TextParsingException: Length of parsed input (2001) exceeds",
        "Caused by: java.lang.ArrayIndexOutOfBoundsException: Index 2000 out of bounds for length 2000",
        "salesflow-transform failed: Py4JJavaError: An error occurred",
    ]
    assert job_error(trace, "exit 1").startswith("com.univocity.parsers.common.TextParsingException: Length")
    assert job_error([*trace, "java.lang.OutOfMemoryError: Java heap space"], "x") == (
        "java.lang.OutOfMemoryError: Java heap space"
    )
    assert job_error(["salesflow-transform failed: ValueError: bad"], "x") == "ValueError: bad"
    assert job_error(["nothing telling"], "Cannot execute: spark-submit. Error code is: 137.") == (
        "Cannot execute: spark-submit. Error code is: 137."
    )


def test_a_trace_cut_by_the_start_of_the_kept_log_does_not_hide_the_first_cause():
    """The kept end of a job's log may begin inside a trace, past its first causes; the same trace
    follows whole (the traceback), and its first telling cause is the one named."""
    cut = [
        "Caused by: java.lang.ArrayIndexOutOfBoundsException: Index 2000 out of bounds",
        "at x.y(Z.java:1)",
    ]
    whole = [
        "Traceback (most recent call last):",
        'File "transform.py", line 1, in <module>',
        "pyspark.errors.exceptions.connect.SparkException: [FAILED_READ_FILE.NO_HINT] Encountered error",
        "Caused by: org.apache.spark.SparkRuntimeException: [MALFORMED_CSV_RECORD] Malformed CSV record",
        "Caused by: com.univocity.parsers.common.TextParsingException: Length of parsed input (2001) exceeds",
        "Caused by: java.lang.ArrayIndexOutOfBoundsException: Index 2000 out of bounds",
    ]
    assert job_error([*cut, *whole], "x").startswith("com.univocity.parsers.common.TextParsingException")
    assert job_error(cut, "x").startswith("java.lang.ArrayIndexOutOfBoundsException")  # nothing better


def test_files_are_named_by_their_downloaded_path_only_when_in_the_batch():
    text = "reading file file:///w/run/downloads/0000000012.csv.gz and /x/0000000099.parquet"
    assert named_files(text, [3, 12, 40]) == [12]
    assert named_files("no path here 12", [12]) == []


def test_a_job_that_lost_a_service_says_so():
    assert declares_outage(
        ["salesflow-transform failed: outage: OperationalError: (2013, 'Lost connection')"]
    )
    assert not declares_outage(["salesflow-transform failed: ValueError: outage: in a message"])
