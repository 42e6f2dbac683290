"""MySQL connections through the provider's MySqlHook, and the schema set-up."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from salesflow.config import MYSQL_CONN_ID, Settings
from salesflow.sql import identifier, render, split_statements

log = logging.getLogger(__name__)

SCHEMA_SCRIPTS = (
    "schema/001_dimensions.sql",
    "schema/002_file_ledger.sql",
    "schema/003_sales_and_marts.sql",
)
SEED_SCRIPTS = ("schema/010_seed_dimensions.sql",)


class DatabaseUnavailableError(RuntimeError):
    """MySQL does not answer; the message names the endpoint, never the password."""


def mysql_hook(database: str | None):
    from airflow.providers.mysql.hooks.mysql import MySqlHook

    return MySqlHook(mysql_conn_id=MYSQL_CONN_ID, schema=database, local_infile=True)


@contextmanager
def connect(settings: Settings, *, database: str | None = "") -> Iterator[Any]:
    """A DB-API connection to the configured database (``database=None``: no default database)."""
    hook = mysql_hook(settings.database if database == "" else database)
    conn_info = hook.get_connection(MYSQL_CONN_ID)
    try:
        conn = hook.get_conn()
    except Exception as error:
        code = getattr(error, "args", [None])[0]
        raise DatabaseUnavailableError(
            f"cannot connect to MySQL at {conn_info.host}:{conn_info.port or 3306} "
            f"as {conn_info.login!r} (connection {MYSQL_CONN_ID!r}): error {code}"
        ) from None
    try:
        yield conn
    finally:
        conn.close()


def drop_database(settings: Settings, database: str | None = None) -> None:
    """The database (the configured one unless named) dropped, if it exists: a test's or a
    benchmark's own, at its end."""
    with connect(settings, database=None) as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{identifier(database or settings.database)}`")


def execute_script(conn: Any, script: str) -> None:
    with conn.cursor() as cursor:
        for statement in split_statements(script):
            cursor.execute(statement)
    conn.commit()


def init_database(settings: Settings, *, seed: bool = True) -> None:
    """Create the database, the tables and (optionally) the sample dimensions; idempotent."""
    with connect(settings, database=None) as conn, conn.cursor() as cursor:
        cursor.execute(
            f"CREATE DATABASE IF NOT EXISTS `{identifier(settings.database)}` "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
        )
    with connect(settings) as conn:
        for script in SCHEMA_SCRIPTS + (SEED_SCRIPTS if seed else ()):
            execute_script(conn, render(script, settings.tables))
            log.info("applied %s to database %s", script, settings.database)
