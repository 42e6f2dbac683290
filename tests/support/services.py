"""The MySQL the tests use: the one the test session started (tests/conftest.py), or the one that
SALESFLOW_MYSQL_HOST/PORT/USER/PASSWORD name; read when asked, after the session has set them."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class MySqlAddress:
    host: str
    port: int
    user: str
    password: str

    @classmethod
    def from_environment(cls) -> MySqlAddress:
        return cls(
            host=os.environ["SALESFLOW_MYSQL_HOST"],
            port=int(os.environ.get("SALESFLOW_MYSQL_PORT", "3306")),
            user=os.environ.get("SALESFLOW_MYSQL_USER", "root"),
            password=os.environ.get("SALESFLOW_MYSQL_PASSWORD", ""),
        )


def mysql_connection(database: str | None = None):
    """A PyMySQL connection as the tests' MySQL user (autocommit off)."""
    import pymysql

    address = MySqlAddress.from_environment()
    return pymysql.connect(
        host=address.host,
        port=address.port,
        user=address.user,
        password=address.password,
        database=database,
        autocommit=False,
    )
