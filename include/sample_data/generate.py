"""Seeded, reproducible sample sales files, good and bad, in each format salesflow reads.

    python -m include.sample_data.generate --rows 400000 --files 4 --out var/data
    python -m include.sample_data.generate --rows 1000000 --files 4 --format parquet --out var/data
    python -m include.sample_data.generate --rows 1000 --bad-cases --format-cases --s3-bucket salesflow-dev
    python -m include.sample_data.generate --write-seed-sql

Values match the seeded dimension tables (include/sample_data/dimensions.py): stores 121 to 124
with their own sales people, a fixed product list with prices, quantity 1 to 10,
``total_cost = price * quantity``, dates spread over the months from --start-month on.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import random
import re
import sys
from collections.abc import Iterator
from dataclasses import astuple, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from include.sample_data import dimensions as dims
from salesflow.intake import EXTENSIONS, one_line

HEADER = (
    "customer_id",
    "store_id",
    "product_name",
    "sales_date",
    "sales_person_id",
    "price",
    "quantity",
    "total_cost",
)
SEED_SQL = Path(__file__).resolve().parents[1] / "sql" / "schema" / "010_seed_dimensions.sql"
# The types a format with types gets (SPEC "Input: sales CSV"); other columns are text.
INT_COLUMNS = ("customer_id", "store_id", "sales_person_id", "quantity")
DECIMAL_COLUMNS = {"price": (10, 2), "total_cost": (12, 2)}
JSON_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")

# One row per row rule, each with the reason code the validation must give it (SPEC "Row rules").
# Values are written over a good row; None leaves the column out of the row (a short row).
BAD_ROWS: tuple[tuple[str, dict[str, str]], ...] = (
    ("missing_value:customer_id", {"customer_id": ""}),
    ("invalid_type:store_id", {"store_id": "12x"}),
    ("missing_value:product_name", {"product_name": "  "}),
    ("invalid_type:sales_date", {"sales_date": "2024-02-30"}),
    ("invalid_type:sales_date", {"sales_date": "03/15/2024"}),
    ("invalid_type:sales_person_id", {"sales_person_id": "1.5"}),
    ("invalid_type:price", {"price": "NaN"}),
    ("invalid_type:quantity", {"quantity": "99999999999"}),
    ("invalid_type:total_cost", {"total_cost": "abc"}),
    ("non_positive_quantity", {"quantity": "0", "total_cost": "0.00"}),
    ("negative_price", {"price": "-5.00", "quantity": "2", "total_cost": "-10.00"}),
    ("total_cost_mismatch", {"price": "10.00", "quantity": "3", "total_cost": "30.02"}),
    ("future_sales_date", {"sales_date": "2999-01-01"}),
    ("unknown_customer", {"customer_id": "999999"}),
    ("unknown_store", {"store_id": "999"}),
    ("unknown_sales_person", {"sales_person_id": "9999"}),
    ("unknown_product", {"product_name": "unobtainium"}),
    ("malformed_row", {"__short__": "1"}),
)


@dataclass
class GeneratedFile:
    name: str
    content: bytes
    rows: int = 0
    expected: str = "valid"  # or the quarantine reason
    rejected_reasons: list[str] = field(default_factory=list)


def _month_starts(start_month: date, months: int) -> list[date]:
    starts, current = [], start_month.replace(day=1)
    for _ in range(months):
        starts.append(current)
        current = (current + timedelta(days=32)).replace(day=1)
    return starts


def sales_rows(rng: random.Random, count: int, start_month: date, months: int) -> Iterator[dict[str, str]]:
    people = dims.sales_people_by_store()
    customer_ids = range(1, dims.CUSTOMER_COUNT + 1)
    span_days = (_month_starts(start_month, months + 1)[-1] - start_month.replace(day=1)).days
    first_day = start_month.replace(day=1)
    for _ in range(count):
        store_id = rng.choice(dims.STORE_IDS)
        _, product_name, price = rng.choice(dims.PRODUCTS)
        quantity = rng.randint(1, 10)
        yield {
            "customer_id": str(rng.choice(customer_ids)),
            "store_id": str(store_id),
            "product_name": product_name,
            "sales_date": (first_day + timedelta(days=rng.randrange(span_days))).isoformat(),
            "sales_person_id": str(rng.choice(people[store_id])),
            "price": str(price),
            "quantity": str(quantity),
            "total_cost": str(price * quantity),
        }


def _csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode()


def _parquet_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    """Typed columns (int64, decimal, date) where every value is one of the type, else text."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = {}
    for index, name in enumerate(header):
        values = [row[index] if index < len(row) and row[index] != "" else None for row in rows]
        text = pa.array(values, pa.string())
        columns[name] = _typed(text, name.strip().lower())
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


def _typed(text: Any, name: str) -> Any:
    import pyarrow as pa

    if name in INT_COLUMNS:
        wanted = pa.int64()
    elif name in DECIMAL_COLUMNS:
        wanted = pa.decimal128(*DECIMAL_COLUMNS[name])
    elif name == "sales_date":
        wanted = pa.date32()
    else:
        return text
    try:
        return text.cast(wanted)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return text  # a value that is not of the type (a bad row): the column stays text


