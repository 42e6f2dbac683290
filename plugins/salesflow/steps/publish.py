"""The ``publish_outputs`` step: the Spark job's Parquet and reject files, from the run's S3
prefix to the published prefixes."""

from __future__ import annotations

import dataclasses
import itertools
import logging
from collections.abc import Iterator
from typing import Any

from salesflow import contracts
from salesflow.config import Settings
from salesflow.contracts import TransformResult
from salesflow.db import connect
from salesflow.ledger import FileLedger
from salesflow.paths import rebase_key
from salesflow.run_files import read_transform_result, run_objects
from salesflow.sql import render
from salesflow.statuses import FileStatus
from salesflow.storage import concurrently, first_alone_then_pooled, read_object, s3_hook

log = logging.getLogger(__name__)


def publish_outputs(settings: Settings, run_id: str) -> dict[str, int]:
    """The run's Parquet and reject files, from the job's outputs under the run's prefix.

    Facts: one file per file version and partition (``sales_month=M/store_id=S/part-<ledger
    id>-00000.parquet``), so no run rewrites a month; a superseded version's files go. Marts and
    analytics: the months rewritten are replaced (server-side copies of the batch that wrote each
    month last). Fixed names, so the same run publishes the same keys; new files are put first and
    stale ones deleted after, so a partition is never missing.
    """
    result = read_transform_result(settings, run_id)
    if result is None:
        log.info("publish: the run loaded nothing; nothing to publish")
        return {}
    hook = s3_hook()
    hook.get_conn()  # one S3 client, shared by the threads
    result = still_this_runs(settings, result)
    published = {"facts": publish_facts(settings, hook, run_id, result)}
    for dataset in contracts.MONTHLY_DATASETS:
        published[dataset] = publish_months(settings, hook, run_id, dataset, result)
    published["rejects"] = publish_rejects(settings, hook, run_id, result)
    return published


UPLOAD_CHUNK = 256


def still_this_runs(settings: Settings, result: TransformResult) -> TransformResult:
    """The run's result without what a newer run has rewritten since (an old run cleared and run
    again days later): a file version no longer LOADED (superseded since) and a month whose last
    writer in MySQL is another run or batch. A publish never moves a month backwards."""
    months = sorted({m for written in result.months_written.values() for m in written})
    loaded_ids = [int(f) for f, o in result.files.items() if o.status == FileStatus.LOADED.value]
    writers: list[tuple[str, str, str, str]] = []
    with connect(settings) as conn:
        now = {e.id: e.status for e in FileLedger(conn, settings.tables).get(loaded_ids)}
        if months:
            with conn.cursor() as cursor:
                statement = render(
                    "load/month_writers.sql", settings.tables, value_lists={"months": len(months)}
                )
                cursor.execute(statement, months)
                writers = list(cursor.fetchall())
    last = {(dataset, month): (run_id, batch) for dataset, month, run_id, batch in writers}
    files = {}
    for file_id, outcome in result.files.items():
        if outcome.status == FileStatus.LOADED.value and now.get(int(file_id)) != FileStatus.LOADED:
            log.warning(
                "publish: %s (ledger id %s) is %s now: its facts are not published again",
                outcome.object_key,
                file_id,
                now.get(int(file_id)),
            )
            continue
        files[file_id] = outcome
    months_written = {}
    for dataset, written in result.months_written.items():
        batches = result.month_batches.get(dataset, {})
        kept = []
        for month in written:
            writer = last.get((dataset, month))
            if writer is not None and writer != (result.run_id, batches.get(month)):
                log.warning(
                    "publish: %s %s was rewritten since by run %s (%s): not published again",
                    dataset,
                    month,
                    *writer,
                )
                continue
            kept.append(month)
        months_written[dataset] = kept
    return dataclasses.replace(result, files=files, months_written=months_written)


