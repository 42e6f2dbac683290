"""Seeded random mutations of good files through the validation job: the accounting always holds."""

from __future__ import annotations

import random
from collections import Counter
from datetime import date

from include.sample_data.generate import good_files
from spark_jobs.validate import run
from tests.spark_jobs.specs import validation_spec

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


def test_mutated_files_keep_the_accounting(spark, tmp_path, mysql_database, settings):
    rng = random.Random(20261128)
    originals = good_files(rows=600, files=30, seed=5, start_month=date(2024, 1, 1), months=2)
    files = []
    for index, original in enumerate(originals, start=1):
        path = tmp_path / f"{index:010d}.csv"
        path.write_bytes(mutate(original.content, rng, rng.randrange(1, 12)))
        files.append(
            {"file_id": index, "object_key": f"sales_data/fuzz_{index}.csv", "local_path": str(path)}
        )
    spec = validation_spec(settings, tmp_path / "out", "fuzz", files)
    manifest = run(spark, spec)

    valid_rows = Counter(r.file_id for r in spark.read.parquet(str(tmp_path / "out" / "valid")).collect())
    rejected = tmp_path / "out" / "rejected"
    rejected_rows = Counter(
        r.file_id
        for r in spark.read.options(header=True, multiLine=True, escape='"').csv(str(rejected)).collect()
    ) if rejected.exists() else Counter()  # fmt: skip
    assert len(manifest["files"]) == 30
    for entry in manifest["files"]:
        if entry["status"] == "invalid":
            assert entry["reason"] and entry["rows_read"] == 0
            continue
        assert entry["rows_read"] == entry["rows_valid"] + entry["rows_rejected"], entry
        assert entry["rows_valid"] == valid_rows[entry["file_id"]], entry
        assert entry["rows_rejected"] == rejected_rows[entry["file_id"]], entry
        assert sum(entry["rejected_by_reason"].values()) == entry["rows_rejected"]
    # The mutations did something: some rows were rejected and some files or rows still passed.
    assert sum(e["rows_rejected"] for e in manifest["files"]) > 0
    assert sum(e["rows_valid"] for e in manifest["files"]) > 0
