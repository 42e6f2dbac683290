"""The files a benchmark uploads, generated once by ``include.sample_data.generate`` for every repeat."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date

from include.sample_data.generate import GeneratedFile, bad_case_files, good_files

START_MONTH = date(2024, 1, 1)
MONTHS = 3  # the end-to-end mode spreads its rows over this many months


@dataclass
class Input:
    """Generated files, the same bytes for every repeat; ``good`` are those the run must load."""

    files: list[GeneratedFile]
    good: list[GeneratedFile]
    md5: dict[str, str] = field(default_factory=dict)  # file name -> hex MD5 (the ETag of one PUT)

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


def spread(rows: int, files: int, seed: int, bad_cases: bool) -> Input:
    """`rows` good rows in `files` files over MONTHS months, and the generator's bad files if asked."""
    good = good_files(rows, files, seed, START_MONTH, MONTHS)
    return Input(files=good + (bad_case_files(seed, START_MONTH) if bad_cases else []), good=good)
