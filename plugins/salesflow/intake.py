"""The file-level checks, in plain Python, done while a file is downloaded (SPEC "Input").

A file fails as a whole (it is quarantined with the reason) when its extension is not a known
format, it is empty, its content is not what its extension says (not gzip, a gzip stream cut
short, not Parquet, a Parquet footer or page that does not read, a first JSON line that is not an
object), its text is binary or not UTF-8, or its header is unusable (none, blank or duplicate
names, too many columns, a mandatory column missing). The bytes are inspected as they arrive, in
the same pass that computes the SHA-256 (a ``.csv.gz`` is inflated on the way and its text checked
as a ``.csv`` would be), against ``Limits`` on size and shape, in bounded memory: a file over one
fails with a reason naming the limit and the value found (``line_too_long:314572800>16777216``),
before anything reads it whole. From the local copy, only the header is parsed (a CSV's first record, the
first JSON line), except for Parquet: its footer is the header, and its pages are decoded once,
since a page Spark cannot decode would fail the whole run's job.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import json
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from salesflow.limits import RATIO_FLOOR_BYTES, Limits, LineMeter, over_limit

MAX_COLUMNS = 1000
SNIFF_BYTES = 64 * 1024
BINARY_SIGNATURES = (b"\x1f\x8b", b"PK\x03\x04", b"%PDF", b"\x89PNG")
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_MAGIC = b"PAR1"
# A Parquet file ends with its footer's length (4 bytes, little-endian) and the magic.
PARQUET_TAIL_BYTES = 8
# Inflate in slices of this many bytes: a small gzip may expand to gigabytes.
INFLATE_SLICE = 1024 * 1024
# JSON's own whitespace: a line of nothing else is blank (Spark's reader uses the same set).
JSON_WHITESPACE = " \t\r\n"
MESSAGE_CHARS = 200
PARQUET_BATCH_ROWS = 65536

# Extension (lower case) -> format, longest first: ".csv.gz" is not a ".csv".
FORMATS = {".csv.gz": "csv.gz", ".csv": "csv", ".parquet": "parquet", ".jsonl": "jsonl"}
EXTENSIONS = {fmt: extension for extension, fmt in FORMATS.items()}


def normalise_column(name: str) -> str:
    """Header names match case-insensitively, surrounding spaces ignored."""
    return name.strip().lower()


def file_format(object_key: str) -> str | None:
    """The format an object's key names, or None for an extension salesflow does not read."""
    key = object_key.lower()
    return next((fmt for extension, fmt in FORMATS.items() if key.endswith(extension)), None)


def one_line(error: BaseException) -> str:
    """An error message fit for a reason code: one line of printable characters, bounded.

    pyarrow may quote a byte of the broken file (``don't know what type: \\x0f``).
    """
    printable = "".join(c if c.isprintable() else " " for c in str(error))
    return " ".join(printable.split())[:MESSAGE_CHARS] or type(error).__name__


