"""The analytics after runs in any order (SPEC "Analytics"): whole DAG, real services, and a
recomputation in plain Python with Decimal from the loaded facts (tests/support/analytics_reference)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from include.sample_data.generate import good_files
from tests.support.e2e import analytics, expected_analytics, marts, put, query, run_dag, state, upload

pytestmark = pytest.mark.e2e


@pytest.mark.heavy  # five whole DAG runs: make test-heavy
def test_months_out_of_order_with_a_correction_and_a_resend_end_as_one_run(environment):
    march = good_files(rows=400, files=2, seed=61, start_month=date(2024, 3, 1), months=1)
    january = good_files(rows=300, files=1, seed=62, start_month=date(2024, 1, 1), months=1)
    corrected = good_files(rows=250, files=1, seed=63, start_month=date(2024, 3, 1), months=1)[0]
    last_year = good_files(rows=200, files=1, seed=64, start_month=date(2023, 3, 1), months=1)

    # Three runs: a later month first, then an earlier one that becomes the data's first month
    # (with a re-sent copy), then a correction of a March file and the year before's March.
    split = environment("analytics_split")
    upload(split, march)
    run_dag(datetime(2024, 6, 1, tzinfo=UTC))
    upload(split, january)
    put(split, "sales_data/copy_of_march.csv", march[0].content)
    run_dag(datetime(2024, 6, 2, tzinfo=UTC))
    put(split, f"sales_data/{march[1].name}", corrected.content)  # same key, new bytes
    upload(split, last_year)
    last = run_dag(datetime(2024, 6, 3, tzinfo=UTC))

    statuses = dict(query(split, "SELECT object_key, status FROM file_ledger WHERE status <> 'LOADED'"))
    assert statuses == {
        f"sales_data/{march[1].name}": "SUPERSEDED",
        "sales_data/copy_of_march.csv": "DUPLICATE",
    }
    comparison, segments = analytics(split)
    assert (comparison, segments) == expected_analytics(split)
    # The data spans 2023-03 to 2024-03: March 2024 has its year-before totals, April none.
    assert {row[2] for row in comparison} == {
        "2023-03",
        "2023-04",
        "2024-01",
        "2024-02",
        "2024-03",
    }
    assert all(row[10] is not None for row in comparison if row[2] == "2024-03")

    # One run over the final files gives the same tables.
    together = environment("analytics_together")
    upload(together, [march[0], january[0], last_year[0]])
    put(together, f"sales_data/{march[1].name}", corrected.content)
    run_dag(datetime(2024, 6, 1, tzinfo=UTC))
    assert analytics(together) == (comparison, segments)
    assert marts(together) == marts(split)

    # The last run again changes nothing.
    before = state(split)
    again = run_dag(datetime(2024, 6, 3, tzinfo=UTC), mark_success_pattern="^wait_for_files$")
    assert again.run_id == last.run_id
    assert state(split) == before
