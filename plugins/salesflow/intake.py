"""The file-level checks, in plain Python, done while a file is downloaded (SPEC "Input").

A file fails as a whole (it is quarantined with the reason) when its extension is not a known
format, it is empty, its bytes are binary, it is not UTF-8, or its header is unusable (none, blank
or duplicate names, too many columns, a mandatory column missing). The bytes are inspected as they
arrive, in the same pass that computes the SHA-256, so no file is read twice; only the header is
parsed, from the local copy, which reads just its first record.
"""

from __future__ import annotations

import codecs
import csv
from dataclasses import dataclass, field
from pathlib import Path

MAX_COLUMNS = 1000
SNIFF_BYTES = 64 * 1024
BINARY_SIGNATURES = (b"\x1f\x8b", b"PK\x03\x04", b"%PDF", b"\x89PNG")


def normalise_column(name: str) -> str:
    """Header names match case-insensitively, surrounding spaces ignored."""
    return name.strip().lower()


class ContentInspector:
    """Fed a file's bytes chunk by chunk: are they binary, are they UTF-8?

    Spark would silently replace invalid UTF-8 with U+FFFD, changing the data, so every byte is
    decoded (fast: no parsing).
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._head = b""
        self.size = 0
        self.utf8 = True

    def update(self, chunk: bytes) -> None:
        if len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
        self.size += len(chunk)
        if self.utf8:
            try:
                self._decoder.decode(chunk)
            except UnicodeDecodeError:
                self.utf8 = False

    def finish(self) -> None:
        if self.utf8:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.utf8 = False

    @property
    def binary(self) -> bool:
        return self._head.startswith(BINARY_SIGNATURES) or b"\x00" in self._head


@dataclass(frozen=True)
class FileVerdict:
    """The file checks' answer: the reason it fails as a whole (None: it goes on), its header."""

    reason: str | None = None
    columns: list[str] = field(default_factory=list)  # normalised, in header order
    file_format: str = "csv"


def file_format(object_key: str) -> str | None:
    """The format an object's key names, or None for an extension salesflow does not read."""
    return "csv" if object_key.lower().endswith(".csv") else None


def judge(object_key: str, path: Path, content: ContentInspector, mandatory: list[str]) -> FileVerdict:
    """The verdict on one downloaded file whose bytes went through ``content``."""
    content.finish()
    fmt = file_format(object_key)
    if fmt is None:
        return FileVerdict("not_csv")
    if content.size == 0:
        return FileVerdict("empty_file")
    if content.binary:
        return FileVerdict("binary_content")
    if not content.utf8:
        return FileVerdict("bad_encoding:not_utf8")
    return check_header(read_csv_header(path), mandatory, fmt)


def read_csv_header(path: Path) -> list[str] | str:
    """The first record of a CSV file (a BOM ignored), or the reason it cannot be read."""
    with path.open(newline="", encoding="utf-8-sig") as text:
        try:
            return next(csv.reader(text))
        except StopIteration:
            return []
        except csv.Error as error:
            return f"unreadable_header:{error}"


def check_header(header: list[str] | str, mandatory: list[str], fmt: str = "csv") -> FileVerdict:
    """Blank, duplicate or too many names, or a mandatory column missing, fail the file."""
    if isinstance(header, str):
        return FileVerdict(header)
    columns = [normalise_column(name) for name in header]
    if not any(columns):
        return FileVerdict("no_header")
    if len(columns) > MAX_COLUMNS:
        return FileVerdict(f"too_many_columns:{len(columns)}")
    if "" in columns:
        return FileVerdict(f"blank_column_name:position_{columns.index('') + 1}")
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        return FileVerdict("duplicate_columns:" + ",".join(duplicated))
    missing = [c for c in mandatory if c not in columns]
    if missing:
        return FileVerdict("missing_columns:" + ",".join(missing))
    return FileVerdict(None, columns, fmt)
