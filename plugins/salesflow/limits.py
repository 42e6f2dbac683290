"""The limits on a file's size and shape (SPEC "Input formats", issue 21), and the meter that checks
a text file's lines against them as its bytes stream through the download pass.

Bounded memory whatever the file: only the current line is carried from one chunk to the next (and
not past the line limit); the lines of a chunk are measured together, and only a line that could
pass a limit is looked into alone.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from itertools import accumulate

from pydantic import ConfigDict, PositiveInt
from pydantic.dataclasses import dataclass

# The ratio of inflated to stored bytes is judged once this much is inflated (a small file of
# repeated values compresses far better than a large one, and may).
RATIO_FLOOR_BYTES = 16 * 1024 * 1024
# A JSON string, escapes included: its brackets are not nesting.
JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
BRACKET_DEPTH = {ord("{"): 1, ord("["): 1, ord("}"): -1, ord("]"): -1}
NOT_BRACKETS = bytes(b for b in range(256) if b not in BRACKET_DEPTH)
NEWLINE, OPEN_BRACE, OPEN_BRACKET = ord("\n"), ord("{"), ord("[")


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class Limits:
    """How large and how deep a file may be (section ``limits``; defaults in include/config).

    Each is checked while the file streams through the download pass, in bounded memory, before
    Spark reads it; the CSV cell limit is also the Spark reader's ``maxCharsPerColumn``.
    """

    max_line_bytes: PositiveInt = 16 * 1024 * 1024
    max_decompressed_bytes: PositiveInt = 4 * 1024 * 1024 * 1024
    max_compression_ratio: PositiveInt = 100
    max_json_depth: PositiveInt = 64
    max_cell_bytes: PositiveInt = 16 * 1024 * 1024
    max_parquet_row_group_bytes: PositiveInt = 512 * 1024 * 1024
    max_parquet_footer_bytes: PositiveInt = 16 * 1024 * 1024
    # S3's largest single CopyObject: a larger file could not be staged for Spark in one copy.
    max_file_bytes: PositiveInt = 5 * 1024 * 1024 * 1024


def over_limit(name: str, found: int, limit: int) -> str:
    """A reason naming the limit and the value found: ``line_too_long:314572800>16777216``."""
    return f"{name}:{found}>{limit}"


class LineMeter:
    """The longest line of a byte stream fed in chunks, its largest value, and (for JSON Lines)
    its deepest nesting.

    Lines end at ``\\n``. Memory stays bounded: only the current line's bytes are carried from one
    chunk to the next, and not past ``max_line_bytes``. The lines of a chunk are measured together
    (numpy, no Python per line); only a line that could pass a limit is looked into alone: one
    longer than ``max_cell_bytes`` is parsed for its largest value (a CSV record; the strings of a
    JSON line), one with more open brackets than ``max_json_depth`` is scanned for its depth (the
    brackets outside strings).
    """

    def __init__(self, limits: Limits, fmt: str | None) -> None:
        self.limits = limits
        self.json = fmt == "jsonl"
        self.longest = 0
        self.largest_cell = 0
        self.deepest = 0
        self._partial: list[bytes] = []  # the current line so far (while under the line limit)
        self._partial_size = 0

    def feed(self, chunk: bytes) -> None:
        import numpy as np

        data = np.frombuffer(chunk, np.uint8)
        ends = np.flatnonzero(data == NEWLINE)
        if ends.size == 0:
            self._carry(chunk)
            return
        self._carry(chunk[: ends[0]])
        self._line_ended()
        if ends.size > 1:
            lengths = np.diff(ends) - 1  # of the lines between the chunk's first and last newline
            self.longest = max(self.longest, int(lengths.max()))
            suspect = lengths > self.limits.max_cell_bytes
            if self.json:  # open brackets per line: each bracket counted to the line it is on
                opens = np.flatnonzero((data == OPEN_BRACE) | (data == OPEN_BRACKET))
                per_line = np.bincount(np.searchsorted(ends, opens), minlength=ends.size + 1)
                suspect |= per_line[1 : ends.size] > self.limits.max_json_depth
            for index in np.flatnonzero(suspect):
                self._measure(chunk[ends[index] + 1 : ends[index + 1]])
        self._carry(chunk[ends[-1] + 1 :])

    def finish(self) -> None:
        self._line_ended()

    def _carry(self, part: bytes) -> None:
        if self._partial_size <= self.limits.max_line_bytes:
            self._partial.append(part)
        self._partial_size += len(part)

    def _line_ended(self) -> None:
        if self._partial_size > self.limits.max_line_bytes:
            self.longest = max(self.longest, self._partial_size)
        elif self._partial:
            self._measure(b"".join(self._partial))
        self._partial, self._partial_size = [], 0

    def _measure(self, line: bytes) -> None:
        self.longest = max(self.longest, len(line))
        if self.json and line.count(b"{") + line.count(b"[") > self.limits.max_json_depth:
            brackets = JSON_STRING.sub(b"", line).translate(None, delete=NOT_BRACKETS)
            self.deepest = max(self.deepest, max(accumulate(BRACKET_DEPTH[b] for b in brackets), default=0))
        if len(line) > self.limits.max_cell_bytes and self.deepest <= self.limits.max_json_depth:
            self.largest_cell = max(self.largest_cell, _largest_value(line, self.json))

    def problem(self) -> str | None:
        limits = self.limits
        if self.longest > limits.max_line_bytes:
            return over_limit("line_too_long", self.longest, limits.max_line_bytes)
        if self.deepest > limits.max_json_depth:
            return over_limit("json_too_deep", self.deepest, limits.max_json_depth)
        if self.largest_cell > limits.max_cell_bytes:
            return over_limit("cell_too_large", self.largest_cell, limits.max_cell_bytes)
        return None


def _largest_value(line: bytes, json_line: bool) -> int:
    """The largest value of one line, in bytes: a CSV record's fields (a line that is only part of
    a record, inside quotes, counts whole), or a JSON line's strings (a line that is no JSON counts
    whole: it is rejected as malformed, and Spark's reader is bounded too)."""
    text = line.decode("utf-8", "replace")
    if json_line:
        try:
            values = list(_json_strings(json.loads(text)))
        except (ValueError, RecursionError):
            return len(line)
        return max((len(value.encode()) for value in values), default=0)
    try:
        fields = next(csv.reader([text]), [])
    except csv.Error:
        return len(line)
    return max((len(field.encode()) for field in fields), default=0)


def _json_strings(value: object) -> Iterator[str]:
    """Every string of a JSON value, keys included (the depth is checked before, so it is small)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _json_strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _json_strings(item)
