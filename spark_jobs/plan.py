"""Plan: the months one batch changes, from the ledger and the summaries (never the facts): its own,
those of an earlier version it supersedes and any month to recompute, and the months of the marts
and analytics that change with them."""

from __future__ import annotations

from dataclasses import dataclass

from salesflow.months import add_months, month_range, shifted
from spark_jobs.analytics import RFM_WINDOW_MONTHS
from spark_jobs.context import JobContext

# A comparison row of month M reads the totals of M, the month before and the year before.
COMPARISON_PRIORS = (0, 1, 12)


@dataclass
class BatchPlan:
    """What one batch changes: its files, the ones it supersedes, the months of each output."""

    file_ids: list[int]
    recompute: list[str]
    superseded: dict[int, str]  # earlier version id -> its key
    superseded_months: dict[int, list[str]]
    touched: list[str]  # months of the marts rewritten
    data_months: list[str]  # every month holding a fact once the batch is in
    comparison_months: list[str]  # months of sales_comparison_mart computed
    comparison_cleared: list[str]  # months of sales_comparison_mart deleted first
    snapshot_months: list[str]  # snapshots of customer_segments computed
    snapshot_cleared: list[str]

    @property
    def replaced(self) -> list[int]:
        return sorted({*self.file_ids, *self.superseded})


def comparison_months_to_rewrite(touched: list[str], before: list[str], after: list[str]) -> set[str]:
    """The months of sales_comparison_mart whose rows can change (SPEC "Analytics").

    A month's rows use its totals, the month before and the year before (``COMPARISON_PRIORS``),
    exist from the data's first month to its last, and have NULL priors before the first: when the
    first or last month moves, the months between the old and new bound (and a year on from the
    first) change too. ``before`` and ``after`` are the data's months without and with the batch.
    """
    months = shifted(touched, COMPARISON_PRIORS)
    if before and after and (before[0], before[-1]) != (after[0], after[-1]):
        firsts, lasts = sorted((before[0], after[0])), sorted((before[-1], after[-1]))
        months |= set(month_range(firsts[0], add_months(firsts[1], 11)))
        months |= set(month_range(lasts[0], lasts[1]))
    return months


def analytics_months(
    months: set[str], before: list[str], after: list[str], *, with_next: bool = False
) -> tuple[list[str], list[str]]:
    """Of the months an analytics table may change in: those to compute, and those to clear first.

    Rows can only exist in the data's months (``with_next``: and the month after each, where a drop
    to nothing shows), within the data's first and last month: a change far back in time (a new
    first month) rewrites those months only, not every calendar month in between.
    """

    def possible(data: list[str]) -> set[str]:
        rows = set(data) | (shifted(data, (1,)) if with_next else set())
        return {m for m in rows if data and data[0] <= m <= data[-1]}

    return sorted(months & possible(after)), sorted(months & (possible(before) | possible(after)))


def plan_batch(job: JobContext, file_ids: list[int], recompute: list[str]) -> BatchPlan:
    """The months this batch changes, from the ledger and the summaries (never the facts)."""
    superseded: dict[int, str] = {}
    if file_ids:
        superseded = dict(job.query("superseded_versions", file_ids, file_ids=len(file_ids)))
    superseded_months = months_of(job, sorted(superseded))
    touched = sorted(
        {m for f in file_ids for m in job.stats_of(f).months}
        | {m for months in superseded_months.values() for m in months}
        | set(recompute)
    )
    before = sorted(row[0] for row in job.query("data_months", []))
    after = sorted(data_months_after(job, before, touched, file_ids, superseded))
    comparison, comparison_cleared = analytics_months(
        comparison_months_to_rewrite(touched, before, after), before, after, with_next=True
    )
    snapshots, snapshots_cleared = analytics_months(shifted(touched, range(RFM_WINDOW_MONTHS)), before, after)
    return BatchPlan(
        file_ids=file_ids,
        recompute=recompute,
        superseded=superseded,
        superseded_months=superseded_months,
        touched=touched,
        data_months=after,
        comparison_months=comparison,
        comparison_cleared=comparison_cleared,
        snapshot_months=snapshots,
        snapshot_cleared=snapshots_cleared,
    )


def months_of(job: JobContext, file_ids: list[int]) -> dict[int, list[str]]:
    """The months each of these file versions has rows in (one query)."""
    months: dict[int, list[str]] = {file_id: [] for file_id in file_ids}
    if file_ids:
        for file_id, month in job.query("months_of_files", file_ids, file_ids=len(file_ids)):
            months[int(file_id)].append(month)
    return {file_id: sorted(found) for file_id, found in months.items()}


def data_months_after(
    job: JobContext, before: list[str], touched: list[str], file_ids: list[int], superseded: dict[int, str]
) -> set[str]:
    """The data's months once the batch is in: a touched month keeps facts of other files, or gets
    this batch's."""
    if not touched:
        return set(before)
    replaced = sorted({*file_ids, *superseded}) or [-1]
    kept = job.query(
        "months_with_other_files", [*touched, *replaced], months=len(touched), file_ids=len(replaced)
    )
    own = {m for f in file_ids for m in job.stats_of(f).months}
    return (set(before) - set(touched)) | {row[0] for row in kept} | own