class ContentInspector:
    """Fed a file's bytes chunk by chunk: is its container sound, is its text binary, is it UTF-8?

    ``fmt`` is the format the key names. For ``csv.gz`` the bytes are inflated as they come (every
    gzip member, as ``gzip -d`` and Spark read them) and the text checks run on the inflated bytes;
    for ``parquet`` only the magic at both ends is kept (its footer is read from the local copy).
    Spark would silently replace invalid UTF-8 with U+FFFD, changing the data, so every byte of
    text is decoded (fast: no parsing).
    """

    def __init__(self, fmt: str | None = "csv", limits: Limits | None = None) -> None:
        self.fmt = fmt
        self.limits = limits or Limits()
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._head = b""  # of the text
        self._start = b""  # the file's first bytes, as stored
        self._end = b""  # the file's last bytes, as stored (a Parquet footer's length and magic)
        self._inflater: Any = None  # the gzip member being inflated, if any
        self.lines = LineMeter(self.limits, fmt)
        self.size = 0
        self.text_size = 0
        self.utf8 = True
        self.gzip_error: str | None = None
        self.inflate_problem: str | None = None  # a limit the inflated text passed: inflating stops

    def update(self, chunk: bytes) -> None:
        if len(self._start) < len(PARQUET_MAGIC):
            self._start += chunk[: len(PARQUET_MAGIC) - len(self._start)]
        self._end = (self._end + chunk[-PARQUET_TAIL_BYTES:])[-PARQUET_TAIL_BYTES:]
        self.size += len(chunk)
        if self.fmt == "csv.gz":
            self._inflate(chunk)
        elif self.fmt != "parquet":
            self._text(chunk)

    def _inflate(self, data: bytes) -> None:
        """Inflate ``data``, member after member, into the text checks (until the stream is bad or
        passes a limit: a 2 MB file may inflate to gigabytes)."""
        while self.gzip_error is None and self.inflate_problem is None:
            if self._inflater is None:
                if not data:
                    return
                self._inflater = zlib.decompressobj(wbits=31)  # 31: gzip header and trailer
            try:
                inflated = self._inflater.decompress(data, INFLATE_SLICE)
            except zlib.error as error:
                self.gzip_error = f"bad_gzip:{one_line(error)}"
                return
            self._text(inflated)
            self.inflate_problem = self._inflated_too_much()
            if self._inflater.eof:  # a member ended: what follows is the next one
                data = self._inflater.unused_data
                self._inflater = None
                continue
            data = self._inflater.unconsumed_tail
            if not data and len(inflated) < INFLATE_SLICE:  # a full slice may leave output pending
                return

    def _inflated_too_much(self) -> str | None:
        limits = self.limits
        if self.text_size > limits.max_decompressed_bytes:
            return over_limit("decompressed_too_large", self.text_size, limits.max_decompressed_bytes)
        ratio = self.text_size // max(self.size, 1)
        if self.text_size > RATIO_FLOOR_BYTES and ratio > limits.max_compression_ratio:
            return over_limit("compression_ratio_too_high", ratio, limits.max_compression_ratio)
        return None

    def _text(self, chunk: bytes) -> None:
        self.lines.feed(chunk)
        if len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
        self.text_size += len(chunk)
        if self.utf8:
            try:
                self._decoder.decode(chunk)
            except UnicodeDecodeError:
                self.utf8 = False

    def finish(self) -> None:
        self.lines.finish()
        if self.utf8:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.utf8 = False

    @property
    def binary(self) -> bool:
        return self._head.startswith(BINARY_SIGNATURES) or b"\x00" in self._head

    def limit_problem(self) -> str | None:
        """The first limit the bytes passed (size, ratio, line length, JSON depth), or None."""
        if self.size > self.limits.max_file_bytes:
            return over_limit("file_too_large", self.size, self.limits.max_file_bytes)
        return self.inflate_problem or self.lines.problem()

    @property
    def parquet_footer_bytes(self) -> int:
        """The footer length a Parquet file's last 8 bytes state (before anything reads it)."""
        return int.from_bytes(self._end[: -len(PARQUET_MAGIC)], "little")

    def container_problem(self) -> str | None:
        """Why the bytes are not the container the extension names (gzip, Parquet), or None."""
        if self.fmt == "csv.gz":
            if not self._start.startswith(GZIP_MAGIC):
                return "not_gzip"
            if self.gzip_error:
                return self.gzip_error
            if self._inflater is not None:  # the last member never reached its end
                return "truncated_gzip"
        if self.fmt == "parquet":
            magic_at_both_ends = self._start == PARQUET_MAGIC == self._end[-len(PARQUET_MAGIC) :]
            if self.size < 2 * len(PARQUET_MAGIC) or not magic_at_both_ends:
                return "not_parquet"
        return None


@dataclass(frozen=True)
class FileVerdict:
    """The file checks' answer: the reason it fails as a whole (None: it goes on), its header."""

    reason: str | None = None
    columns: list[str] = field(default_factory=list)  # normalised, in header order
    file_format: str = "csv"
    column_types: list[str] = field(default_factory=list)  # Parquet: each column's type


def judge(object_key: str, path: Path, content: ContentInspector, mandatory: list[str]) -> FileVerdict:
    """The verdict on one downloaded file whose bytes went through ``content``."""
    content.finish()
    fmt = file_format(object_key)
    if fmt is None:
        return FileVerdict("not_csv")
    if content.fmt != fmt:
        raise ValueError(f"{object_key}: its bytes were inspected as {content.fmt}, not {fmt}")
    if content.size == 0:
        return FileVerdict("empty_file")
    problem = content.limit_problem() or content.container_problem()
    if problem:
        return FileVerdict(problem)
    if fmt == "parquet":
        # A length past the file's own size is no footer at all: pyarrow names that one.
        footer_fits = content.parquet_footer_bytes <= content.size - len(PARQUET_MAGIC) - PARQUET_TAIL_BYTES
        if footer_fits and content.parquet_footer_bytes > content.limits.max_parquet_footer_bytes:
            limit = content.limits.max_parquet_footer_bytes
            return FileVerdict(over_limit("parquet_footer_too_large", content.parquet_footer_bytes, limit))
        return check_parquet(path, mandatory, content.limits)
    text_problem = _text_problem(content)
    if text_problem:
        return FileVerdict(text_problem)
    if fmt == "jsonl":
        return check_json_lines(path)
    return check_header(read_csv_header(path, fmt), mandatory, fmt)


def _text_problem(content: ContentInspector) -> str | None:
    if content.text_size == 0:  # a gzip of nothing
        return "empty_file"
    if content.binary:
        return "binary_content"
    if not content.utf8:
        return "bad_encoding:not_utf8"
    return None