def _jsonl_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    """One object a line, keys in header order; numbers of the numeric columns written as numbers."""
    lines = []
    for row in rows:
        items = []
        for name, value in zip(header, row, strict=False):  # a short row lacks its last keys
            numeric = name.strip().lower() in (*INT_COLUMNS, *DECIMAL_COLUMNS)
            if value == "":
                rendered = "null"
            elif numeric and JSON_NUMBER.fullmatch(value):
                rendered = value  # the number as written: 50.00 stays 50.00
            else:
                rendered = json.dumps(value, ensure_ascii=False)
            items.append(f"{json.dumps(name, ensure_ascii=False)}: {rendered}")
        lines.append("{" + ", ".join(items) + "}\n")
    return "".join(lines).encode()


def encode(header: list[str], rows: list[list[str]], fmt: str = "csv") -> bytes:
    """Rows of text as a file of ``fmt`` (a key of ``EXTENSIONS``); gzip with no timestamp: reproducible."""
    if fmt == "csv.gz":
        return gzip.compress(_csv_bytes(header, rows), compresslevel=6, mtime=0)
    if fmt == "parquet":
        return _parquet_bytes(header, rows)
    if fmt == "jsonl":
        return _jsonl_bytes(header, rows)
    return _csv_bytes(header, rows)


def good_files(
    rows: int, files: int, seed: int, start_month: date, months: int, fmt: str = "csv"
) -> list[GeneratedFile]:
    rng = random.Random(seed)
    result = []
    for index in range(files):
        count = rows // files + (1 if index < rows % files else 0)
        data = [[r[c] for c in HEADER] for r in sales_rows(rng, count, start_month, months)]
        name = f"sales_{start_month:%Y%m}_{seed}_{index + 1:03d}{EXTENSIONS[fmt]}"
        result.append(GeneratedFile(name, encode(list(HEADER), data, fmt), rows=count))
    return result


def bad_case_files(seed: int, start_month: date) -> list[GeneratedFile]:
    """The cases the pipeline must handle besides good files."""
    rng = random.Random(seed + 7919)
    result = []

    missing = [c for c in HEADER if c != "total_cost"]
    rows = [[r[c] for c in missing] for r in sales_rows(rng, 5, start_month, 1)]
    result.append(
        GeneratedFile("sales_missing_column.csv", _csv_bytes(missing, rows), 5, "missing_columns:total_cost")
    )

    # Extra columns in between, mandatory ones out of order and in other letter cases.
    header = [
        " Store_ID",
        "payment_mode",
        "customer_id",
        "PRODUCT_NAME",
        "sales_date",
        "channel",
        "sales_person_id",
        "price",
        "quantity",
        "total_cost",
    ]
    extra_rows = []
    for r in sales_rows(rng, 6, start_month, 1):
        extras = {"payment_mode": rng.choice(("UPI", "cash", "card")), "channel": "store"}
        extra_rows.append([{**r, **extras}[h.strip().lower()] for h in header])
    result.append(GeneratedFile("sales_extra_columns.csv", _csv_bytes(header, extra_rows), 6))

    result.append(GeneratedFile("sales_empty.csv", b"", 0, "empty_file"))
    result.append(
        GeneratedFile(
            "sales_summary.xlsx", b"PK\x03\x04" + bytes(rng.randrange(256) for _ in range(64)), 0, "not_csv"
        )
    )

    good = list(sales_rows(rng, 4, start_month, 1))
    data = [[r[c] for c in HEADER] for r in good]
    reasons = []
    for reason, changes in BAD_ROWS:
        row = {**next(sales_rows(rng, 1, start_month, 1)), **changes}
        values = [row[c] for c in HEADER]
        data.append(values[:5] if "__short__" in changes else values)
        reasons.append(reason)
    result.append(
        GeneratedFile(
            "sales_bad_rows.csv", _csv_bytes(list(HEADER), data), len(data), rejected_reasons=reasons
        )
    )
    return result


