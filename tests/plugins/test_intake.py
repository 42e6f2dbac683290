"""The file checks, in plain Python, on the bytes as the download sees them."""

from __future__ import annotations

from pathlib import Path

import pytest

from include.sample_data.generate import HEADER
from salesflow.intake import ContentInspector, FileVerdict, judge
from salesflow.storage import file_sha256

MANDATORY = list(HEADER)  # the mandatory columns of SPEC, in the generator's order
HEADER_LINE = ",".join(MANDATORY)


def verdict(tmp_path: Path, key: str, content: bytes | str, chunk: int = 7) -> FileVerdict:
    """The verdict on ``content`` fed in small chunks, as a streamed download feeds it."""
    data = content.encode() if isinstance(content, str) else content
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    inspector = ContentInspector()
    for start in range(0, len(data), chunk):
        inspector.update(data[start : start + chunk])
    return judge(key, path, inspector, MANDATORY)


@pytest.mark.parametrize(
    ("key", "content", "reason"),
    [
        ("sales_data/a.txt", HEADER_LINE + "\n", "not_csv"),
        ("sales_data/a.csv", b"", "empty_file"),
        ("sales_data/a.csv", b"\x1f\x8b\x08\x00gzipped", "binary_content"),
        ("sales_data/a.csv", HEADER_LINE.encode() + b"\n1,\x00,2\n", "binary_content"),
        (
            "sales_data/a.csv",
            HEADER_LINE.encode() + b"\n1,121,caf\xe9,2024-01-01,1,1.00,1,1.00\n",
            "bad_encoding:not_utf8",
        ),
        # A multi-byte character cut by a chunk boundary is still UTF-8; a truncated one is not.
        ("sales_data/a.csv", HEADER_LINE + "\n1,121,café,2024-01-01,1,1.00,1,1.00\n", None),
        ("sales_data/a.csv", HEADER_LINE.encode() + b"\n1,121,caf\xc3", "bad_encoding:not_utf8"),
        ("sales_data/a.csv", "\n\n", "no_header"),
        ("sales_data/a.csv", HEADER_LINE + ",,x\n", "blank_column_name:position_9"),
        ("sales_data/a.csv", HEADER_LINE + ",Price \n", "duplicate_columns:price"),
        (
            "sales_data/a.csv",
            "customer_id,store_id,product_name\n1,2,x\n",
            "missing_columns:sales_date,sales_person_id,price,quantity,total_cost",
        ),
        ("sales_data/a.csv", ",".join(f"c{i}" for i in range(1001)) + "\n", "too_many_columns:1001"),
    ],
)
def test_each_unreadable_file_gets_its_reason(tmp_path, key, content, reason):
    assert verdict(tmp_path, key, content).reason == reason


def test_any_order_case_spaces_bom_and_extras_are_accepted(tmp_path):
    header = "\ufeff Store_ID ,payment_mode,CUSTOMER_ID,product_name,sales_date,sales_person_id,price,quantity,total_cost"
    result = verdict(tmp_path, "sales_data/x.CSV", header + "\r\n")
    assert result == FileVerdict(
        None,
        [
            "store_id",
            "payment_mode",
            "customer_id",
            "product_name",
            "sales_date",
            "sales_person_id",
            "price",
            "quantity",
            "total_cost",
        ],
        "csv",
    )


def test_the_checks_ride_on_the_hash_pass(tmp_path):
    """file_sha256 feeds the inspector every byte once: one read gives the hash and the verdict."""
    path = tmp_path / "big.csv"
    path.write_bytes((HEADER_LINE + "\n" + "1,121,sugar,2024-01-02,2,50.00,3,150.00\n" * 200_000).encode())
    inspector = ContentInspector()
    file_sha256(path, inspector.update)
    assert inspector.size == path.stat().st_size
    assert judge("sales_data/big.csv", path, inspector, MANDATORY).reason is None
