"""The load into MySQL from the Spark driver: one PyMySQL connection, one transaction per batch.

``LOAD DATA LOCAL INFILE`` of the CSV parts Spark wrote to S3, each streamed from S3 into the
statement through a pipe (``object_store.streamed``): the fastest way in that keeps every table of a
batch in one transaction, with no file shared between the executors and the driver
(docs/performance.md "How the load was chosen"). Any warning it gives (a value cut or converted)
fails the batch: nothing is stored that is not exactly what was checked.

``failure_kind`` tells a failure caused by the data (a file's content: isolate the file) from one
of the infrastructure (a lost connection: the task fails and Airflow retries it).
"""

from __future__ import annotations

import os
from typing import Any

from salesflow.contracts import JdbcTarget
from spark_jobs.object_store import streamed

JDBC_PASSWORD_ENV = "SALESFLOW_JDBC_PASSWORD"

# MySQL/MariaDB errors raised by a value (too long, out of range, wrong type or NULL, bad date).
DATA_ERROR_CODES = frozenset({1048, 1264, 1265, 1292, 1366, 1406, 1411, 1690})
# Spark errors raised by a value (ANSI arithmetic and casts).
SPARK_DATA_ERROR_CLASSES = (
    "NUMERIC_VALUE_OUT_OF_RANGE",
    "CAST_INVALID_INPUT",
    "CAST_OVERFLOW",
    "DIVIDE_BY_ZERO",
)
# Errors of a server or network that is not there (PyMySQL's, the Python socket's, py4j's).
INFRASTRUCTURE_ERRORS = ("OperationalError", "InterfaceError", "Py4JNetworkError", "TimeoutError")
# gRPC statuses of a Spark Connect server that does not answer (raised once the client's retries,
# about 30 s of them: spark_jobs.common.build_session, are spent); Spark's own errors come with others.
CONNECT_OUTAGE_STATUSES = ("UNAVAILABLE", "DEADLINE_EXCEEDED")
# A Connect server that restarted under the job answers again, without the job's session.
CONNECT_SESSION_LOST = (
    "INVALID_HANDLE.SESSION_CHANGED",
    "INVALID_HANDLE.SESSION_NOT_FOUND",
    "NO_ACTIVE_SESSION",
)


class LoadWarningsError(RuntimeError):
    """LOAD DATA changed a value on its way in (MySQL turns such errors into warnings for LOCAL)."""


def connect(jdbc: JdbcTarget, database: str) -> Any:
    import pymysql

    return pymysql.connect(
        host=jdbc.host,
        port=jdbc.port,
        user=jdbc.user,
        password=os.environ.get(JDBC_PASSWORD_ENV, ""),
        database=database,
        local_infile=True,
        autocommit=False,
        charset="utf8mb4",
    )


def load_csv(cursor: Any, statement: str, parts: list[str]) -> int:
    """LOAD DATA each part (an S3 URI), streamed; any warning (a truncated or converted value)
    fails the load."""
    loaded = 0
    for part in parts:
        with streamed(part) as path:
            loaded += cursor.execute(statement, (path,))
        cursor.execute("SHOW WARNINGS LIMIT 5")
        warnings = cursor.fetchall()
        if warnings:
            name = part.rsplit("/", 1)[-1]
            raise LoadWarningsError(f"LOAD DATA of {name} gave warnings, nothing loaded: {warnings}")
    return loaded


def failure_kind(error: BaseException) -> str:
    """``data`` (a file's content), ``infrastructure`` (a service not answering) or ``unknown``."""
    if isinstance(error, LoadWarningsError):
        return "data"
    code = error.args[0] if error.args and isinstance(error.args[0], int) else None
    names = {cls.__name__ for cls in type(error).__mro__}
    if code in DATA_ERROR_CODES:
        return "data"
    if any(cls in str(error) for cls in SPARK_DATA_ERROR_CLASSES) or "ArithmeticException" in names:
        return "data"
    if names & set(INFRASTRUCTURE_ERRORS) or isinstance(error, ConnectionError):
        return "infrastructure"
    if connect_status(error) in CONNECT_OUTAGE_STATUSES or any(c in str(error) for c in CONNECT_SESSION_LOST):
        return "infrastructure"
    return "unknown"


def connect_status(error: BaseException) -> str | None:
    """The gRPC status name of an error a Spark Connect client raised (None for any other error)."""
    status = getattr(error, "getGrpcStatusCode", None)
    return getattr(status(), "name", None) if callable(status) else None


def short_reason(error: BaseException) -> str:
    """One line for a reason column: the error's type and the start of its message."""
    message = " ".join(str(error).split())
    return f"{type(error).__name__}: {message}"[:300]
