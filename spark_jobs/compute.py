"""Compute: a batch's facts and summaries per file, key and month; with the summaries already loaded
for the months needed (never the facts), the marts of the touched months and the analytics of the
months they reach."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from salesflow.months import shifted
from spark_jobs import marts
from spark_jobs.analytics import RFM_WINDOW_MONTHS, customer_segments, sales_comparison
from spark_jobs.context import JobContext
from spark_jobs.plan import COMPARISON_PRIORS, BatchPlan


@dataclass
class BatchOutputs:
    facts: DataFrame
    summaries: dict[str, DataFrame]  # table attribute -> rows to load
    customers_data_mart: DataFrame
    sales_team_data_mart: DataFrame
    sales_comparison: DataFrame
    customer_segments: DataFrame


def compute(job: JobContext, plan: BatchPlan, checked: DataFrame | None) -> BatchOutputs:
    """The batch's facts and summaries, and the marts and analytics of the months it changes.

    The small frames each output is built from, and the outputs, are cached: each is written twice
    (the load CSV and the Parquet) and the summaries feed several outputs.
    """
    facts = batch_facts(job, plan, checked)
    recomputed = recomputed_facts(job, plan)
    # The recomputed months' facts feed three summaries: read from MySQL once.
    summarised = facts if recomputed is None else job.cached(facts.unionByName(recomputed))
    batch = {
        "customer_month_summary": job.cached(marts.customer_summary(summarised)),
        "sales_team_month_summary": job.cached(marts.sales_team_summary(summarised)),
        "product_month_summary": job.cached(marts.product_summary(summarised)),
    }
    team_needed = shifted(plan.comparison_months, [-n for n in COMPARISON_PRIORS]) | set(plan.touched)
    customer_needed = shifted(plan.snapshot_months, range(1 - RFM_WINDOW_MONTHS, 1)) | set(plan.touched)
    customer_months = marts.customer_months(
        post_summary(job, plan, "customer_month_summary", batch, customer_needed)
    )
    team_months = marts.sales_team_months(
        post_summary(job, plan, "sales_team_month_summary", batch, team_needed)
    )
    product_months = marts.product_months(
        post_summary(job, plan, "product_month_summary", batch, team_needed)
    )
    entities = job.cached(
        marts.entity_months(
            team_months, product_months, job.table("store"), job.table("product"), job.table("sales_team")
        )
    )
    touched = F.col("month").isin(plan.touched)
    first = plan.data_months[0] if plan.data_months else "0000-01"
    return BatchOutputs(
        facts=facts,
        summaries=batch,
        customers_data_mart=job.cached(
            marts.customers_data_mart(customer_months.where(touched), job.table("customer"))
        ),
        sales_team_data_mart=job.cached(
            marts.sales_team_data_mart(team_months.where(touched), job.table("sales_team"))
        ),
        sales_comparison=job.cached(sales_comparison(entities, plan.comparison_months, first)),
        customer_segments=job.cached(customer_segments(customer_months, plan.snapshot_months)),
    )


def batch_facts(job: JobContext, plan: BatchPlan, checked: DataFrame | None) -> DataFrame:
    """The valid rows of the batch's files, as facts."""
    if checked is None:  # only months to recompute: no new rows
        return job.table("sales").select(*marts.FACT_COLUMNS).limit(0)
    valid = F.col("reject_reason").isNull() & job.of_batch(plan.file_ids)
    return checked.where(valid).select(*marts.FACT_COLUMNS)


def recomputed_facts(job: JobContext, plan: BatchPlan) -> DataFrame | None:
    """The loaded facts of the months to recompute (the full rebuild reads them on purpose)."""
    if not plan.recompute:
        return None
    return (
        job.table("sales")
        .where(F.col("sales_month").isin(plan.recompute) & ~F.col("file_id").isin(plan.replaced or [-1]))
        .select(*marts.FACT_COLUMNS)
    )


def post_summary(
    job: JobContext, plan: BatchPlan, attribute: str, batch: dict[str, DataFrame], months: set[str]
) -> DataFrame:
    """A summary table as it will be once the batch is in, for ``months`` only (cached: small)."""
    earlier = job.table(attribute).where(
        F.col("sales_month").isin(sorted(months))
        & ~F.col("sales_month").isin(plan.recompute or ["-"])
        # A file of the batch has no summary yet (it is VALIDATED): only an earlier version's rows
        # are left out.
        & ~F.col("file_id").isin(sorted(plan.superseded) or [-1])
    )
    return job.cached(earlier.unionByName(batch[attribute].where(F.col("sales_month").isin(sorted(months)))))
