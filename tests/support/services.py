"""The real services the tests use: MySQL at SALESFLOW_MYSQL_HOST/PORT (MariaDB on 127.0.0.1:3306
here and in CI)."""

from __future__ import annotations

import os

MYSQL_HOST = os.environ.get("SALESFLOW_MYSQL_HOST", "127.0.0.1")
MYSQL_PORT = int(os.environ.get("SALESFLOW_MYSQL_PORT", "3306"))
MYSQL_USER = os.environ.get("SALESFLOW_MYSQL_USER", "root")
MYSQL_PASSWORD = os.environ.get("SALESFLOW_MYSQL_PASSWORD", "")


def mysql_connection(database: str | None = None):
    """A PyMySQL connection as the tests' MySQL user (autocommit off)."""
    import pymysql

    return pymysql.connect(
        host=MYSQL_HOST,
        port=MYSQL_PORT,
        user=MYSQL_USER,
        password=MYSQL_PASSWORD,
        database=database,
        autocommit=False,
    )
