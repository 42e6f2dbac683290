"""What the dashboard's panels read: the settings, one MySQL connection and the S3 hook, and the one
way they run a statement of ``include/sql/dashboard`` (or ``analytics``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from salesflow.config import Settings
from salesflow.sql import render


@dataclass
class Sources:
    """What the panels read: settings, one MySQL connection, and the S3 hook (made on first use)."""

    settings: Settings
    conn: Any
    s3_hook: Callable[[], Any]


def query_rows(
    sources: Sources, name: str, params: Sequence[Any] = (), *, folder: str = "dashboard", **lists: int
) -> list[tuple[Any, ...]]:
    statement = render(f"{folder}/{name}.sql", sources.settings.tables, value_lists=lists)
    with sources.conn.cursor() as cursor:
        cursor.execute(statement, tuple(params))
        return list(cursor.fetchall())


def database_today(sources: Sources) -> date:
    ((today,),) = query_rows(sources, "clock")
    return today
