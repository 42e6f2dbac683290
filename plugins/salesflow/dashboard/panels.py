"""Each panel's numbers as a small typed record: what its JSON endpoint returns and its HTML shows.
Here the pipeline's own panels (freshness, outcomes, runs, rejects, files quarantined and in
flight) and the table of every panel; the sales numbers' panels are in ``sales_panels``.

Everything comes from the file ledger, the marts and the analytics tables through the indexed
statements of ``include/sql/dashboard`` (never from the ``sales`` facts), plus one bounded listing
of the source prefix and Airflow's own record of the last good run. Times in the ledger are on
the database's clock (its ``CURRENT_TIMESTAMP`` wrote them), so ages and days of ledger rows are
counted on that clock too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from salesflow.dashboard.sources import Sources, database_today, query_rows
from salesflow.paths import rebase_key
from salesflow.statuses import IN_FLIGHT, FileStatus

log = logging.getLogger(__name__)

DAG_ID = "sales_pipeline"
OUTCOME_DAYS = 30
RUNS_SHOWN = 20
QUARANTINED_SHOWN = 15
IN_FLIGHT_SHOWN = 50

# Where a file ended; CLAIMED and VALIDATED are not outcomes but files in flight.
OUTCOMES = (
    FileStatus.LOADED,
    FileStatus.QUARANTINED,
    FileStatus.DUPLICATE,
    FileStatus.FAILED,
    FileStatus.SUPERSEDED,
    FileStatus.GONE,
)


# ----------------------------------------------------------------------------------- freshness
@dataclass(frozen=True)
class GoodRun:
    run_id: str
    end_date: datetime
    age_seconds: int
    stale: bool


@dataclass(frozen=True)
class SourcePrefix:
    bucket: str
    prefix: str
    files: int
    capped: bool
    oldest_key: str | None
    oldest_landed_at: datetime | None
    oldest_age_seconds: int | None
    stale: bool
    error: str | None = None


@dataclass(frozen=True)
class Freshness:
    last_good_run: GoodRun | None
    latest_sales_date: date | None
    last_loaded_at: datetime | None
    source: SourcePrefix
    stale_after_hours: int


def freshness(sources: Sources) -> Freshness:
    stale_after = timedelta(hours=sources.settings.dashboard.stale_after_hours)
    now = datetime.now(UTC)
    ((latest_sales_date, last_loaded_at),) = query_rows(
        sources, "latest_loaded", (FileStatus.LOADED.value, FileStatus.LOADED.value)
    )
    return Freshness(
        last_good_run=last_good_run(now, stale_after),
        latest_sales_date=latest_sales_date,
        last_loaded_at=last_loaded_at,
        source=source_prefix(sources, now, stale_after),
        stale_after_hours=sources.settings.dashboard.stale_after_hours,
    )


def last_good_run(now: datetime, stale_after: timedelta) -> GoodRun | None:
    """The latest successful run of the DAG, from Airflow's metadata database.

    Airflow's record rather than the ledger's: a run that found no new file still shows the
    pipeline is alive, and a run that loaded files but then failed a later task is not good. The
    app runs inside the API server, so it uses Airflow's own ORM session (index dag_id_state).
    """
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    query = (
        select(DagRun.run_id, DagRun.end_date)
        .where(DagRun.dag_id == DAG_ID, DagRun.state == DagRunState.SUCCESS, DagRun.end_date.is_not(None))
        .order_by(DagRun.end_date.desc())
        .limit(1)
    )
    with create_session(scoped=False) as session:
        row = session.execute(query).first()
    if row is None:
        return None
    end_date = row.end_date if row.end_date.tzinfo else row.end_date.replace(tzinfo=UTC)
    age = now - end_date
    return GoodRun(row.run_id, end_date, int(age.total_seconds()), age > stale_after)


def source_prefix(sources: Sources, now: datetime, stale_after: timedelta) -> SourcePrefix:
    """The files waiting in the source prefix: one listing request of at most the cap (+1 to tell).

    S3 lists keys in key order, so when the cap is reached the oldest file is the oldest of the
    keys listed; the page says so.
    """
    settings = sources.settings
    bucket, prefix, cap = settings.bucket, settings.prefixes.source, settings.dashboard.max_listed_files
    try:
        # cap + 1 entries in one request: one more than the cap tells that there are more.
        raw = list(
            sources.s3_hook().iter_file_metadata(
                prefix=prefix, bucket_name=bucket, page_size=cap + 1, max_items=cap + 1
            )
        )
    except Exception as error:  # the panel says S3 did not answer; the other panels still show
        log.warning("dashboard: cannot list s3://%s/%s: %s", bucket, prefix, error)
        return SourcePrefix(bucket, prefix, 0, False, None, None, None, False, type(error).__name__)
    capped = len(raw) > cap
    listed = [item for item in raw if not item["Key"].endswith("/")][:cap]
    if not listed:
        return SourcePrefix(bucket, prefix, 0, False, None, None, None, False)
    oldest = min(listed, key=lambda item: (item["LastModified"], item["Key"]))
    age = now - oldest["LastModified"]
    return SourcePrefix(
        bucket=bucket,
        prefix=prefix,
        files=len(listed),
        capped=capped,
        oldest_key=oldest["Key"],
        oldest_landed_at=oldest["LastModified"],
        oldest_age_seconds=int(age.total_seconds()),
        stale=age > stale_after,
    )


# ------------------------------------------------------------------------------------ outcomes
@dataclass(frozen=True)
class Outcomes:
    """Files per day and outcome over the last days (by the day they reached it, database clock)."""

    days: list[date]
    files: dict[str, list[int]]
    totals: dict[str, int]
    rows_loaded: int
    rows_rejected: int


def outcomes(sources: Sources) -> Outcomes:
    days = _last_days(database_today(sources), OUTCOME_DAYS)
    statuses = [status.value for status in OUTCOMES]
    rows = query_rows(sources, "outcomes_by_day", (days[0], *statuses), statuses=len(statuses))
    files = {status: [0] * len(days) for status in statuses}
    position = {day: i for i, day in enumerate(days)}
    rows_loaded = rows_rejected = 0
    for day, status, count, loaded, rejected in rows:
        files[status][position[day]] = int(count)
        if status == FileStatus.LOADED:
            rows_loaded += int(loaded)
            rows_rejected += int(rejected)
    totals = {status: sum(counts) for status, counts in files.items()}
    return Outcomes(days, files, totals, rows_loaded, rows_rejected)


def _last_days(today: date, count: int) -> list[date]:
    return [today - timedelta(days=count - 1 - i) for i in range(count)]


# ---------------------------------------------------------------------------------------- runs
# What started a run, by the type Airflow puts at the head of its id.
STARTED_BY = {
    "asset_triggered": "event",
    "scheduled": "timetable",
    "manual": "manual",
    "backfill": "backfill",
}


@dataclass(frozen=True)
class RunRows:
    run_id: str
    first_claim: datetime
    last_change: datetime
    files: int
    rows_read: int
    rows_loaded: int
    rows_rejected: int
    started_by: str  # event (an S3 event), timetable (the daily sweep), manual, backfill


@dataclass(frozen=True)
class Latency:
    """Landed (the object's LastModified) to committed, of the files loaded in the last day:
    nearest-rank percentiles, in seconds (None when no file was loaded)."""

    files: int
    p50_seconds: float | None
    p95_seconds: float | None


@dataclass(frozen=True)
class Runs:
    """The latest runs (by their last ledger change, oldest first) and their files' rows, and how
    long files took from landing to committed over the last day."""

    runs: list[RunRows]
    latency: Latency


def runs(sources: Sources) -> Runs:
    rows = query_rows(sources, "runs", (RUNS_SHOWN,))
    seconds = sorted(float(value) for (value,) in query_rows(sources, "latency"))
    return Runs(
        [
            RunRows(run_id, first, last, int(n), int(read), int(loaded), int(rejected), started_by(run_id))
            for run_id, first, last, n, read, loaded, rejected in rows
        ],
        Latency(len(seconds), nearest_rank(seconds, 50), nearest_rank(seconds, 95)),
    )


def started_by(run_id: str) -> str:
    return STARTED_BY.get(run_id.split("__", 1)[0], "other")


def nearest_rank(ordered: list[float], percent: int) -> float | None:
    """The value at or below which ``percent`` % of ``ordered`` lie (a value of the list)."""
    if not ordered:
        return None
    return ordered[max(0, -(-percent * len(ordered) // 100) - 1)]


# ------------------------------------------------------------------------------------- rejects
@dataclass(frozen=True)
class RejectReason:
    reason_code: str
    rows: int
    files: int


@dataclass(frozen=True)
class Rejects:
    """Rejected rows per reason code, of the files that changed in the last days."""

    since: date
    reasons: list[RejectReason]


def rejects(sources: Sources) -> Rejects:
    since = database_today(sources) - timedelta(days=OUTCOME_DAYS - 1)
    rows = query_rows(sources, "rejects_by_reason", (since,))
    return Rejects(since, [RejectReason(code, int(count), int(files)) for code, count, files in rows])


# --------------------------------------------------------------------------------- quarantined
@dataclass(frozen=True)
class QuarantinedFile:
    id: int
    object_key: str
    error_key: str | None
    reason: str | None
    run_id: str
    quarantined_at: datetime


@dataclass(frozen=True)
class Quarantined:
    bucket: str
    files: list[QuarantinedFile]


def quarantined(sources: Sources) -> Quarantined:
    prefixes = sources.settings.prefixes
    rows = query_rows(sources, "latest_with_status", (FileStatus.QUARANTINED.value, QUARANTINED_SHOWN))
    files = [
        QuarantinedFile(
            id=entry_id,
            object_key=key,
            # Where the quarantine moved it (the key kept below the error prefix).
            error_key=rebase_key(key, prefixes.source, prefixes.error)
            if key.startswith(prefixes.source)
            else None,
            reason=reason,
            run_id=run_id,
            quarantined_at=updated_at,
        )
        for entry_id, _bucket, key, reason, _last_error, run_id, updated_at in rows
    ]
    return Quarantined(sources.settings.bucket, files)


# ----------------------------------------------------------------------------------- in flight
@dataclass(frozen=True)
class FileInFlight:
    id: int
    object_key: str
    status: str
    run_id: str
    attempts: int
    claimed_at: datetime
    updated_at: datetime
    unchanged_seconds: int
    stuck: bool


@dataclass(frozen=True)
class InFlight:
    """Files CLAIMED or VALIDATED, the longest unchanged first; stuck past the threshold."""

    total: int
    files: list[FileInFlight]
    stuck_after_minutes: int


def in_flight(sources: Sources) -> InFlight:
    statuses = [status.value for status in IN_FLIGHT]
    stuck_after = sources.settings.dashboard.stuck_after_minutes * 60
    ((total,),) = query_rows(sources, "count_with_status", statuses, statuses=len(statuses))
    rows = query_rows(sources, "in_flight", (*statuses, IN_FLIGHT_SHOWN), statuses=len(statuses))
    files = [
        FileInFlight(
            entry_id, key, status, run_id, attempts, claimed, updated, int(age), int(age) > stuck_after
        )
        for entry_id, key, status, run_id, attempts, claimed, updated, age in rows
    ]
    return InFlight(int(total), files, sources.settings.dashboard.stuck_after_minutes)
