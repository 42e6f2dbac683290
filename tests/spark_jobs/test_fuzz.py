"""Seeded random mutations of good files through the run's job: the accounting always holds."""

from __future__ import annotations

import csv
import io
import random
import re
from collections import Counter
from datetime import date

from include.sample_data.generate import good_files
from salesflow.run_files import run_objects, run_uri
from salesflow.storage import s3_hook
from tests.support.e2e import query
from tests.support.runs import put_files, run_job

LONE_CR = re.compile(r"\r(?!\n)")
MUTATIONS = ("replace", "insert", "delete", "duplicate_line", "drop_line_end", "quote", "comma", "newline")
SPECIALS = ['"', ",", "\n", "\r", ";", "'", "\\", "\x00", "é", "-", ".", "9", " ", "NaN", "1e9", "\ufeff"]


def mutate(content: bytes, rng: random.Random, count: int) -> bytes:
    text = content.decode()
    for _ in range(count):
        at = rng.randrange(len(text) + 1)
        kind = rng.choice(MUTATIONS)
        if kind == "replace" and text:
            text = text[:at] + rng.choice(SPECIALS) + text[at + 1 :]
        elif kind == "insert":
            text = text[:at] + rng.choice(SPECIALS) + text[at:]
        elif kind == "delete":
            text = text[:at] + text[at + rng.randrange(1, 8) :]
        elif kind == "duplicate_line":
            lines = text.split("\n")
            line = rng.randrange(len(lines))
            lines.insert(line, lines[line])
            text = "\n".join(lines)
        elif kind == "drop_line_end":
            end = text.find("\n", at)
            text = text if end < 0 else text[:end] + text[end + 1 :]
        else:
            text = text[:at] + {"quote": '"', "comma": ",", "newline": "\n"}[kind] + text[at:]
    return text.encode("utf-8", "surrogatepass")


def records_after_header(content: bytes) -> int:
    """The CSV records below the header, counted by Python's own reader (RFC 4180 quoting, a blank
    line is no record): an expectation that does not come from the job. A record ends at LF or
    CRLF; a carriage return alone is part of a value (docs/pipeline.md "Input formats"), where
    Python's reader would end the record."""
    text = LONE_CR.sub("\x01", content.decode("utf-8", "surrogatepass"))
    rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    return max(len(rows) - 1, 0)


def test_mutated_files_keep_the_accounting(spark, environment):
    settings = environment("fuzz")
    rng = random.Random(20261128)
    originals = good_files(rows=600, files=30, seed=5, start_month=date(2024, 1, 1), months=2)
    files = {
        f"sales_data/fuzz_{n}.csv": mutate(o.content, rng, rng.randrange(1, 12))
        for n, o in enumerate(originals)
    }
    put_files(settings, files)
    result = run_job(spark, settings, "fuzz", date(2024, 6, 30))

    ledger = query(
        settings,
        "SELECT id, status, reason, rows_read, rows_loaded, rows_rejected, object_key FROM file_ledger",
    )
    facts = dict(query(settings, "SELECT file_id, COUNT(*) FROM sales GROUP BY file_id"))
    rejects = dict(
        query(settings, "SELECT ledger_id, SUM(row_count) FROM file_ledger_rejects GROUP BY ledger_id")
    )
    rejected_dir = run_uri(settings, "fuzz") + "rejected/*"
    rejected_rows = Counter(
        r.file_id
        for r in spark.read.options(header=True, multiLine=True, escape='"').csv(rejected_dir).collect()
    ) if run_objects(s3_hook(), settings, "fuzz", "rejected/") else Counter()  # fmt: skip
    assert len(ledger) == 30
    counted = {}
    for file_id, status, reason, read, loaded, rejected, key in ledger:
        if status == "QUARANTINED":  # the whole file failed its checks
            assert reason and read is None, (file_id, reason)
            continue
        assert status == "LOADED" and read == loaded + rejected, (file_id, read, loaded, rejected)
        counted[key] = (read, records_after_header(files[key]))
        assert (
            loaded == facts.get(file_id, 0) and rejected == rejects.get(file_id, 0) == rejected_rows[file_id]
        )
        assert sum(result.files[str(file_id)].rejected_by_reason.values()) == rejected
    # Every record of every file the checks passed is read: none dropped without a count.
    assert {key: read for key, (read, _) in counted.items()} == {key: n for key, (_, n) in counted.items()}
    # The mutations did something: some rows were rejected and some files or rows still passed.
    assert sum(r[5] or 0 for r in ledger) > 0
    assert sum(r[4] or 0 for r in ledger) > 0