def fact_objects(
    settings: Settings, hook: Any, run_id: str, files: dict[int, str]
) -> Iterator[tuple[str, bytes]]:
    """(S3 key, Parquet bytes) of each loaded file version's facts in each month and store.

    ``files`` maps each loaded file id to its batch's folder (``parquet/sales/<batch>/``); a
    folder's Parquet is read part by part, leaf by leaf (month and store), and cut where the file
    id changes (the rows are sorted by it), so one file version's rows are one object:
    ``part-<ledger id>-<n>.parquet``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    prefix = settings.prefixes.partitioned_mart
    for folder in sorted(set(files.values())):
        leaves: dict[str, list[str]] = {}
        for key in run_objects(hook, settings, run_id, f"parquet/sales/{folder}/"):
            leaf, _, name = key.rpartition("/")
            if name.startswith("part-") and name.endswith(".parquet"):
                leaves.setdefault(leaf, []).append(key)
        for leaf, parts in sorted(leaves.items()):
            month_store = "/".join(leaf.split("/")[-2:])  # sales_month=M/store_id=S
            counts: dict[int, int] = {}
            for part in sorted(parts):
                table = pq.read_table(pa.BufferReader(read_object(hook, settings.bucket, part)))
                for file_id, rows in _by_file(table):
                    if files.get(file_id) != folder:
                        continue  # not loaded, or loaded by another batch of the run
                    n = counts[file_id] = counts.get(file_id, -1) + 1
                    yield f"{prefix}{month_store}/part-{file_id:010d}-{n:05d}.parquet", _parquet_bytes(rows)


def _by_file(table: Any) -> Iterator[tuple[int, Any]]:
    """(file id, its rows) of a table sorted by file id."""
    ids = table.column("file_id").to_pylist()
    start = 0
    for end in range(1, len(ids) + 1):
        if end == len(ids) or ids[end] != ids[start]:
            yield ids[start], table.slice(start, end - start)
            start = end


def _parquet_bytes(table: Any) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


def stale_fact_keys(settings: Settings, hook: Any, superseded: dict[str, list[str]]) -> list[str]:
    """The published fact files of the superseded versions: each month they had rows in listed once."""
    markers_by_month: dict[str, set[str]] = {}
    for old_id, months in superseded.items():
        for month in months:
            markers_by_month.setdefault(month, set()).add(f"/part-{int(old_id):010d}-")
    stale = []
    for month, markers in sorted(markers_by_month.items()):
        prefix = f"{settings.prefixes.partitioned_mart}sales_month={month}/"
        listing = hook.iter_file_metadata(prefix=prefix, bucket_name=settings.bucket)
        stale += [item["Key"] for item in listing if any(marker in item["Key"] for marker in markers)]
    return stale


def publish_facts(settings: Settings, hook: Any, run_id: str, result: TransformResult) -> int:
    loaded = {
        int(file_id): outcome.facts_folder
        for file_id, outcome in result.files.items()
        if outcome.status == FileStatus.LOADED.value and outcome.facts_folder
    }
    objects = fact_objects(settings, hook, run_id, loaded)

    def upload(item: tuple[str, bytes]) -> None:
        hook.load_bytes(item[1], key=item[0], bucket_name=settings.bucket, replace=True)

    uploaded = 0
    # In chunks: a run's facts as Parquet bytes would otherwise sit in memory all at once.
    while chunk := list(itertools.islice(objects, UPLOAD_CHUNK)):
        if uploaded:
            concurrently(upload, chunk)
        else:
            first_alone_then_pooled(upload, chunk, "publish_outputs")
        uploaded += len(chunk)
    stale = stale_fact_keys(settings, hook, result.superseded)
    if stale:
        hook.delete_objects(settings.bucket, stale)
    log.info(
        "publish: %d fact files of %d file versions uploaded, %d superseded removed",
        uploaded,
        len(loaded),
        len(stale),
    )
    return uploaded


def publish_months(settings: Settings, hook: Any, run_id: str, dataset: str, result: TransformResult) -> int:
    """Replace the month partitions of one monthly dataset that the run rewrote: each month's
    Parquet as the batch that wrote it last left it, copied server-side under fixed names."""
    published = contracts.MONTHLY_DATASETS[dataset]
    prefix = getattr(settings.prefixes, published.prefix)
    batches = result.month_batches.get(dataset, {})
    count = 0
    for month in result.months_written.get(dataset, []):
        month_dir = f"{published.month_column}={month}"
        below = f"parquet/{dataset}/{batches.get(month, '')}/{month_dir}/"
        parts = [k for k in run_objects(hook, settings, run_id, below) if k.endswith(".parquet")]
        wanted = {f"{prefix}{month_dir}/part-{index:05d}.parquet": part for index, part in enumerate(parts)}
        concurrently(
            lambda item: hook.copy_object(item[1], item[0], settings.bucket, settings.bucket),
            sorted(wanted.items()),
        )
        listing = hook.iter_file_metadata(prefix=f"{prefix}{month_dir}/", bucket_name=settings.bucket)
        stale = [item["Key"] for item in listing if item["Key"] not in wanted]
        if stale:
            hook.delete_objects(settings.bucket, stale)
        count += len(wanted)
        log.info(
            "publish: s3://%s/%s%s/ now holds %d files (%d stale removed)",
            settings.bucket,
            prefix,
            month_dir,
            len(wanted),
            len(stale),
        )
    return count


def publish_rejects(settings: Settings, hook: Any, run_id: str, result: TransformResult) -> int:
    """Each loaded file's rejected rows, as one CSV beside its key under the rejects prefix."""
    with_rejects = [(int(f), outcome) for f, outcome in result.files.items() if outcome.rows_rejected]

    def upload(item: tuple[int, Any]) -> str:
        file_id, outcome = item
        below = f"rejected/{outcome.facts_folder}/file_id={file_id}/"
        parts = [k for k in run_objects(hook, settings, run_id, below) if k.endswith(".csv")]
        contents = [read_object(hook, settings.bucket, key) or b"" for key in parts]
        key = f"{rebase_key(outcome.object_key, settings.prefixes.source, settings.prefixes.rejects)}"
        key += f".{file_id}.rejected.csv"
        hook.load_bytes(b"".join(csv_parts(contents)), key=key, bucket_name=settings.bucket, replace=True)
        log.info(
            "publish: %d rejected rows of %s -> s3://%s/%s",
            outcome.rows_rejected,
            outcome.object_key,
            settings.bucket,
            key,
        )
        return key

    return len(first_alone_then_pooled(upload, with_rejects, "publish_outputs"))


def csv_parts(parts: list[bytes]) -> list[bytes]:
    """The part files of one Spark CSV output as one file: the header once."""
    chunks = []
    for index, content in enumerate(parts):
        if index > 0:
            content = content.split(b"\n", 1)[1] if b"\n" in content else b""
        chunks.append(content)
    return chunks
