"""The "Sales pipeline" dashboard app against the real MariaDB, moto S3 and Airflow's metadata DB.

Every panel's JSON is compared with what plain SQL over the tables gives (read whole, computed here
in Python, not with the dashboard's statements) and with numbers worked out by hand from the known
state in ``tests/support/dashboard_data.py``. Authentication uses real JWTs from Airflow's auth
manager, the way the API server validates them.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from salesflow.dashboard import panels
from salesflow.dashboard.charts import compact, hbar_chart, nice_ticks
from salesflow.dashboard.render import PANELS
from tests.support import dashboard_data as data
from tests.support.services import mysql_connection

FIGURE = re.compile(r'data-figure="(\w+)">([^<]*)<')


@pytest.fixture(scope="module")
def token(airflow_db) -> str:
    """A JWT as the UI holds it: issued by Airflow's auth manager for the simple manager's admin."""
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    return init_auth_manager().generate_jwt(SimpleAuthManagerUser(username="admin", role="admin"))


@pytest.fixture
def dag_id(monkeypatch) -> str:
    """A DAG id of the test's own: other tests' runs in the shared metadata DB stay out of view."""
    dag_id = f"sales_pipeline_{uuid.uuid4().hex[:6]}"
    monkeypatch.setattr(panels, "DAG_ID", dag_id)
    return dag_id


def make_client(settings, token: str | None = None):
    from fastapi.testclient import TestClient

    from salesflow.dashboard.app import create_app

    client = TestClient(create_app(settings))
    if token:
        client.headers["Authorization"] = f"Bearer {token}"
    return client


@pytest.fixture
def filled(environment, dag_id):
    """A database, bucket and Airflow history in the known state; returns (settings, ledger ids)."""
    settings = environment("dash")
    conn = mysql_connection(settings.database)
    try:
        ids = data.fill_ledger(conn, settings.tables, settings.bucket)
        data.fill_marts(conn, settings.tables)
    finally:
        conn.close()
    upload_source_files(settings)
    add_dag_runs(dag_id)
    return settings, ids


def upload_source_files(settings) -> None:
    from salesflow.storage import s3_hook

    hook = s3_hook()
    for key in ("sales_data/w1.csv", "sales_data/sub/w2.csv", "sales_data/w3.csv"):
        hook.load_string("a,b\n1,2\n", key=key, bucket_name=settings.bucket)
    # Not waiting: another prefix, and a folder marker.
    hook.load_string("x", key="sales_data_processed/old.csv", bucket_name=settings.bucket)
    hook.load_string("", key="sales_data/empty_folder/", bucket_name=settings.bucket)


def add_dag_runs(dag_id: str) -> None:
    """A good run that ended 30 hours ago, then a failed one and a running one (not good runs)."""
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from airflow.utils.types import DagRunType

    now = datetime.now(UTC)
    with create_session() as session:
        for run_id, state, ended in (
            ("manual__good", DagRunState.SUCCESS, now - timedelta(hours=30)),
            ("manual__failed", DagRunState.FAILED, now - timedelta(hours=1)),
            ("manual__running", DagRunState.RUNNING, None),
        ):
            run = DagRun(
                dag_id=dag_id,
                run_id=run_id,
                run_type=DagRunType.MANUAL,
                state=state,
                start_date=now - timedelta(hours=31),
                run_after=now - timedelta(hours=31),
            )
            run.end_date = ended
            session.add(run)


def query(settings, statement: str, params: tuple = ()) -> list[tuple]:
    conn = mysql_connection(settings.database)
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall())
    finally:
        conn.close()


def ledger_rows(settings) -> list[dict]:
    columns = ["id", "object_key", "status", "run_id", "rows_read", "rows_loaded", "rows_rejected", "reason"]
    extra = ["max_sales_date", "claimed_at", "updated_at", "attempts"]
    rows = query(settings, f"SELECT {', '.join(columns + extra)} FROM {settings.tables.ledger}")
    return [dict(zip(columns + extra, row, strict=True)) for row in rows]


def database_now(settings) -> datetime:
    return query(settings, "SELECT CURRENT_TIMESTAMP(6)")[0][0]


# ------------------------------------------------------------------------------------ the API
def test_outcomes_per_day_equal_the_ledger(filled, token):
    settings, _ = filled
    body = make_client(settings, token).get("/api/outcomes").json()
    today = database_now(settings).date()
    days = [(today - timedelta(days=29 - i)).isoformat() for i in range(30)]
    assert body["days"] == days
    expected: dict[str, list[int]] = {s: [0] * 30 for s in panels.OUTCOMES}
    for row in ledger_rows(settings):
        day = row["updated_at"].date().isoformat()
        if row["status"] in expected and day in days:
            expected[row["status"]][days.index(day)] += 1
    assert body["files"] == expected
    # Worked out by hand: a1 is 45 days old; CLAIMED and VALIDATED are in flight, not outcomes.
    assert body["totals"] == {
        "LOADED": 3,
        "QUARANTINED": 2,
        "DUPLICATE": 1,
        "FAILED": 1,
        "SUPERSEDED": 1,
        "GONE": 0,
    }
    assert (body["rows_loaded"], body["rows_rejected"]) == (990 + 500 + 197, 10 + 0 + 3)


def test_runs_equal_the_ledger_per_run(filled, token):
    settings, _ = filled
    body = make_client(settings, token).get("/api/runs").json()
    per_run: dict[str, dict] = defaultdict(lambda: Counter())
    last_change: dict[str, datetime] = {}
    for row in ledger_rows(settings):
        counts = per_run[row["run_id"]]
        counts["files"] += 1
        for name in ("rows_read", "rows_loaded", "rows_rejected"):
            counts[name] += row[name] or 0
        last_change[row["run_id"]] = max(last_change.get(row["run_id"], row["updated_at"]), row["updated_at"])
    expected = [
        {"run_id": run_id, "last_change": last_change[run_id].isoformat(), **per_run[run_id]}
        for run_id in sorted(per_run, key=lambda r: last_change[r])
    ]
    shown = [
        {k: r[k] for k in ("run_id", "last_change", "files", "rows_read", "rows_loaded", "rows_rejected")}
        for r in body["runs"]
    ]
    assert shown == expected
    # By hand: run A's superseded file changed yesterday, after run B (two days ago).
    assert [(r["run_id"], r["files"], r["rows_loaded"]) for r in body["runs"]] == [
        ("manual__B", 4, 1490),
        ("scheduled__A", 2, 138),
        ("manual__C", 5, 197),
    ]


def test_rejects_by_reason_are_those_of_the_last_30_days(filled, token):
    settings, _ = filled
    body = make_client(settings, token).get("/api/rejects").json()
    since = database_now(settings).date() - timedelta(days=29)
    recent = {r["id"] for r in ledger_rows(settings) if r["updated_at"].date() >= since}
    rows = query(settings, f"SELECT ledger_id, reason_code, row_count FROM {settings.tables.ledger}_rejects")
    expected: dict[str, Counter] = defaultdict(Counter)
    for ledger_id, code, count in rows:
        if ledger_id in recent:
            expected[code]["rows"] += count
            expected[code]["files"] += 1
    assert body["since"] == since.isoformat()
    assert {r["reason_code"]: {"rows": r["rows"], "files": r["files"]} for r in body["reasons"]} == expected
    # By hand: a1's reject (45 days ago) is out of the window; the most rows first.
    assert body["reasons"] == [
        {"reason_code": "invalid_type:price", "rows": 9, "files": 2},
        {"reason_code": "unknown_customer", "rows": 4, "files": 1},
    ]


def test_quarantined_files_newest_first_with_reason_and_where_they_are(filled, token):
    settings, _ = filled
    body = make_client(settings, token).get("/api/quarantined").json()
    rows = sorted(
        (r for r in ledger_rows(settings) if r["status"] == "QUARANTINED"), key=lambda r: r["updated_at"]
    )
    assert [(f["id"], f["object_key"], f["reason"]) for f in body["files"]] == [
        (r["id"], r["object_key"], r["reason"]) for r in reversed(rows)
    ]
    assert [f["error_key"] for f in body["files"]] == [
        "sales_data_error/<script>alert(1)</script>.csv",
        "sales_data_error/b_bad.csv",
    ]
    assert body["files"][1]["reason"] == "missing_columns:total_cost"


def test_files_in_flight_with_their_age_and_the_stuck_ones(filled, token):
    settings, _ = filled
    body = make_client(settings, token).get("/api/in_flight").json()
    now = database_now(settings)
    rows = sorted(
        (r for r in ledger_rows(settings) if r["status"] in ("CLAIMED", "VALIDATED")),
        key=lambda r: r["updated_at"],
    )
    assert body["total"] == len(rows) == 2
    assert [(f["object_key"], f["status"]) for f in body["files"]] == [
        (r["object_key"], r["status"]) for r in rows
    ]
    for shown, row in zip(body["files"], rows, strict=True):
        assert abs(shown["unchanged_seconds"] - (now - row["updated_at"]).total_seconds()) < 5
    # 180 minutes unchanged is past the 120 minutes of base.yaml; 1 minute is not.
    assert [f["stuck"] for f in body["files"]] == [True, False]


def test_freshness_from_the_ledger_the_source_prefix_and_airflow(filled, token):
    settings, _ = filled
    body = make_client(settings, token).get("/api/freshness").json()
    loaded = [r for r in ledger_rows(settings) if r["status"] == "LOADED"]
    # The superseded version's later sales date (2024-05-31) no longer counts.
    assert body["latest_sales_date"] == max(r["max_sales_date"] for r in loaded).isoformat() == "2024-04-30"
    assert body["last_loaded_at"] == max(r["updated_at"] for r in loaded).isoformat()
    run = body["last_good_run"]
    assert run["run_id"] == "manual__good"
    assert abs(run["age_seconds"] - 30 * 3600) < 60 and run["stale"] is True
    source = body["source"]
    assert (source["files"], source["capped"], source["error"]) == (3, False, None)
    assert source["oldest_key"] in {"sales_data/w1.csv", "sales_data/sub/w2.csv", "sales_data/w3.csv"}
    assert 0 <= source["oldest_age_seconds"] < 600 and source["stale"] is False


def test_freshness_says_when_the_listing_is_capped(filled, token):
    settings, _ = filled
    capped = settings.model_copy(
        update={"dashboard": settings.dashboard.model_copy(update={"max_listed_files": 2})}
    )
    source = make_client(capped, token).get("/api/freshness").json()["source"]
    assert (source["files"], source["capped"]) == (2, True)


def test_revenue_per_month_fills_months_without_sales(filled, token):
    settings, _ = filled
    body = make_client(settings, token).get("/api/revenue").json()
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for month, total in query(
        settings, f"SELECT sales_month, total_sales FROM {settings.tables.sales_team_data_mart}"
    ):
        totals[month] += total
    shown = {m["month"]: Decimal(m["revenue"]) for m in body["months"]}
    assert {m: v for m, v in shown.items() if v} == totals
    assert list(shown) == ["2024-01", "2024-02", "2024-03", "2024-04"] and shown["2024-03"] == 0
    assert (body["latest_month"], Decimal(body["latest_revenue"])) == ("2024-04", Decimal("2500.14"))


def test_top_sellers_of_the_latest_month_with_incentives(filled, token):
    settings, _ = filled
    body = make_client(settings, token).get("/api/top_sellers").json()
    rows = query(
        settings,
        f"SELECT sales_month, store_id, sales_person_id, total_sales, incentive FROM {settings.tables.sales_team_data_mart}",
    )
    latest = max(r[0] for r in rows)
    expected = sorted((r for r in rows if r[0] == latest), key=lambda r: -r[3])
    assert body["month"] == latest == "2024-04"
    assert [
        (s["store_id"], s["sales_person_id"], Decimal(s["total_sales"]), Decimal(s["incentive"]))
        for s in body["sellers"]
    ] == [r[1:] for r in expected]
    assert body["sellers"][0]["full_name"] == "Sara Verma"


def test_analytics_panels_say_no_data_until_the_tables_hold_rows(filled, token):
    settings, _ = filled
    client = make_client(settings, token)
    assert client.get("/api/segments").json() == {"snapshot_month": None, "segments": [], "customers": 0}
    assert client.get("/api/movers").json() == {"month": None, "movers": []}
    for name in ("segments", "movers"):
        assert "No data yet" in client.get(f"/panels/{name}").text


def test_segments_and_movers_from_the_analytics_tables(filled, token):
    settings, _ = filled
    conn = mysql_connection(settings.database)
    try:
        data.fill_analytics(conn, settings.tables)
    finally:
        conn.close()
    client = make_client(settings, token)
    segments = client.get("/api/segments").json()
    rows = query(settings, f"SELECT snapshot_month, segment FROM {settings.tables.customer_segments}")
    latest = max(month for month, _ in rows)
    assert segments["snapshot_month"] == latest == "2024-04"
    assert {s["segment"]: s["customers"] for s in segments["segments"]} == Counter(
        s for m, s in rows if m == latest
    )
    assert segments["segments"][0] == {"segment": "At Risk", "customers": 2} and segments["customers"] == 4
    movers = client.get("/api/movers").json()
    assert movers["month"] == "2024-04"
    # Ranked by the size of the change, up or down; no prior month (NULL) is no move.
    assert [(m["level"], m["entity_id"], Decimal(m["mom_change"])) for m in movers["movers"]] == [
        ("product", 2, Decimal("-90.00")),
        ("product", 1, Decimal("40.00")),
        ("product", 3, Decimal("20.00")),
        ("store", 121, Decimal("-30.00")),
    ]
    assert movers["movers"][2]["mom_change_pct"] is None
    html = client.get("/panels/movers").text
    assert "sugar" in html and "-90.00 (-100.00%)" in html


def test_an_empty_database_gives_empty_panels_not_errors(environment, dag_id, token):
    settings = environment("dash_empty")
    client = make_client(settings, token)
    bodies = {name: client.get(f"/api/{name}") for name in PANELS}
    assert {name: r.status_code for name, r in bodies.items()} == dict.fromkeys(PANELS, 200)
    assert bodies["runs"].json() == {
        "runs": [],
        "latency": {"files": 0, "p50_seconds": None, "p95_seconds": None},
    }
    assert bodies["outcomes"].json()["totals"] == dict.fromkeys(panels.OUTCOMES, 0)
    assert bodies["revenue"].json() == {"months": [], "latest_month": None, "latest_revenue": None}
    freshness = bodies["freshness"].json()
    assert freshness["last_good_run"] is None and freshness["latest_sales_date"] is None
    assert freshness["source"]["files"] == 0 and freshness["source"]["error"] is None
    for name in PANELS:
        assert client.get(f"/panels/{name}").status_code == 200


def test_s3_down_shows_in_the_freshness_panel_only(environment, dag_id, token, monkeypatch):
    settings = environment("dash_nos3")
    monkeypatch.setenv(
        "AIRFLOW_CONN_SALESFLOW_S3",
        '{"conn_type": "aws", "login": "k", "password": "s", "extra": {"endpoint_url": "http://127.0.0.1:9"}}',
    )
    client = make_client(settings, token)
    source = client.get("/api/freshness").json()["source"]
    assert source["error"] == "EndpointConnectionError" and source["files"] == 0
    assert "S3 did not answer" in client.get("/panels/freshness").text


# ------------------------------------------------------------------------------- the fragments
def test_fragments_show_the_json_numbers(filled, token):
    settings, _ = filled
    client = make_client(settings, token)
    outcomes = client.get("/api/outcomes").json()
    shown = dict(FIGURE.findall(client.get("/panels/outcomes").text))
    assert shown["files_loaded"] == str(outcomes["totals"]["LOADED"]) == "3"
    assert shown["files_quarantined"] == "2"
    assert shown["rows_loaded"] == f"{outcomes['rows_loaded']:,}" == "1,687"
    revenue = dict(FIGURE.findall(client.get("/panels/revenue").text))
    assert revenue["latest_revenue"] == "2,500.14"
    freshness = client.get("/panels/freshness").text
    assert 'class="figure stale"' in freshness  # the last good run is 30 hours old
    assert dict(FIGURE.findall(freshness))["files_waiting"] == "3"
    charts = client.get("/panels/outcomes").text
    assert charts.count("<svg") >= 2 and "files</text>" in charts  # the chart and its unit


def test_data_values_are_escaped(filled, token):
    settings, _ = filled
    html = make_client(settings, token).get("/panels/quarantined").text
    assert "<script>" not in html
    assert "sales_data/&lt;script&gt;alert(1)&lt;/script&gt;.csv" in html


def test_the_page_and_its_assets_come_from_the_app_only(filled, token):
    settings, _ = filled
    client = make_client(settings, token)
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'self'" in page.headers["content-security-policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets and not [a for a in assets if "//" in a or a.startswith("/")], assets
    for asset in assets:
        assert client.get(f"/{asset}").status_code == 200, asset
    assert set(re.findall(r'data-panel="(\w+)"', page.text)) == set(PANELS)
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/api/nothing").status_code == 404


# ------------------------------------------------------------------------------------ the login
ROUTES = [
    "/",
    "/static/dashboard.js",
    *(f"/api/{name}" for name in PANELS),
    *(f"/panels/{name}" for name in PANELS),
]


def test_anonymous_requests_are_refused(filled):
    settings, _ = filled
    client = make_client(settings)
    for route in ROUTES[1:]:
        response = client.get(route)
        assert response.status_code == 401, route
        assert "LOADED" not in response.text and "sales_data" not in response.text
    # A made-up or foreign token is no login either.
    client.headers["Authorization"] = "Bearer not-a-jwt"
    assert client.get("/api/outcomes").status_code == 403


def test_an_anonymous_visit_to_the_page_goes_to_the_login(filled):
    settings, _ = filled
    response = make_client(settings).get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/auth/login?next=")
    assert "Sales pipeline" not in response.text


def test_the_ui_cookie_and_a_bearer_token_are_both_accepted(filled, token):
    settings, _ = filled
    with_header = make_client(settings, token)
    assert with_header.get("/api/outcomes").json()["totals"]["LOADED"] == 3
    with_cookie = make_client(settings)
    with_cookie.cookies.set("_token", token)
    for route in ROUTES:
        assert with_cookie.get(route).status_code == 200, route


def test_airflow_mounts_the_plugin_behind_its_login(filled, token):
    """The real API server app: the plugin is found in plugins/, mounted, listed, and protected."""
    from airflow import plugins_manager
    from airflow.api_fastapi.app import create_app
    from fastapi.testclient import TestClient

    plugins_manager._get_plugins.cache_clear()
    plugins_manager._get_ui_plugins.cache_clear()
    plugins_manager.get_fastapi_plugins.cache_clear()
    client = TestClient(create_app("core"))
    assert client.get("/salesflow/api/outcomes").status_code == 401
    assert client.get("/salesflow/", follow_redirects=False).status_code == 303
    client.cookies.set("_token", token)
    assert client.get("/salesflow/").status_code == 200
    assert client.get("/salesflow/api/outcomes").json()["totals"]["LOADED"] == 3
    listed = client.get("/api/v2/plugins").json()["plugins"]
    (plugin,) = [p for p in listed if p["name"] == "salesflow_dashboard"]
    (view,) = plugin["external_views"]
    assert (view["href"], view["url_route"], view["destination"]) == ("/salesflow/", "sales-pipeline", "nav")


# ------------------------------------------------------------------------------------ the charts
def test_nice_ticks_cover_the_maximum_with_round_steps():
    assert nice_ticks(7, integer=True) == [0, 2, 4, 6, 8]
    assert nice_ticks(3, integer=True) == [0, 1, 2, 3]
    assert nice_ticks(2500.14) == [0, 1000, 2000, 3000]
    assert nice_ticks(1687, integer=True) == [0, 500, 1000, 1500, 2000]
    assert nice_ticks(0) == [0.0, 1.0]
    assert (compact(1_250_000), compact(34_500), compact(12), compact(0.5)) == ("1.25M", "34.5k", "12", "0.5")


def test_horizontal_bars_grow_both_ways_from_zero():
    svg = hbar_chart(["up", "down"], [Decimal("40"), Decimal("-90")], title="t", unit="u", colors=["g", "r"])
    bars = re.findall(r'<rect x="([\d.]+)" y="[\d.]+" width="([\d.]+)"', svg)
    (up_x, up_w), (down_x, down_w) = ((float(x), float(w)) for x, w in bars)
    assert down_x + down_w == pytest.approx(up_x, abs=0.2)  # both start at the zero line
    assert down_w == pytest.approx(up_w * 90 / 40, rel=0.01)


def test_landed_to_committed_of_the_last_day_and_what_started_each_run(environment, dag_id, token):
    """Issue 25: the runs panel's p50 and p95 from landing (LastModified, UTC) to committed (the
    database's clock), over the files loaded in the last day; and which runs events started."""
    settings = environment("dash_latency")
    conn = mysql_connection(settings.database)
    rows = [  # (key, status, run id, seconds from landing to committed, committed this long ago)
        ("a.csv", "LOADED", "asset_triggered__2026-12-06T10:00:00+00:00", 10, 60),
        ("b.csv", "LOADED", "asset_triggered__2026-12-06T10:00:00+00:00", 20, 60),
        ("c.csv", "LOADED", "scheduled__2026-12-06T00:00:00+00:00", 30, 3600),
        ("d.csv", "LOADED", "manual__2026-12-06T09:00:00+00:00", 100, 7200),
        ("old.csv", "LOADED", "scheduled__2026-12-04T00:00:00+00:00", 5, 2 * 86400),
        ("bad.csv", "QUARANTINED", "scheduled__2026-12-06T00:00:00+00:00", 1, 60),
    ]
    try:
        with conn.cursor() as cursor:
            for key, status, run_id, took, ago in rows:
                cursor.execute(
                    f"INSERT INTO {settings.tables.ledger} (bucket, object_key, etag, size_bytes, status, run_id,"
                    " version_key, landed_at, updated_at) VALUES (%s, %s, 'e', 1, %s, %s, SHA2(%s, 256),"
                    " UTC_TIMESTAMP(6) - INTERVAL %s SECOND, NOW(6) - INTERVAL %s SECOND)",
                    (settings.bucket, f"sales_data/{key}", status, run_id, key, took + ago, ago),
                )
        conn.commit()
    finally:
        conn.close()
    body = make_client(settings, token).get("/api/runs").json()
    # Four files loaded in the last day took 10, 20, 30 and 100 s: nearest ranks 2 and 4 of 4.
    assert body["latency"] == {"files": 4, "p50_seconds": 20.0, "p95_seconds": 100.0}
    assert {r["run_id"].split("__")[0]: r["started_by"] for r in body["runs"]} == {
        "asset_triggered": "event",
        "scheduled": "timetable",
        "manual": "manual",
    }
    html = make_client(settings, token).get("/panels/runs").text
    assert 'data-figure="latency_p50">20 s<' in html and 'data-figure="latency_p95">1 min<' in html