def format_case_files(seed: int, start_month: date) -> list[GeneratedFile]:
    """A good file of each format besides CSV, and a file of each whose content is not its format."""
    result = []
    for offset, fmt in enumerate(("csv.gz", "parquet", "jsonl"), start=1):
        result += good_files(200, 1, seed + offset, start_month, 1, fmt)
    plain = good_files(20, 1, seed, start_month, 1)[0].content
    packed = gzip.compress(plain, mtime=0)
    footer = b"PAR1" + bytes(range(40)) + (30).to_bytes(4, "little") + b"PAR1"
    not_an_object = b'["customer_id", "store_id"]\n' + encode(list(HEADER), [], "jsonl")
    result += [
        GeneratedFile("sales_not_gzip.csv.gz", plain, 20, "not_gzip"),
        GeneratedFile("sales_truncated.csv.gz", packed[: len(packed) // 2], 20, "truncated_gzip"),
        GeneratedFile("sales_not_parquet.parquet", packed, 20, "not_parquet"),  # a gzip, not Parquet
        GeneratedFile("sales_bad_footer.parquet", footer, 0, "bad_parquet_footer:" + _footer_error(footer)),
        GeneratedFile("sales_not_an_object.jsonl", not_an_object, 1, "not_json_lines"),
    ]
    return result


def _footer_error(content: bytes) -> str:
    """pyarrow's message for a Parquet footer that does not read, as the reason code holds it."""
    import pyarrow.parquet as pq

    try:
        pq.read_schema(io.BytesIO(content))
    except Exception as error:
        return one_line(error)
    raise ValueError("the footer reads")


def seed_sql() -> str:
    def row(values: tuple) -> str:
        rendered = []
        for value in values:
            if value is None:
                rendered.append("NULL")
            elif isinstance(value, int):
                rendered.append(str(value))
            else:
                rendered.append("'" + str(value).replace("'", "''") + "'")
        return "    (" + ", ".join(rendered) + ")"

    def insert(table: str, columns: list[str], rows: list[tuple]) -> str:
        updates = ", ".join(f"{c} = VALUES({c})" for c in columns[1:])
        body = ",\n".join(row(r) for r in rows)
        names = ", ".join(columns)
        return f"INSERT INTO {{{table}}} ({names}) VALUES\n{body}\nON DUPLICATE KEY UPDATE {updates};\n"

    products = [
        (pid, name, str(price), str(price), "2023-01-01", "2023-01-01", "2026-12-31")
        for pid, name, price in dims.PRODUCTS
    ]
    parts = [
        "-- Written by `python -m include.sample_data.generate --write-seed-sql`; do not edit by hand.\n",
        insert(
            "customer",
            [
                "customer_id",
                "first_name",
                "last_name",
                "address",
                "pincode",
                "phone_number",
                "customer_joining_date",
            ],
            [astuple(c) for c in dims.customers()],
        ),
        insert(
            "store",
            ["id", "address", "store_pincode", "store_manager_name", "store_opening_date", "reviews"],
            [astuple(s) for s in dims.stores()],
        ),
        insert(
            "product",
            ["id", "name", "current_price", "old_price", "created_date", "updated_date", "expiry_date"],
            products,
        ),
        insert(
            "sales_team",
            [
                "id",
                "first_name",
                "last_name",
                "manager_id",
                "is_manager",
                "address",
                "pincode",
                "joining_date",
            ],
            [astuple(p)[:-1] for p in dims.sales_team()],
        ),
    ]
    return "\n".join(parts)


def upload(files: list[GeneratedFile], bucket: str, prefix: str) -> None:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    from salesflow.config import AWS_CONN_ID

    hook = S3Hook(aws_conn_id=AWS_CONN_ID)
    for generated in files:
        hook.load_bytes(generated.content, key=prefix + generated.name, bucket_name=bucket, replace=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000, help="good rows in all (default 1000)")
    parser.add_argument("--files", type=int, default=1, help="good files to spread them over")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start-month", default="2024-01", help="first month of sales (YYYY-MM)")
    parser.add_argument("--months", type=int, default=3, help="months the dates spread over")
    parser.add_argument("--format", choices=sorted(EXTENSIONS), default="csv", help="of the good files")
    parser.add_argument("--bad-cases", action="store_true", help="also write the bad files")
    parser.add_argument(
        "--format-cases", action="store_true", help="also write a good and a bad file of each other format"
    )
    parser.add_argument("--out", type=Path, help="write the files to this folder")
    parser.add_argument("--s3-bucket", help="upload the files to this bucket (connection salesflow_s3)")
    parser.add_argument("--s3-prefix", default="sales_data/")
    parser.add_argument("--write-seed-sql", action="store_true", help=f"rewrite {SEED_SQL.name}")
    args = parser.parse_args(argv)

    if args.write_seed_sql:
        SEED_SQL.write_text(seed_sql())
        print(f"wrote {SEED_SQL}")
        return 0
    if not args.out and not args.s3_bucket:
        parser.error("give --out and/or --s3-bucket")
    if args.rows < 0 or args.files < 1:
        parser.error("--rows must be >= 0 and --files >= 1")
    try:
        start_month = date.fromisoformat(args.start_month + "-01")
    except ValueError:
        parser.error(f"--start-month {args.start_month!r}: expected YYYY-MM")
    files = good_files(args.rows, args.files, args.seed, start_month, args.months, args.format)
    if args.bad_cases:
        files += bad_case_files(args.seed, start_month)
    if args.format_cases:
        files += format_case_files(args.seed, start_month)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for generated in files:
            (args.out / generated.name).write_bytes(generated.content)
    if args.s3_bucket:
        upload(files, args.s3_bucket, args.s3_prefix)
    where = " and ".join(
        filter(None, [str(args.out or ""), args.s3_bucket and f"s3://{args.s3_bucket}/{args.s3_prefix}"])
    )
    print(f"wrote {len(files)} files, {sum(f.rows for f in files)} data rows, to {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
