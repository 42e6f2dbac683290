"""MySQL or S3 not answering at the start: one clear error naming the endpoint, nothing written."""

from __future__ import annotations

import json

import pytest

from include.processes import free_port
from salesflow.db import DatabaseUnavailableError, connect
from salesflow.steps.claim import claim_new_files
from salesflow.storage import StorageUnavailableError


def test_s3_not_answering_names_the_endpoint_and_claims_nothing(monkeypatch, settings, db):
    port = free_port()  # nothing listens there
    monkeypatch.setenv(
        "AIRFLOW_CONN_SALESFLOW_S3",
        json.dumps({"conn_type": "aws", "login": "k", "password": "sf-secret-value",
                    "extra": {"endpoint_url": f"http://127.0.0.1:{port}", "region_name": "us-east-1",
                              "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 1}}}),
    )  # fmt: skip
    with db.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM file_ledger")
        (before,) = cursor.fetchone()
    with pytest.raises(StorageUnavailableError) as error:
        claim_new_files(settings, "run-unreachable")
    assert str(error.value).startswith(f"cannot reach S3 at http://127.0.0.1:{port}")
    assert "sf-secret-value" not in str(error.value) and error.value.__cause__ is None
    with db.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM file_ledger")
        assert cursor.fetchone() == (before,)


def test_mysql_not_answering_names_the_endpoint(monkeypatch, settings):
    port = free_port()
    monkeypatch.setenv(
        "AIRFLOW_CONN_SALESFLOW_MYSQL",
        json.dumps({"conn_type": "mysql", "host": "127.0.0.1", "port": port, "login": "app",
                    "password": "sf-secret-value"}),
    )  # fmt: skip
    with pytest.raises(DatabaseUnavailableError) as error, connect(settings):
        pass
    assert str(error.value) == (
        f"cannot connect to MySQL at 127.0.0.1:{port} as 'app' (connection 'salesflow_mysql'): error 2002"
    )
