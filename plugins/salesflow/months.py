"""Months as salesflow writes them, ``YYYY-MM`` text, and the arithmetic the marts need."""

from __future__ import annotations

import re
from collections.abc import Iterable

MONTH_PATTERN = re.compile(r"^[0-9]{4}-(0[1-9]|1[0-2])$")


def check_month(month: str) -> str:
    if not isinstance(month, str) or not MONTH_PATTERN.fullmatch(month):
        raise ValueError(f"not a month (YYYY-MM): {month!r}")
    return month


def add_months(month: str, count: int) -> str:
    """``month`` moved by ``count`` months (negative: earlier): add_months('2024-01', -1) = '2023-12'."""
    year, number = (int(part) for part in check_month(month).split("-"))
    index = year * 12 + number - 1 + count
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_range(first: str, last: str) -> list[str]:
    """Every month from ``first`` to ``last``, both included (empty when last is before first)."""
    months, current = [], check_month(first)
    while current <= check_month(last):
        months.append(current)
        current = add_months(current, 1)
    return months


def shifted(months: Iterable[str], offsets: Iterable[int]) -> set[str]:
    """Every month of ``months`` moved by each of ``offsets``."""
    steps = list(offsets)
    return {add_months(month, step) for month in months for step in steps}
