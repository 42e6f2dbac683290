"""What the DAG's Python tasks do, kept out of the DAG file so it can be tested and reused.

Every function is keyed by the run id and the files that run claimed, and is safe to run again.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path
from typing import Any

from salesflow import contracts
from salesflow.config import MYSQL_CONN_ID, Settings
from salesflow.contracts import IntakeFile, JdbcTarget, JobSpec, TransformResult
from salesflow.db import connect, mysql_hook
from salesflow.faults import fault_point
from salesflow.intake import EXTENSIONS, ContentInspector, FileVerdict, file_format, judge
from salesflow.ledger import FileLedger, LedgerEntry, StatusMove
from salesflow.paths import rebase_key, relative_key
from salesflow.run_files import (
    earlier_spec,
    files_waiting,
    read_transform_result,
    run_objects,
    run_uri,
    spec_uri,
    staged_key,
    write_spec,
)
from salesflow.statuses import IN_FLIGHT, FileStatus
from salesflow.storage import (
    ObjectChangedError,
    ObjectVersion,
    concurrently,
    copy_version,
    download_version,
    first_alone_then_pooled,
    list_versions,
    move_version,
    read_object,
    s3_hook,
    stage_version,
)

log = logging.getLogger(__name__)


@contextmanager
def recording_failures(settings: Settings, run_id: str, task: str) -> Iterator[None]:
    """A task's failure is kept as ``last_error`` on the files the run still holds in flight.

    The next run that claims them again (and the quarantine after too many attempts) says what went
    wrong last. Best effort: a failure to record never hides the task's own error.
    """
    try:
        yield
    except Exception as error:
        try:
            with connect(settings) as conn:
                message = f"{task}: {type(error).__name__}: {' '.join(str(error).split())}"
                FileLedger(conn, settings.tables).record_error(settings.bucket, run_id, message)
        except Exception as second:  # MySQL itself may be what failed
            log.warning("could not record the failure on the run's files: %s", second)
        raise


# ---------------------------------------------------------------------------------------- claim
NOT_FOUND_STATUS = 404


def known_run_state(ask: Callable[[], Any]) -> str | None:
    """``ask()``'s run state; None only when Airflow answers that it knows no such run (deleted,
    or of another installation). Any other error is raised: taken for "over", it would release the
    files of a run that may still be loading them."""
    from airflow.sdk.exceptions import AirflowRuntimeError

    try:
        return str(ask())
    except AirflowRuntimeError as error:
        detail = error.error.detail if isinstance(error.error.detail, dict) else {}
        if detail.get("status_code") == NOT_FOUND_STATUS:
            return None
        raise


def claim_new_files(
    settings: Settings, run_id: str, run_state: Callable[[str], str | None] | None = None
) -> dict[str, Any]:
    """List the source prefix and claim every file version not seen before, for this run.

    ``run_state`` tells the Airflow state of another run: files a finished run left in flight are
    claimed again (``FileLedger.release_stranded``).
    """
    hook = s3_hook()
    listed = list(list_versions(hook, settings.bucket, settings.prefixes.source))
    with connect(settings) as conn:
        ledger = FileLedger(conn, settings.tables)
        entries = ledger.claim(settings.bucket, run_id, listed, run_state)
        fault_point("claim_files")
        # Settled by an earlier run that died before moving the file: finish that move now.
        held = {e.id for e in entries}
        settled = [
            e
            for e in ledger.with_status(settings.bucket, listed, (FileStatus.LOADED, FileStatus.QUARANTINED))
            if e.id not in held
        ]
        loaded = [e for e in settled if e.status == FileStatus.LOADED]
        failed_loads = [e for e in settled if e.failed_its_load()]
    for entry in loaded:
        log.info(
            "claim: %s was loaded by run %s but not archived; archiving it", entry.object_key, entry.run_id
        )
    archive(settings, loaded)
    for entry in failed_loads:
        log.info("claim: %s was set aside by run %s but not moved; moving it", entry.object_key, entry.run_id)
    move_to_error_prefix(settings, failed_loads)
    claimed = [e for e in entries if e.status in IN_FLIGHT]
    log.info(
        "claim: %d objects under s3://%s/%s; this run holds %d (%d in flight)",
        len(listed),
        settings.bucket,
        settings.prefixes.source,
        len(entries),
        len(claimed),
    )
    for entry in entries:
        log.info(
            "claim: %s -> %s (ledger id %d, attempt %d)",
            entry.object_key,
            entry.status,
            entry.id,
            entry.attempts,
        )
    return {
        "listed": len(listed),
        "claimed": len(claimed),
        "held": len(entries),
        "finished_late": len(loaded),
    }


# ------------------------------------------------------------------------------------- download
def jdbc_target(settings: Settings) -> JdbcTarget:
    """Where the Spark job finds MySQL; the password is passed by environment, never written."""
    connection = mysql_hook(settings.database).get_connection(MYSQL_CONN_ID)
    return JdbcTarget(
        host=connection.host or "127.0.0.1",
        port=int(connection.port or 3306),
        user=connection.login or "",
        driver=settings.jdbc_driver,
    )


Fetched = tuple[str, FileVerdict] | str  # (SHA-256, verdict) once downloaded, or why it is gone


class Intake:
    """The download pass of one run: each claimed file fetched, hashed and checked in one read.

    A file is downloaded into the task's own scratch folder (removed as soon as it is judged: no
    other task ever reads it); an accepted one is then staged under the run's prefix by a
    server-side copy proven to hold the bytes just checked (``storage.stage_version``).
    """

    def __init__(self, settings: Settings, run_id: str, as_of: date, scratch: Path) -> None:
        self.settings = settings
        self.run_id = run_id
        self.as_of = as_of
        self.scratch = scratch
        self.hook = s3_hook()
        self.hook.get_conn()  # one S3 client, shared by the download threads
        self.files: dict[int, IntakeFile] = {}

    def fetch(self, entry: LedgerEntry) -> Fetched:
        fmt = file_format(entry.object_key)
        target = self.scratch / f"{entry.id:010d}{EXTENSIONS.get(fmt or '', '.data')}"
        content = ContentInspector(fmt, self.settings.limits)
        try:
            sha256 = download_version(
                self.hook, self.settings.bucket, entry.version(), target, content.update
            )
            verdict = judge(entry.object_key, target, content, list(self.settings.mandatory_columns))
            if verdict.reason is None:
                staged = staged_key(self.settings, self.run_id, entry.id, fmt)
                stage_version(self.hook, self.settings.bucket, entry.version(), staged, sha256)
        except ObjectChangedError as error:
            return str(error)
        finally:
            target.unlink(missing_ok=True)
        return sha256, verdict

    def settle(self, ledger: FileLedger, entries: Sequence[LedgerEntry], fetched: list[Fetched]) -> None:
        """The ledger work for downloaded files, batched: changed ones FAILED, contents recorded."""
        gone = [(e, why) for e, why in zip(entries, fetched, strict=True) if isinstance(why, str)]
        ledger.transition_many(
            FileStatus.FAILED,
            [
                StatusMove(e.id, reason="changed_during_run")
                for e, _ in gone
                if e.status != FileStatus.DUPLICATE
            ],
        )
        for entry, why in gone:
            log.warning("download: %s (%s); not this run's version any more", why, entry.status)
        here = [(e, got) for e, got in zip(entries, fetched, strict=True) if not isinstance(got, str)]
        owners = ledger.record_contents(
            [(e.id, sha256) for e, (sha256, _) in here if e.status != FileStatus.DUPLICATE]
        )
        for entry, (sha256, verdict) in here:
            owner = owners.get(entry.id)
            self.files[entry.id] = self.intake_file(entry, sha256, verdict, owner)

    def intake_file(
        self, entry: LedgerEntry, sha256: str, verdict: FileVerdict, owner: LedgerEntry | None
    ) -> IntakeFile:
        """The file as the Spark job and the quarantine see it, with the reason it fails, if any."""
        reason = self.reason(entry, verdict, owner)
        # The day the sales in this file may reach: the run's day, or the day the file landed if
        # that is later (a backfill run for a past day picking up a new file). So a file ends the
        # same whichever run takes it.
        landed = entry.landed_at.date() if entry.landed_at else self.as_of
        staged = staged_key(self.settings, self.run_id, entry.id, file_format(entry.object_key))
        log.info(
            "download: %s (%d bytes, sha256 %s): %s",
            entry.object_key,
            entry.size_bytes,
            sha256[:12],
            f"to be quarantined ({reason})" if reason else f"accepted, {accepted_shape(verdict)}, staged",
        )
        return IntakeFile(
            file_id=entry.id,
            object_key=entry.object_key,
            staged_uri="" if reason else f"s3a://{self.settings.bucket}/{staged}",
            size_bytes=entry.size_bytes,
            sha256=sha256,
            as_of_date=max(self.as_of, landed).isoformat(),
            reason=reason,
            columns=verdict.columns if reason is None else [],
            file_format=verdict.file_format,
            column_types=verdict.column_types if reason is None else [],
            attempts=entry.attempts,
        )

    def reason(self, entry: LedgerEntry, verdict: FileVerdict, owner: LedgerEntry | None) -> str | None:
        """Why the file is quarantined whole: its key, its bytes seen before, its attempts, its checks."""
        if relative_key(entry.object_key, self.settings.prefixes.source) is None:
            return "unsafe_key"
        if entry.status == FileStatus.DUPLICATE:
            return entry.reason
        if owner is not None:
            log.info(
                "download: %s has the same bytes as %s (ledger id %d, %s): DUPLICATE, not loaded again",
                entry.object_key,
                owner.object_key,
                owner.id,
                owner.status,
            )
            return f"duplicate_of:{owner.object_key} ({owner.status})"
        if entry.attempts > self.settings.max_attempts:
            # Claimed again after failing in each of the earlier attempts: it blocks nothing more.
            return f"too_many_attempts:{entry.attempts - 1}:{entry.last_error or 'unknown error'}"
        return verdict.reason


def accepted_shape(verdict: FileVerdict) -> str:
    """What the log says of an accepted file: its format and columns."""
    if verdict.file_format == "jsonl":
        return "jsonl, keys checked line by line"
    return f"{verdict.file_format}, {len(verdict.columns)} columns"


def download_claimed_files(
    settings: Settings, run_id: str, as_of: date, recompute_months: list[str] | None = None
) -> str:
    """Download this run's in-flight files with the file checks, spot duplicate content, stage the
    accepted ones under the run's prefix and write the spec there.

    Returns the spec's URI for the Spark job.
    """
    spec = earlier_spec(settings, run_id)
    if spec is None:
        entries, waiting = files_waiting(settings, run_id)
        if entries and not waiting:  # run again after the run ended well and its files went
            log.info(
                "download: the run's files are gone and all %d files of the run are settled", len(entries)
            )
            return spec_uri(settings, run_id)
    # Run again after its files moved on: those keep their entries (and staged copies) from the
    # earlier try, so the quarantine and the report still describe every file of the run.
    earlier = {f.file_id: f for f in spec.files} if spec is not None else {}
    scratch = Path(tempfile.mkdtemp(prefix="salesflow-intake-"))
    try:
        intake = Intake(settings, run_id, as_of, scratch)
        entries = intake_pass(settings, run_id, intake, earlier)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    position = {entry.id: index for index, entry in enumerate(entries)}
    spec = JobSpec(
        run_id=run_id,
        as_of_date=as_of.isoformat(),
        mandatory_columns=list(settings.mandatory_columns),
        # The ledger's order, as one file at a time gave.
        files=sorted(intake.files.values(), key=lambda f: position[f.file_id]),
        run_uri=run_uri(settings, run_id),
        recompute_months=sorted(recompute_months or []),
        jdbc=jdbc_target(settings),
        database=settings.database,
        tables=asdict(settings.tables),
        max_cell_chars=settings.limits.max_cell_bytes,
    )
    uri = write_spec(settings, run_id, spec)  # a try that dies here leaves the earlier spec
    accepted = len(spec.accepted_files())
    log.info(
        "download: %d files, %d accepted for the load, %d to quarantine; spec %s",
        len(spec.files),
        accepted,
        len(spec.files) - accepted,
        uri,
    )
    return uri


def intake_pass(
    settings: Settings, run_id: str, intake: Intake, earlier: dict[int, IntakeFile]
) -> list[LedgerEntry]:
    """Fetch and judge every file of the run still to judge; the run's ledger entries."""
    with connect(settings) as conn:
        ledger = FileLedger(conn, settings.tables)
        entries = ledger.entries_for_run(settings.bucket, run_id)
        todo = []
        for entry in entries:
            if entry.status not in IN_FLIGHT and entry.id in earlier:
                log.info(
                    "download: %s is %s already, downloaded by an earlier try", entry.object_key, entry.status
                )
                intake.files[entry.id] = earlier[entry.id]
            elif entry.status in (*IN_FLIGHT, FileStatus.DUPLICATE):
                todo.append(entry)
            else:
                log.info("download: %s is %s already, nothing to do", entry.object_key, entry.status)
        first_alone_then_pooled(
            intake.fetch, todo, "download_files", lambda done, got: intake.settle(ledger, done, got)
        )
    return entries


