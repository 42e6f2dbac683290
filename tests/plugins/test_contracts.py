"""The typed hand-offs between the Airflow tasks and the Spark job: one JSON shape each, checked
where it is read."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from salesflow.contracts import FileOutcome, IntakeFile, JdbcTarget, JobSpec, TransformResult, dumps, loads


def spec() -> JobSpec:
    return JobSpec(
        run_id="manual__2026-12-06",
        as_of_date="2026-12-06",
        mandatory_columns=["customer_id"],
        files=[
            IntakeFile(
                file_id=7,
                object_key="sales_data/a.csv",
                staged_uri="s3a://b/runs/x/a.csv",
                size_bytes=120,
                sha256="ab" * 32,
                as_of_date="2026-12-06",
                columns=["customer_id"],
            )
        ],
        run_uri="s3a://b/runs/x/",
        recompute_months=["2026-11"],
        jdbc=JdbcTarget(host="127.0.0.1", port=3306, user="etl", driver="org.mariadb.jdbc.Driver"),
        database="salesflow",
        tables={"sales": "sales"},
    )


def test_a_spec_and_a_result_come_back_equal_with_their_nested_types():
    written = spec()
    read = loads(dumps(written), JobSpec)
    assert read == written
    assert isinstance(read.files[0], IntakeFile) and isinstance(read.jdbc, JdbcTarget)
    result = TransformResult(
        run_id="r", files={"7": FileOutcome(object_key="k", status="LOADED", rows_read=3)}
    )
    assert loads(dumps(result).encode(), TransformResult) == result


def test_a_field_of_another_version_or_type_is_refused_by_name():
    document = json.loads(dumps(spec()))
    document["files"][0]["size_bytes"] = "120"  # text where a number belongs
    document["jdbc"]["password"] = "x"  # a field the contract does not have
    with pytest.raises(ValidationError) as wrong:
        loads(json.dumps(document), JobSpec)
    places = {tuple(error["loc"]) for error in wrong.value.errors()}
    assert places == {("files", 0, "size_bytes"), ("jdbc", "password")}
