"""SQL lives in ``include/sql``; this module loads it and fills in table names.

Table names come from the config, so statements name them as ``{ledger}``, ``{sales}`` and so on;
file statuses come from ``statuses.FileStatus`` (``{status_loaded}`` is ``'LOADED'``).
Only identifiers that match a strict pattern are substituted; values always travel as DB-API
parameters (``%s``), never through string formatting.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from salesflow.config import Tables
from salesflow.paths import SQL_DIR
from salesflow.statuses import sql_literals

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


def identifier(name: str) -> str:
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a safe SQL identifier: {name!r}")
    return name


@cache
def _read(relative_path: str, root: Path = SQL_DIR) -> str:
    return _strip_leading_comments((root / relative_path).read_text())


def render(
    relative_path: str,
    tables: Tables,
    *,
    value_lists: dict[str, int] | None = None,
    value_rows: dict[str, tuple[int, int]] | None = None,
    identifiers: dict[str, str] | None = None,
    root: Path = SQL_DIR,
) -> str:
    """The statement(s) in ``include/sql/<relative_path>`` with the table names filled in.

    ``identifiers`` fills other placeholders with names (a table or column the caller picks), each
    checked like a table name. ``root`` is the folder of SQL files (the benchmarks keep their own).

    ``value_lists`` maps a placeholder to a count: it becomes that many ``%s`` (for ``IN (...)``).
    ``value_rows`` maps a placeholder to (rows, columns): it becomes ``SELECT %s, %s UNION ALL
    SELECT %s, %s ...``, a derived table of parameters (one statement updates many rows, each with
    its own values, on MySQL and MariaDB alike; the statement names the columns).
    """
    names: dict[str, str] = {key: identifier(value) for key, value in tables.model_dump().items()}
    names.update(sql_literals())
    names.update({key: identifier(value) for key, value in (identifiers or {}).items()})
    for name, count in (value_lists or {}).items():
        if count < 1:
            raise ValueError(f"{name}: an IN list needs at least one value")
        names[name] = ", ".join(["%s"] * count)
    for name, (rows, columns) in (value_rows or {}).items():
        if rows < 1 or columns < 1:
            raise ValueError(f"{name}: a row list needs at least one row and one column")
        names[name] = " UNION ALL ".join(["SELECT " + ", ".join(["%s"] * columns)] * rows)
    return _read(relative_path, root).format(**names)


def _strip_leading_comments(sql: str) -> str:
    # DB-API drivers batch executemany() only for statements that start with INSERT.
    lines = sql.splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("--")):
        lines.pop(0)
    return "\n".join(lines)


@contextmanager
def named_lock(conn: Any, name: str, timeout_seconds: int) -> Iterator[None]:
    """A MySQL named lock held by `conn` for the block (GET_LOCK / RELEASE_LOCK)."""
    name = name[:64]
    with conn.cursor() as cursor:
        cursor.execute("SELECT GET_LOCK(%s, %s)", (name, timeout_seconds))
        (granted,) = cursor.fetchone()
    if granted != 1:
        raise TimeoutError(f"could not get the MySQL lock {name!r} within {timeout_seconds} s")
    try:
        yield
    finally:
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT RELEASE_LOCK(%s)", (name,))
        except Exception as error:  # the connection broke: MySQL frees its locks with it
            log.warning("could not release the MySQL lock %r (%s); it goes with the connection", name, error)


def split_statements(script: str) -> list[str]:
    """Statements of a schema script: each ends with ';' at the end of a line."""
    statements, current = [], []
    for line in script.splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("--")):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            statements.append("\n".join(current).rstrip().rstrip(";"))
            current = []
    if current and "".join(current).strip():
        statements.append("\n".join(current))
    return statements