# -------------------------------------------------------------------------------------- publish
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
    published = {"facts": publish_facts(settings, hook, run_id, result)}
    for dataset in contracts.MONTHLY_DATASETS:
        published[dataset] = publish_months(settings, hook, run_id, dataset, result)
    published["rejects"] = publish_rejects(settings, hook, run_id, result)
    return published


UPLOAD_CHUNK = 256


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


# -------------------------------------------------------------------------------------- archive
def archive_loaded_files(settings: Settings, run_id: str) -> dict[str, str]:
    """Move this run's LOADED files from the source prefix to the processed prefix (key kept below it).

    Only the exact versions this run claimed move: a file that arrived during the run, or a new
    version uploaded under the same key, stays for the next run.
    """
    with connect(settings) as conn:
        entries = FileLedger(conn, settings.tables).entries_for_run(settings.bucket, run_id)
    return archive(settings, [e for e in entries if e.status == FileStatus.LOADED])


def archive(settings: Settings, entries: list[LedgerEntry]) -> dict[str, str]:
    """Move the entries' versions to the processed prefix: the first alone, then from a thread pool.

    A corrected file (same key, new bytes) would replace its earlier version's copy there: that
    copy is kept first, beside it, under ``<key>.superseded-<ledger id>`` (no source file is lost
    without bucket versioning).
    """
    hook = s3_hook()
    hook.get_conn()  # one S3 client, shared by the threads
    keep_superseded_copies(settings, hook, entries)

    def move(entry: LedgerEntry) -> str:
        destination = rebase_key(entry.object_key, settings.prefixes.source, settings.prefixes.processed)
        moved = move_version(hook, settings.bucket, entry.version(), destination)
        log.info("archive: %s -> s3://%s/%s (%s)", entry.object_key, settings.bucket, destination, moved)
        return moved

    outcomes = first_alone_then_pooled(move, entries, "archive_files")
    return {entry.object_key: moved for entry, moved in zip(entries, outcomes, strict=True)}


def keep_superseded_copies(settings: Settings, hook: Any, entries: list[LedgerEntry]) -> None:
    """Copy each earlier version's archived file aside before the new version takes its key."""
    if not entries:
        return
    with connect(settings) as conn:
        superseded = FileLedger(conn, settings.tables).superseded_of(
            settings.bucket, [e.object_key for e in entries]
        )
    for old in superseded:
        archived = rebase_key(old.object_key, settings.prefixes.source, settings.prefixes.processed)
        kept = copy_version(
            hook,
            settings.bucket,
            ObjectVersion(archived, old.etag, old.size_bytes),
            f"{archived}.superseded-{old.id}",
        )
        log.info("archive: the earlier version %d of %s: %s", old.id, old.object_key, kept)


def move_to_error_prefix(settings: Settings, entries: list[LedgerEntry]) -> None:
    """Files already QUARANTINED in the ledger whose move to the error prefix did not happen yet."""
    if not entries:
        return
    from salesflow.operators.quarantine import quarantine_files

    quarantine_files(settings, [(e, e.reason or "") for e in entries], record=False)
