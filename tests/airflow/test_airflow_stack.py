"""A real Airflow (scripts/airflow.sh: standalone, LocalExecutor, PostgreSQL metadata DB) driven the
way users drive it: files dropped in S3, a run triggered through the REST API, a backfill over a
date range, the UI checked in headless Chromium. Everything started here is stopped here.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from include.sample_data.generate import bad_case_files, good_files
from tests.support.airflow_stack import ARTIFACTS, Api, airflow_stack, browser_page, log_in
from tests.support.e2e import expected_marts, marts, query, upload, valid_rows

pytestmark = [pytest.mark.heavy, pytest.mark.e2e]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, mysql_database):
    # As `make airflow` runs it: the jobs are clients of the stack's Spark Connect server.
    with airflow_stack(tmp_path_factory.mktemp("airflow-stack"), {"SALESFLOW_SPARK": "connect"}) as started:
        yield started


def test_rest_trigger_schedule_backfill_and_ui(stack):
    settings = stack.settings
    api = Api(stack.base, stack.password)
    api.wait_for_dag("sales_pipeline")

    # 1. Files land; a run triggered through the REST API loads them.
    first = good_files(rows=1500, files=2, seed=31, start_month=date(2024, 1, 1), months=2)
    bad = bad_case_files(seed=31, start_month=date(2024, 1, 1))
    upload(settings, first + bad)
    api.wait_for_dag("segment_counts")
    api.call("PATCH", "/dags/segment_counts", {"is_paused": False})  # scheduled on the segments Asset
    api.call("PATCH", "/dags/sales_pipeline", {"is_paused": False})
    triggered = api.call("POST", "/dags/sales_pipeline/dagRuns", {"logical_date": None})
    # Unpausing also schedules the latest interval: whichever run starts first takes the files, the
    # other finds none and is skipped after its short sensor timeout. Both end green.
    runs = api.wait_for_runs("sales_pipeline", 2)
    assert {r["dag_run_id"]: r["state"] for r in runs}[triggered["dag_run_id"]] == "success"
    assert all(r["state"] == "success" for r in runs), runs
    (worker_run,) = {row[0] for row in query(settings, "SELECT DISTINCT run_id FROM file_ledger")}
    states = api.task_states("sales_pipeline", worker_run)
    assert set(states.values()) == {"success", "skipped"}
    assert [t for t, s in states.items() if s == "skipped"] == ["keep_run_files"]
    transform_log = api.task_log("sales_pipeline", worker_run, "transform_and_load", 1)
    assert "the job runs as a client of the Spark Connect server sc://localhost:" in transform_log
    assert marts(settings) == expected_marts(valid_rows(first + bad))
    statuses = dict(query(settings, "SELECT status, COUNT(*) FROM file_ledger GROUP BY status"))
    assert statuses == {"LOADED": 4, "QUARANTINED": 3}
    # The published segments Asset triggered the consumer DAG, which read the fresh snapshot.
    consumer_runs = api.wait_for_runs("segment_counts", 1)
    assert consumer_runs[0]["run_type"] == "asset_triggered" and consumer_runs[0]["state"] == "success"

    # 2. A backfill over a past date range ends like one manual run over the same files.
    later = good_files(rows=900, files=2, seed=32, start_month=date(2024, 7, 1), months=1)
    upload(settings, later)
    today = datetime.now(UTC).date()
    before = {r["dag_run_id"] for r in api.runs("sales_pipeline")}
    api.call(
        "POST",
        "/backfills",
        {
            "dag_id": "sales_pipeline",
            "from_date": f"{today - timedelta(days=3)}T00:00:00Z",
            "to_date": f"{today - timedelta(days=2)}T00:00:00Z",
            "max_active_runs": 1,
            "reprocess_behavior": "none",
        },
    )
    runs = api.wait_for_runs("sales_pipeline", len(before) + 1)
    backfill_runs = [r for r in runs if r["dag_run_id"] not in before]
    assert backfill_runs and all(r["run_type"] == "backfill" for r in backfill_runs)
    assert all(r["state"] == "success" for r in backfill_runs), backfill_runs
    assert marts(settings) == expected_marts(valid_rows(first + bad + later))
    assert query(settings, "SELECT COUNT(*) FROM sales") == [(len(valid_rows(first + bad + later)),)]

    # 3. The UI: log in, open the triggered run, see it and its tasks successful; keep a screenshot.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "airflow-ui-run.png"
    ui_check(stack.base, stack.password, worker_run, screenshot)
    assert screenshot.stat().st_size > 10_000


def ui_check(base: str, password: str, run_id: str, screenshot: Path) -> None:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect

    with browser_page(viewport_height=900) as page:
        log_in(page, base, password)
        quoted = urllib.request.quote(run_id, safe="")
        run_page = f"{base}/dags/sales_pipeline/runs/{quoted}"
        try:
            page.goto(run_page, wait_until="networkidle")
        except PlaywrightError as error:
            # Seen once in CI: the single-page UI's own navigation right after the login aborted
            # this one (net::ERR_ABORTED). A second request of the same page is what a user does.
            if "ERR_ABORTED" not in str(error):
                raise
            page.goto(run_page, wait_until="networkidle")
        expect(page.get_by_text(run_id).first).to_be_visible(timeout=30_000)
        expect(page.get_by_text("Success").first).to_be_visible(timeout=30_000)
        # The run page lists its task instances, one table row each with its state.
        for task_id in ("claim_files", "quarantine_invalid_files", "transform_and_load", "run_report"):
            row = page.locator("tr").filter(has_text=task_id)
            expect(row.filter(has_text="Success")).to_have_count(1, timeout=30_000)
        expect(page.locator("tr").filter(has_text="keep_run_files").filter(has_text="Skipped")).to_have_count(
            1
        )
        page.screenshot(path=str(screenshot), full_page=True)
