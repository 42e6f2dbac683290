"""The "Sales pipeline" page in a real Airflow (scripts/airflow.sh), after a real run, in headless
Debian Chromium: reached from the UI's nav, its numbers equal the database's, no console error, no
request to another host. The screenshot goes to var/test-artifacts/dashboard.png.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import pytest

from include.sample_data.generate import bad_case_files, good_files, upload
from tests.support.airflow_stack import ARTIFACTS, Api, Stack, airflow_stack, browser_page, log_in
from tests.support.e2e import query

pytestmark = [pytest.mark.heavy, pytest.mark.e2e]
FIGURES = ("files_loaded", "files_quarantined", "rows_loaded", "latest_revenue", "last_good_run_id")


@pytest.fixture(scope="module")
def stack(tmp_path_factory, mysql_database):
    with airflow_stack(tmp_path_factory.mktemp("dashboard-stack")) as running:
        yield running


def database_figures(settings, api: Api) -> dict[str, str]:
    """What the page must show, from the ledger, the mart, the facts and Airflow's REST API."""
    ledger, mart = settings.tables.ledger, settings.tables.sales_team_data_mart
    window = "updated_at >= CURRENT_DATE - INTERVAL 29 DAY"
    counts = dict(query(settings, f"SELECT status, COUNT(*) FROM {ledger} WHERE {window} GROUP BY status"))
    ((rows_loaded,),) = query(
        settings, f"SELECT SUM(rows_loaded) FROM {ledger} WHERE status = 'LOADED' AND {window}"
    )
    ((facts,),) = query(settings, f"SELECT COUNT(*) FROM {settings.tables.sales}")
    assert rows_loaded == facts  # the ledger's count is the facts table's
    ((month, revenue),) = query(
        settings,
        f"SELECT sales_month, SUM(total_sales) FROM {mart} WHERE sales_month = (SELECT MAX(sales_month) FROM {mart}) GROUP BY sales_month",
    )
    ((from_facts,),) = query(
        settings, f"SELECT SUM(total_cost) FROM {settings.tables.sales} WHERE sales_month = '{month}'"
    )
    assert revenue == from_facts
    good = [r for r in api.runs("sales_pipeline") if r["state"] == "success"]
    return {
        "files_loaded": f"{counts['LOADED']:,}",
        "files_quarantined": f"{counts['QUARANTINED']:,}",
        "rows_loaded": f"{rows_loaded:,}",
        "latest_revenue": f"{Decimal(revenue):,.2f}",
        "last_good_run_id": max(good, key=lambda r: r["end_date"])["dag_run_id"],
    }


@dataclass
class Seen:
    figures: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    elsewhere: list[str] = field(default_factory=list)
    panels: list[str] = field(default_factory=list)
    url: str = ""


def open_dashboard(stack: Stack, screenshot) -> Seen:
    """Logs in, opens the page from the Browse menu, waits for every panel, reads the figures."""
    seen = Seen()
    # Tall enough for the whole page inside the UI's iframe.
    with browser_page(viewport_height=2500) as page:
        page.on("request", lambda r: _note_request(seen, stack.base, r.url))
        log_in(page, stack.base, stack.password)
        page.on("console", lambda m: m.type == "error" and seen.errors.append(m.text))
        page.on("pageerror", lambda error: seen.errors.append(str(error)))
        page.get_by_role("button", name="Browse").click()
        page.get_by_role("menuitem", name="Sales pipeline").click()
        frame = page.frame_locator("iframe[title='Sales pipeline']")
        panels = frame.locator("section[data-panel]")
        frame.locator("section[data-state=ready]").nth(panels.count() - 1).wait_for(timeout=60_000)
        seen.url = page.url
        seen.panels = [p.get_attribute("data-state") or "" for p in panels.all()]
        for name in FIGURES[:-1]:
            seen.figures[name] = frame.locator(f'[data-figure="{name}"]').inner_text()
        note = frame.locator('[data-figure="last_good_run"] + .note')
        seen.figures["last_good_run_id"] = note.inner_text()
        page.wait_for_timeout(500)
        # The page inside the frame, down to its last panel (the viewport is taller).
        height = frame.locator("main").evaluate("main => main.getBoundingClientRect().bottom")
        page.screenshot(path=str(screenshot), clip={"x": 0, "y": 0, "width": 1400, "height": height + 24})
    return seen


def _note_request(seen: Seen, base: str, url: str) -> None:
    if not (url.startswith(f"{base}/") or url.startswith(f"blob:{base}/") or url.startswith("data:")):
        seen.elsewhere.append(url)


def test_dashboard_in_the_ui_shows_the_databases_numbers(stack):
    settings = stack.settings
    api = Api(stack.base, stack.password)
    api.wait_for_dag("sales_pipeline")
    files = good_files(rows=1500, files=2, seed=51, start_month=date(2024, 1, 1), months=2)
    upload(
        files + bad_case_files(seed=51, start_month=date(2024, 1, 1)),
        settings.bucket,
        settings.prefixes.source,
    )
    api.call("PATCH", "/dags/sales_pipeline", {"is_paused": False})
    api.call("POST", "/dags/sales_pipeline/dagRuns", {"logical_date": None})
    # Unpausing also schedules the latest interval: one run takes the files, the other is skipped.
    runs = api.wait_for_runs("sales_pipeline", 2)
    assert all(r["state"] == "success" for r in runs), runs
    expected = database_figures(settings, api)

    # The app refuses an anonymous caller and answers the REST API's token, also in the real server.
    with pytest.raises(urllib.error.HTTPError) as refused:
        api.get("/salesflow/api/outcomes", token=False)
    assert refused.value.code == 401
    assert f"{api.get('/salesflow/api/outcomes')['totals']['LOADED']:,}" == expected["files_loaded"]

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    seen = open_dashboard(stack, screenshot)
    assert "/plugin/sales-pipeline" in seen.url, seen.url
    assert seen.panels and set(seen.panels) == {"ready"}, seen.panels
    assert seen.figures == expected
    assert seen.errors == [], seen.errors
    assert seen.elsewhere == [], seen.elsewhere
    assert screenshot.stat().st_size > 20_000