@contextmanager
def open_text(path: Path, fmt: str) -> Iterator[IO[str]]:
    """A text file's content (a ``.csv.gz`` inflated), its BOM ignored, newlines as written."""
    if fmt == "csv.gz":
        with gzip.open(path, "rt", encoding="utf-8-sig", newline="") as text:
            yield text
    else:
        with path.open(encoding="utf-8-sig", newline="") as text:
            yield text


def read_csv_header(path: Path, fmt: str = "csv") -> list[str] | str:
    """The first record of a CSV file (a BOM ignored), or the reason it cannot be read."""
    with open_text(path, fmt) as text:
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


# ------------------------------------------------------------------------------------- Parquet
def check_parquet(path: Path, mandatory: list[str], limits: Limits | None = None) -> FileVerdict:
    """The footer's schema as a header: names checked as a CSV header's, types Spark can read; the
    row groups within the limit; then every page decoded once, its text cells measured.

    A CSV row that does not parse is a rejected row, but a Parquet page that does not decode would
    fail the run's whole Spark job (all its files): such a file is quarantined here instead. The
    decoding streams a batch at a time (about 0.1 s for 250,000 rows), and a row group is decoded
    only once its size is known to be within the limit.
    """
    import pyarrow.parquet as pq

    limits = limits or Limits()
    try:
        parquet_file = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises ArrowInvalid, OSError, ... for a broken footer
        return FileVerdict(f"bad_parquet_footer:{one_line(error)}")
    schema = parquet_file.schema_arrow
    verdict = check_header(list(schema.names), mandatory, "parquet")
    if verdict.reason:
        return verdict
    for name, arrow_field in zip(verdict.columns, schema, strict=True):
        if not spark_reads(arrow_field.type):
            return FileVerdict(f"unsupported_parquet_type:{name}:{arrow_field.type}")
    metadata = parquet_file.metadata
    largest_group = max(
        (metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups)), default=0
    )
    if largest_group > limits.max_parquet_row_group_bytes:
        return FileVerdict(
            over_limit("parquet_row_group_too_large", largest_group, limits.max_parquet_row_group_bytes)
        )
    try:
        largest_cell = max(
            map(_largest_text_cell, parquet_file.iter_batches(batch_size=PARQUET_BATCH_ROWS)), default=0
        )
    except Exception as error:
        return FileVerdict(f"bad_parquet_data:{one_line(error)}")
    if largest_cell > limits.max_cell_bytes:
        return FileVerdict(over_limit("cell_too_large", largest_cell, limits.max_cell_bytes))
    return FileVerdict(None, verdict.columns, "parquet", [str(f.type) for f in schema])


def _largest_text_cell(batch: Any) -> int:
    """The longest string or binary value of a record batch, in bytes (0 without such columns)."""
    import pyarrow.compute as pc
    import pyarrow.types as types

    lengths = [
        pc.max(pc.binary_length(column)).as_py() or 0
        for column in batch.columns
        if types.is_string(column.type) or types.is_binary(column.type)
        or types.is_large_string(column.type) or types.is_large_binary(column.type)
    ]  # fmt: skip
    return max(lengths, default=0)


def spark_reads(arrow_type: Any) -> bool:
    """Whether Spark reads a Parquet column of this type (else the whole job would fail on it).

    Measured on Spark 4.3: nanosecond timestamps, times of day, 16-bit floats and decimals of more
    than 38 digits are refused when the schema is read.
    """
    import pyarrow.types as types

    if types.is_timestamp(arrow_type) and arrow_type.unit == "ns":
        return False
    if types.is_time(arrow_type) or types.is_float16(arrow_type):
        return False
    if types.is_decimal(arrow_type) and arrow_type.precision > 38:
        return False
    children = [arrow_type.field(i).type for i in range(arrow_type.num_fields)]
    return all(spark_reads(child) for child in children)


# ----------------------------------------------------------------------------------- JSON Lines
def check_json_lines(path: Path) -> FileVerdict:
    """The first non-blank line must be a JSON object (later lines are judged row by row)."""
    with path.open(encoding="utf-8-sig") as text:  # universal newlines: \n, \r\n and \r, as Spark
        first = next((line for line in text if line.strip(JSON_WHITESPACE)), None)
    if first is None or not isinstance(_json_value(first), dict):
        return FileVerdict("not_json_lines")
    return FileVerdict(None, [], "jsonl")


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _json_value(line: str) -> object:
    """The JSON value of one line, or None when it is not strict JSON (NaN and Infinity are not)."""
    try:
        return json.loads(line, parse_constant=_reject_constant)
    except (ValueError, RecursionError):  # nesting past Python's stack (the depth limit comes first)
        return None
