"""Issue 21: the limits on size and shape, checked while a file streams through the download pass.

Small limits show each reason with its exact value; then the issue's hostile files at the default
limits, each checked in a process of its own whose peak memory is read back (a bound on bytes,
not a time).
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from include.sample_data.generate import HEADER
from salesflow.intake import ContentInspector, FileVerdict, file_format, judge
from salesflow.limits import Limits
from salesflow.paths import PROJECT_ROOT

MANDATORY = list(HEADER)
HEADER_LINE = ",".join(MANDATORY)
GOOD_ROW = "1,121,sugar,2024-01-02,2,50.00,3,150.00"
MB = 1024 * 1024
# The checking process may use this much at most, whatever the file (the bound).
PEAK_BYTES = 1024 * MB


def verdict(tmp_path: Path, key: str, data: bytes, limits: Limits, chunk: int) -> FileVerdict:
    """The verdict on ``data`` fed in chunks of ``chunk`` bytes, as a download feeds it."""
    path = tmp_path / "f.download"
    path.write_bytes(data)
    inspector = ContentInspector(file_format(key), limits)
    for start in range(0, len(data), chunk):
        inspector.update(data[start : start + chunk])
    return judge(key, path, inspector, MANDATORY)


def csv_bytes(*rows: str) -> bytes:
    return ("\n".join([HEADER_LINE, *rows]) + "\n").encode()


def json_line(**values: object) -> str:
    row = dict(zip(MANDATORY, GOOD_ROW.split(","), strict=True))
    return json.dumps({**row, **values})


def parquet_bytes(table: pa.Table, **options: object) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, **options)
    return sink.getvalue()


def sales_table(rows: int, product: str = "sugar") -> pa.Table:
    return pa.table(
        {
            "customer_id": pa.array([1] * rows, pa.int32()),
            "store_id": pa.array([121] * rows, pa.int32()),
            "product_name": pa.array([product] * rows),
            "sales_date": pa.array(["2024-01-02"] * rows),
            "sales_person_id": pa.array([2] * rows, pa.int32()),
            "price": pa.array(["50.00"] * rows),
            "quantity": pa.array([3] * rows, pa.int32()),
            "total_cost": pa.array(["150.00"] * rows),
        }
    )


# Every chunk size a download may use: a few bytes (lines cut everywhere), and all at once.
CHUNKS = [7, 1 << 30]


@pytest.mark.parametrize("chunk", CHUNKS)
def test_a_line_over_the_limit_is_named_with_its_length(tmp_path, chunk):
    long_row = "1,121," + "x" * 1000 + ",2024-01-02,2,50.00,3,150.00"
    data = csv_bytes(GOOD_ROW, long_row, GOOD_ROW)
    result = verdict(tmp_path, "sales_data/a.csv", data, Limits(max_line_bytes=500), chunk)
    assert result.reason == f"line_too_long:{len(long_row)}>500"
    # At the limit exactly it passes, and so does the last line without its newline.
    assert (
        verdict(tmp_path, "sales_data/a.csv", data, Limits(max_line_bytes=len(long_row)), chunk).reason
        is None
    )
    assert (
        verdict(tmp_path, "sales_data/a.csv", data[:-1], Limits(max_line_bytes=len(long_row)), chunk).reason
        is None
    )


@pytest.mark.parametrize("chunk", CHUNKS)
def test_a_value_over_the_cell_limit_is_named_with_its_size(tmp_path, chunk):
    """CSV: a line longer than the cell limit is parsed for its fields (quotes and all); JSON
    Lines: for its strings. A long line of short values passes."""
    limits = Limits(max_cell_bytes=100)
    big = '"' + "x" * 150 + ', still ""the same"" value"'  # 174 bytes once unquoted
    assert verdict(
        tmp_path, "sales_data/a.csv", csv_bytes(f"1,121,{big},2024-01-02,2,1.00,1,1.00"), limits, chunk
    ).reason == ("cell_too_large:174>100")
    many_short = ",".join(["1,121,sugar,2024-01-02,2,50.00,3,150.00"] + [f"v{i}" for i in range(40)])
    assert verdict(tmp_path, "sales_data/a.csv", csv_bytes(many_short), limits, chunk).reason is None
    line = json_line(note="é" * 60)  # 120 bytes of UTF-8
    assert (
        verdict(tmp_path, "sales_data/a.jsonl", (line + "\n").encode(), limits, chunk).reason
        == "cell_too_large:120>100"
    )


@pytest.mark.parametrize("chunk", CHUNKS)
def test_a_gzip_line_is_measured_inflated(tmp_path, chunk):
    long_row = "1,121," + "y" * 5000 + ",2024-01-02,2,50.00,3,150.00"
    data = gzip.compress(csv_bytes(long_row))
    result = verdict(tmp_path, "sales_data/a.csv.gz", data, Limits(max_line_bytes=4096), chunk)
    assert result.reason == f"line_too_long:{len(long_row)}>4096"


def test_the_inflated_size_has_a_limit(tmp_path):
    data = gzip.compress(csv_bytes(*[GOOD_ROW] * 1000))  # 39,072 bytes inflated
    result = verdict(tmp_path, "sales_data/a.csv.gz", data, Limits(max_decompressed_bytes=10_000), 1 << 30)
    name, values = result.reason.split(":")
    found, limit = map(int, values.split(">"))
    assert (name, limit) == ("decompressed_too_large", 10_000)
    assert 10_000 < found <= len(csv_bytes(*[GOOD_ROW] * 1000))


def test_a_gzip_that_inflates_too_far_stops_early(tmp_path):
    """Past 16 MiB inflated, more than 100 bytes out for each byte in is a bomb, not sales data."""
    block = zlib.compress(b"1,121,sugar,2024-01-02,2,50.00,3,150.00\n" * 1_000_000, 9)  # 40 MB of rows
    member = gzip.compress(csv_bytes(GOOD_ROW)) + gzip.compress(zlib.decompress(block), 9)
    inspector = ContentInspector("csv.gz")
    for start in range(0, len(member), MB):
        inspector.update(member[start : start + MB])
    assert inspector.limit_problem().startswith("compression_ratio_too_high:")
    ratio, limit = map(int, inspector.limit_problem().split(":")[1].split(">"))
    assert ratio > limit == 100
    # It stopped inflating soon after the floor, far from the 40 MB the file holds.
    assert inspector.text_size < 40 * MB


def test_a_legal_two_member_gzip_is_accepted_whole(tmp_path):
    data = gzip.compress(csv_bytes(GOOD_ROW)) + gzip.compress((GOOD_ROW + "\n").encode() * 3)
    inspector = ContentInspector("csv.gz")
    inspector.update(data)
    path = tmp_path / "two.csv.gz"
    path.write_bytes(data)
    assert judge("sales_data/two.csv.gz", path, inspector, MANDATORY).reason is None
    assert inspector.text_size == len(csv_bytes(GOOD_ROW)) + 3 * (len(GOOD_ROW) + 1)


@pytest.mark.parametrize("chunk", CHUNKS)
def test_json_nesting_is_counted_outside_strings(tmp_path, chunk):
    nested = {"a": 1}
    for _ in range(70):
        nested = {"n": [nested]}  # 1 + 2 * 70 levels
    deep = json_line(payment=nested)
    strings = json_line(note="[" * 500 + "{" * 500, quoted='he said "[[[" \\" [')
    data = (json_line() + "\n" + strings + "\n" + deep + "\n").encode()
    result = verdict(tmp_path, "sales_data/a.jsonl", data, Limits(), chunk)
    assert result.reason == "json_too_deep:142>64"
    without_deep = (json_line() + "\n" + strings + "\n").encode()
    assert verdict(tmp_path, "sales_data/a.jsonl", without_deep, Limits(), chunk).reason is None


def test_a_first_json_line_deeper_than_python_can_parse_is_a_reason(tmp_path):
    data = ("[" * 100_000 + "]" * 100_000 + "\n").encode()
    assert (
        verdict(tmp_path, "sales_data/a.jsonl", data, Limits(), 1 << 30).reason == "json_too_deep:100000>64"
    )
    # Over a raised limit the line still cannot be an object: quarantined, never a crash.
    raised = Limits(max_json_depth=200_000)
    assert verdict(tmp_path, "sales_data/a.jsonl", data, raised, 1 << 30).reason == "not_json_lines"


def test_parquet_cells_row_groups_and_footer_have_limits(tmp_path):
    table = sales_table(10, product="p" * 2000)
    data = parquet_bytes(table)
    key = "sales_data/a.parquet"
    assert (
        verdict(tmp_path, key, data, Limits(max_cell_bytes=1000), 1 << 30).reason
        == "cell_too_large:2000>1000"
    )
    assert verdict(tmp_path, key, data, Limits(max_cell_bytes=2000), 1 << 30).reason is None
    group = pq.ParquetFile(io.BytesIO(data)).metadata.row_group(0).total_byte_size
    result = verdict(tmp_path, key, data, Limits(max_parquet_row_group_bytes=group - 1), 1 << 30)
    assert result.reason == f"parquet_row_group_too_large:{group}>{group - 1}"
    footer = int.from_bytes(data[-8:-4], "little")
    result = verdict(tmp_path, key, data, Limits(max_parquet_footer_bytes=100), 7)
    assert result.reason == f"parquet_footer_too_large:{footer}>100"


# ------------------------------------------------------------- the files, in bounded memory
# The peak is the process's VmHWM: ru_maxrss would also count the memory of the forking process.
CHECK_IN_A_PROCESS = """
import json, re, sys
from pathlib import Path
from salesflow.intake import ContentInspector, file_format, judge
from salesflow.storage import file_sha256
key, path = sys.argv[1], Path(sys.argv[2])
inspector = ContentInspector(file_format(key))
file_sha256(path, inspector.update)
reason = judge(key, path, inspector, json.loads(sys.argv[3])).reason
peak_kib = int(re.search(r"VmHWM:\\s+(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
print(json.dumps({"reason": reason, "peak_bytes": peak_kib * 1024}))
"""


def check_in_a_process(key: str, path: Path) -> tuple[str | None, int]:
    """The download pass's checks on a file (4 MB chunks, as a large download hashes them), in a
    fresh process; its verdict and the process's peak resident memory."""
    env = {"PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", CHECK_IN_A_PROCESS, key, str(path), json.dumps(MANDATORY)],
        capture_output=True, text=True, check=True, env=env, timeout=600,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["reason"], result["peak_bytes"]


def test_hostile_files_are_judged_in_bounded_memory(tmp_path):
    # 2 MB of gzip members that inflate to 2 GiB of one line.
    member = gzip.compress(b"a" * (16 * MB), 9)
    bomb = tmp_path / "bomb.csv.gz"
    with bomb.open("wb") as out:
        out.write(gzip.compress(csv_bytes()))
        for _ in range(128):
            out.write(member)
    # One data line of 300 MB.
    long_line = tmp_path / "long.csv"
    with long_line.open("wb") as out:
        out.write(csv_bytes()[:-1] + b"\n1,121,")
        for _ in range(300):
            out.write(b"x" * MB)
        out.write(b",2024-01-02,2,50.00,3,150.00\n")
    # A record nested 100,000 levels deep.
    deep = tmp_path / "deep.jsonl"
    deep.write_text(json_line() + "\n" + '{"a":' * 100_000 + "1" + "}" * 100_000 + "\n")
    # A Parquet file with a 100 MB string cell.
    big_cell = tmp_path / "big_cell.parquet"
    big_cell.write_bytes(parquet_bytes(sales_table(1, product="z" * (100 * MB))))
    # And a good one: 1,000,000 rows in one row group.
    good = tmp_path / "good.parquet"
    good.write_bytes(parquet_bytes(sales_table(1_000_000), row_group_size=1_000_000))
    assert pq.ParquetFile(good).metadata.num_row_groups == 1

    expected = {
        "sales_data/bomb.csv.gz": (bomb, "compression_ratio_too_high:"),
        "sales_data/long.csv": (long_line, f"line_too_long:{len('1,121,') + 300 * MB + len(',2024-01-02,2,50.00,3,150.00')}>16777216"),
        "sales_data/deep.jsonl": (deep, "json_too_deep:100000>64"),
        "sales_data/big_cell.parquet": (big_cell, f"cell_too_large:{100 * MB}>16777216"),
        "sales_data/good.parquet": (good, None),
    }  # fmt: skip
    for key, (path, reason) in expected.items():
        found, peak = check_in_a_process(key, path)
        if reason is None or reason.endswith(":"):
            assert found == reason or (reason and found.startswith(reason)), (key, found)
        else:
            assert found == reason, (key, found)
        assert peak < PEAK_BYTES, (key, peak)
