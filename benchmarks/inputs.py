"""The files a benchmark uploads, generated once by ``include.sample_data.generate`` for every repeat."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from benchmarks.common import BenchError
from include.sample_data.generate import GeneratedFile, bad_case_files, good_files

START_MONTH = date(2024, 1, 1)
MONTHS = 3  # the end-to-end mode spreads its rows over this many months
HISTORY_SEED_OFFSET = 1000  # the history's seed is the file's plus this: other names, other rows
LATENCY_SEED_OFFSET = 2000  # the one-file runs of the floors mode: rows of their own


@dataclass
class Input:
    """Generated files, the same bytes for every repeat; ``good`` are those the run must load."""

    files: list[GeneratedFile]
    good: list[GeneratedFile]
    md5: dict[str, str] = field(default_factory=dict)  # file name -> hex MD5 (the ETag of one PUT)
    file_format: str = "csv"  # the good files' format (salesflow.intake.EXTENSIONS)

    def __post_init__(self) -> None:
        self.md5 = {f.name: hashlib.md5(f.content).hexdigest() for f in self.files}

    @property
    def good_rows(self) -> int:
        return sum(f.rows for f in self.good)

    @property
    def size(self) -> int:
        return sum(len(f.content) for f in self.files)

    @property
    def good_size(self) -> int:
        return sum(len(f.content) for f in self.good)

    def describe(self) -> dict[str, int]:
        return {
            "files_uploaded": len(self.files),
            "good_files": len(self.good),
            "good_rows": self.good_rows,
            "bytes_uploaded": self.size,
            "good_bytes": self.good_size,
        }


def spread(rows: int, files: int, seed: int, bad_cases: bool, fmt: str = "csv") -> Input:
    """`rows` good rows in `files` files of format `fmt` over MONTHS months, and the generator's bad
    files if asked."""
    good = good_files(rows, files, seed, START_MONTH, MONTHS, fmt)
    bad = bad_case_files(seed, START_MONTH) if bad_cases else []
    return Input(files=good + bad, good=good, file_format=fmt)


def one_month(rows: int, files: int, seed: int) -> Input:
    """`rows` good rows in `files` files, every row in START_MONTH."""
    good = good_files(rows, files, seed, START_MONTH, 1)
    return Input(files=good, good=good)


@dataclass
class HistoryInput:
    """The file the history mode times, and the history loaded before it: the same month, other rows."""

    file: Input
    history: Input

    @classmethod
    def make(cls, rows: int, files: int, history_facts: int, history_files: int, seed: int) -> HistoryInput:
        made = cls(
            one_month(rows, files, seed), one_month(history_facts, history_files, seed + HISTORY_SEED_OFFSET)
        )
        names = {f.name for f in made.file.files} & {f.name for f in made.history.files}
        shared = set(made.file.md5.values()) & set(made.history.md5.values())
        if names or shared:  # the ledger would skip them as duplicates: the file would not be new
            raise BenchError(
                f"the file and the history share {len(names)} name(s) and {len(shared)} content(s)"
            )
        return made
