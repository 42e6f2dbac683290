"""Seeded files of extreme values, each row and file with the outcome salesflow must give it.

    python -m include.sample_data.extremes --seed 3 --out var/extremes

Values of several MB, a thousand columns, control characters, NUL, 4-byte UTF-8, values at each
column's precision limit, sums far past any month, dates at the edges of MySQL's DATE range, lines
far longer than usual (SPEC "Input", README "Limits"). A row's expected reason is None when it must
load; a file's ``expected`` is "valid" or the reason it is quarantined whole.
"""

from __future__ import annotations

import argparse
import random
from datetime import date
from pathlib import Path

from include.sample_data import dimensions as dims
from include.sample_data.generate import HEADER, GeneratedFile, _csv_bytes

# The limits of the file checks these files reach: a NUL past SNIFF_BYTES is data, not a binary file.
from salesflow.intake import MAX_COLUMNS, SNIFF_BYTES

MIB = 1024 * 1024
# The byte limit of the extra columns' JSON (spark_jobs/rules.py ADDITIONAL_COLUMN_MAX_BYTES).
ADDITIONAL_COLUMN_LIMIT = MIB

Row = tuple[dict[str, str], str | None]  # values (mandatory and extra columns), expected reason


def good_row(rng: random.Random, day: date) -> dict[str, str]:
    store = rng.choice(dims.STORE_IDS)
    _, product, price = rng.choice(dims.PRODUCTS)
    quantity = rng.randint(1, 10)
    return {
        "customer_id": str(rng.randint(1, dims.CUSTOMER_COUNT)),
        "store_id": str(store),
        "product_name": product,
        "sales_date": day.isoformat(),
        "sales_person_id": str(rng.choice(dims.sales_people_by_store()[store])),
        "price": str(price),
        "quantity": str(quantity),
        "total_cost": str(price * quantity),
    }


def _text(rng: random.Random, size: int, alphabet: str) -> str:
    return "".join(rng.choice(alphabet) for _ in range(min(size, 4096))) * (size // 4096 + 1)


def extreme_rows(rng: random.Random, day: date) -> list[Row]:
    """One row of each extreme kind, over a good row, with the reason it must get."""
    big = rng.randint(2, 4) * MIB

    def row(reason: str | None, **values: str) -> Row:
        return {**good_row(rng, day), **values}, reason

    fits = ADDITIONAL_COLUMN_LIMIT - len('{"note":""}') - rng.randint(0, 100)
    return [
        row("value_too_long:additional_column", note=_text(rng, big, "abcdefghij")[:big]),
        row("unknown_product", product_name=_text(rng, big, "xyz")[:big]),
        row("invalid_type:price", price="9" * (big // 1024)),
        row(None, note="n" * fits),  # just under the limit: stored whole
        row(None, note="".join(chr(c) for c in range(1, 32) if c not in (10, 13)) + "\t\x7f"),
        row(None, note="4-byte UTF-8 \U0001f680 \U0001d518\U0001d52b " + "\U0001f600" * rng.randint(1, 50)),
        row(None, note="nul\x00inside"),
        row(None, price="99999999.99", quantity="100", total_cost="9999999999.00"),
        row("total_cost_mismatch", price="99999999.99", quantity="100", total_cost="9999999999.99"),
        row("invalid_type:total_cost", price="99999999.99", quantity="101", total_cost="10099999998.99"),
        row("unknown_customer", customer_id="2147483647"),
        row("invalid_type:customer_id", customer_id="2147483648"),
        row(None, quantity="2147483647", price="0.00", total_cost="0.00"),
        row(None, sales_date="1000-01-01"),
        row("out_of_range:sales_date", sales_date="0999-12-31"),
        row("future_sales_date", sales_date="9999-12-31"),
        row("unknown_product", product_name="line\n" * (MIB // 5)),  # one record of many lines
    ]


def _file(name: str, header: list[str], rows: list[Row]) -> GeneratedFile:
    content = _csv_bytes(header, [[values.get(c, "") for c in header] for values, _ in rows])
    reasons = [reason for _, reason in rows if reason is not None]
    return GeneratedFile(name, content, rows=len(rows), rejected_reasons=reasons)


def extreme_files(seed: int, day: date = date(2024, 3, 5)) -> list[GeneratedFile]:
    """The extremes, shuffled by ``seed``, in files of their own, beside a good file."""
    rng = random.Random(seed)
    header = [*HEADER, "note"]
    # Good rows first, past the first 64 KiB: the NUL rows land where the binary sniff does not look.
    padding = [(good_row(rng, day), None) for _ in range(SNIFF_BYTES // 40)]
    extremes = extreme_rows(rng, day)
    rng.shuffle(extremes)
    wide_header = [
        *rng.sample(list(HEADER), k=len(HEADER)),
        *[f"extra_{i:03d}" for i in range(MAX_COLUMNS - len(HEADER))],
    ]
    wide_rows = [
        ({**good_row(rng, day), **{c: f"v{i}" for i, c in enumerate(wide_header[8:])}}, None)
        for _ in range(5)
    ]
    files = [
        _file(f"extremes_{seed}_rows.csv", header, padding + extremes),
        _file(f"extremes_{seed}_wide_at_limit.csv", wide_header, wide_rows),
        _file(
            f"extremes_{seed}_good.csv",
            list(HEADER),
            [(good_row(rng, day), None) for _ in range(rng.randint(5, 50))],
        ),
        overflowing_sums_file(f"extremes_{seed}_big_sums.csv", rng.randint(20_000, 25_000), day),
    ]
    too_wide = _file(f"extremes_{seed}_too_wide.csv", [*wide_header, "one_more"], wide_rows)
    too_wide.expected = f"too_many_columns:{MAX_COLUMNS + 1}"
    nul_head = GeneratedFile(f"extremes_{seed}_nul.csv", _csv_bytes(list(HEADER), []) + b"1,\x00\n")
    nul_head.expected = "binary_content"
    return [*files, too_wide, nul_head]


def overflowing_sums_file(name: str, rows: int, day: date) -> GeneratedFile:
    """Rows that each pass every rule, for one customer and month, whose sum passes 10^14."""
    row = {
        "customer_id": "1",
        "store_id": str(dims.STORE_IDS[0]),
        "product_name": dims.PRODUCTS[0][1],
        "sales_date": day.isoformat(),
        "sales_person_id": str(dims.sales_people_by_store()[dims.STORE_IDS[0]][0]),
        "price": "99999999.99",
        "quantity": "100",
        "total_cost": "9999999999.00",
    }
    return _file(name, list(HEADER), [(row, None)] * rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("var/extremes"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for generated in extreme_files(args.seed):
        (args.out / generated.name).write_bytes(generated.content)
        rejected = len(generated.rejected_reasons)
        print(f"{generated.name}: {generated.expected}, {generated.rows} rows, {rejected} to reject")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
