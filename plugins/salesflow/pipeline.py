"""What the DAG's Python tasks do, kept out of the DAG file so it can be tested and reused.

Every function is keyed by the run id and the files that run claimed, and is safe to run again.
"""

from __future__ import annotations

import json
import logging
from datetime import date
from pathlib import Path
from typing import Any

from salesflow.config import MYSQL_CONN_ID, Settings
from salesflow.db import connect, mysql_hook
from salesflow.faults import fault_point
from salesflow.ledger import FileLedger, FileStatus, LedgerEntry, ObjectVersion, StatusMove
from salesflow.paths import rebase_key, relative_key, sanitize_name, write_atomically
from salesflow.storage import (
    ObjectChangedError,
    concurrently,
    download_version,
    list_versions,
    move_version,
    s3_hook,
)

log = logging.getLogger(__name__)

IN_FLIGHT = (FileStatus.CLAIMED, FileStatus.VALIDATED)


def run_folder(settings: Settings, run_id: str) -> Path:
    """The run's own local working folder (two runs never share one)."""
    return settings.work_root / sanitize_name(run_id)


def spark_spec_path(settings: Settings, run_id: str) -> Path:
    """The job spec both Spark jobs of the run read."""
    return run_folder(settings, run_id) / "spark_spec.json"


def validation_dir(settings: Settings, run_id: str) -> Path:
    return run_folder(settings, run_id) / "validation"


def transform_dir(settings: Settings, run_id: str) -> Path:
    return run_folder(settings, run_id) / "transform"


def local_download_path(settings: Settings, run_id: str, entry_id: int) -> Path:
    # Local names come from the ledger id, never from the S3 key: no key can steer a write.
    return run_folder(settings, run_id) / "downloads" / f"{entry_id:010d}.csv"


def version_of(entry: LedgerEntry) -> ObjectVersion:
    return ObjectVersion(entry.object_key, entry.etag, entry.size_bytes)


class RunFolderMissingError(FileNotFoundError):
    """A task's input in the run folder is gone while files of the run still wait for it."""


def files_waiting(settings: Settings, run_id: str) -> tuple[list[LedgerEntry], list[LedgerEntry]]:
    """The run's files, and those a step of the run still has to act on.

    Waiting: in flight (CLAIMED, VALIDATED), or a duplicate not yet moved aside (its version still
    under the source prefix; one listing, only asked when a run folder is missing).
    """
    with connect(settings) as conn:
        entries = FileLedger(conn, settings.tables).entries_for_run(settings.bucket, run_id)
    waiting = [e for e in entries if e.status in IN_FLIGHT]
    duplicates = [e for e in entries if e.status == FileStatus.DUPLICATE]
    if duplicates:
        listed = set(list_versions(s3_hook(), settings.bucket, settings.prefixes.source))
        waiting += [e for e in duplicates if version_of(e) in listed]
    return entries, waiting


def run_input(settings: Settings, run_id: str, path: Path) -> Path | None:
    """``path`` (a file in the run folder a task reads), or None when the run is already over.

    The run folder is removed when a run ends well. A task cleared and run again after that finds
    every file of the run settled (loaded, quarantined, ...): it has nothing left to do, and says
    so. The input missing while files of the run still wait is an error a retry cannot mend; the
    message says what to clear.
    """
    if path.exists():
        return path
    entries, waiting = files_waiting(settings, run_id)
    if waiting:
        raise RunFolderMissingError(
            f"{path} is missing but {len(waiting)} files of run {run_id} still wait for it "
            f"(e.g. {waiting[0].object_key}: {waiting[0].status}); clear download_files and the "
            "tasks after it to rebuild the run folder"
        )
    log.info(
        "%s is gone with the run folder and all %d files of run %s are settled; nothing to do",
        path.name,
        len(entries),
        run_id,
    )
    return None


def claim_new_files(settings: Settings, run_id: str) -> dict[str, Any]:
    """List the source prefix and claim every file version not seen before, for this run."""
    hook = s3_hook()
    listed = list(list_versions(hook, settings.bucket, settings.prefixes.source))
    with connect(settings) as conn:
        ledger = FileLedger(conn, settings.tables)
        entries = ledger.claim(settings.bucket, run_id, listed)
        # Loaded by an earlier run that died before its archive step: finish that move now.
        held = {e.id for e in entries}
        lingering = [
            e for e in ledger.with_status(settings.bucket, listed, FileStatus.LOADED) if e.id not in held
        ]
    fault_point("claim_files")
    for entry in lingering:
        log.info(
            "claim: %s was loaded by run %s but not archived; archiving it", entry.object_key, entry.run_id
        )
    _archive(settings, lingering)
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
        log.info("claim: %s -> %s (ledger id %d)", entry.object_key, entry.status, entry.id)
    return {
        "listed": len(listed),
        "claimed": len(claimed),
        "held": len(entries),
        "archived_late": len(lingering),
    }


def jdbc_settings(settings: Settings) -> dict[str, str]:
    """JDBC URL and user for Spark; the password is passed by environment, never written."""
    connection = mysql_hook(settings.database).get_connection(MYSQL_CONN_ID)
    host, port = connection.host or "127.0.0.1", connection.port or 3306
    return {
        "url": f"jdbc:mysql://{host}:{port}/{settings.database}",
        "driver": settings.jdbc_driver,
        "user": connection.login or "",
    }


def download_claimed_files(
    settings: Settings, run_id: str, as_of: date, recompute_months: list[str] | None = None
) -> str:
    """Download this run's in-flight files, spot duplicate content, write the validation spec.

    Returns the path of the spec for the validation job.
    """
    spec_path = spark_spec_path(settings, run_id)
    if not spec_path.exists():
        entries, waiting = files_waiting(settings, run_id)
        if entries and not waiting:  # run again after the run ended well and its folder went
            log.info("download: the run folder is gone and all %d files of the run are settled", len(entries))
            return str(spec_path)
    hook = s3_hook()
    hook.get_conn()  # one S3 client, shared by the download threads
    files: list[dict[str, Any]] = []

    def fetch(entry: LedgerEntry) -> tuple[str | None, str | None]:
        """(SHA-256, None) once the file is here, or (None, why) when its version is gone."""
        try:
            return download_version(hook, settings.bucket, version_of(entry), target_of(entry)), None
        except ObjectChangedError as error:
            return None, str(error)

    def target_of(entry: LedgerEntry) -> Path:
        return local_download_path(settings, run_id, entry.id)

    def settle(ledger: FileLedger, entries: list[LedgerEntry], fetched: list[tuple[str | None, str | None]]):
        """The ledger work for downloaded files, batched: changed ones FAILED, contents recorded."""
        changed = [
            (entry, why)
            for entry, (_, why) in zip(entries, fetched, strict=True)
            if why is not None and entry.status != FileStatus.DUPLICATE
        ]
        ledger.transition_many(
            FileStatus.FAILED, [StatusMove(entry.id, reason="changed_during_run") for entry, _ in changed]
        )
        for _entry, why in changed:
            log.warning("download: %s; marked FAILED, the new version is claimed next run", why)
        owners = ledger.record_contents(
            [
                (entry.id, sha256)
                for entry, (sha256, _) in zip(entries, fetched, strict=True)
                if sha256 is not None and entry.status != FileStatus.DUPLICATE
            ]
        )
        for entry, (sha256, why) in zip(entries, fetched, strict=True):
            if sha256 is None:
                if entry.status == FileStatus.DUPLICATE:
                    log.info("download: %s is DUPLICATE and moved aside already (%s)", entry.object_key, why)
                continue
            pre_reason = entry.reason if entry.status == FileStatus.DUPLICATE else None
            owner = owners.get(entry.id)
            if owner is not None:
                # Not loaded again; the quarantine step moves it aside with this reason.
                pre_reason = f"duplicate_of:{owner.object_key} ({owner.status})"
                log.info(
                    "download: %s has the same bytes as %s (ledger id %d, %s): DUPLICATE, not loaded again",
                    entry.object_key,
                    owner.object_key,
                    owner.id,
                    owner.status,
                )
            if relative_key(entry.object_key, settings.prefixes.source) is None:
                pre_reason = "unsafe_key"
            # The day the sales in this file may reach: the run's day, or the day the file landed
            # if that is later (a backfill run for a past day picking up a new file). So a file
            # ends the same whichever run takes it.
            landed = entry.landed_at.date() if entry.landed_at else as_of
            target = target_of(entry)
            files.append(
                {
                    "file_id": entry.id,
                    "as_of_date": max(as_of, landed).isoformat(),
                    "object_key": entry.object_key,
                    "local_path": str(target),
                    "size_bytes": entry.size_bytes,
                    "sha256": sha256,
                    "pre_reason": pre_reason,
                }
            )
            log.info(
                "download: %s (%d bytes, sha256 %s) -> %s%s",
                entry.object_key,
                entry.size_bytes,
                sha256[:12],
                target.name,
                f" [will be quarantined: {pre_reason}]" if pre_reason else "",
            )

    # Run again after its files moved on: those keep their entries (and local copies) from the
    # earlier try, so the validation outputs and the report still describe every file of the run.
    earlier = (
        {f["file_id"]: f for f in json.loads(spec_path.read_text())["files"]} if spec_path.exists() else {}
    )
    with connect(settings) as conn:
        ledger = FileLedger(conn, settings.tables)
        entries = ledger.entries_for_run(settings.bucket, run_id)
        todo = []
        for entry in entries:
            if entry.status not in IN_FLIGHT and entry.id in earlier:
                log.info(
                    "download: %s is %s already, downloaded by an earlier try", entry.object_key, entry.status
                )
                files.append(earlier[entry.id])
                continue
            if entry.status not in (*IN_FLIGHT, FileStatus.DUPLICATE):
                log.info("download: %s is %s already, nothing to do", entry.object_key, entry.status)
                continue
            todo.append(entry)
        if todo:
            # The first file alone (downloaded and recorded), then the rest from a thread pool
            # with the ledger work batched.
            settle(ledger, todo[:1], [fetch(todo[0])])
            fault_point("download_files")
            settle(ledger, todo[1:], concurrently(fetch, todo[1:]))
    position = {entry.id: index for index, entry in enumerate(entries)}
    files.sort(key=lambda f: position[f["file_id"]])  # the ledger's order, as one file at a time gave
    spec = {
        "run_id": run_id,
        "as_of_date": as_of.isoformat(),
        "mandatory_columns": list(settings.mandatory_columns),
        "files": files,
        "output_dir": str(validation_dir(settings, run_id)),
        "transform_dir": str(transform_dir(settings, run_id)),
        "recompute_months": sorted(recompute_months or []),
        "jdbc": jdbc_settings(settings),
        "tables": {
            "customer": settings.tables.customer,
            "store": settings.tables.store,
            "product": settings.tables.product,
            "sales_team": settings.tables.sales_team,
        },
    }
    write_atomically(spec_path, json.dumps(spec, indent=2))  # a try that dies here leaves the earlier spec
    log.info("download: %d files ready for validation; spec %s", len(files), spec_path)
    return str(spec_path)


def read_transform_result(settings: Settings, run_id: str) -> dict[str, Any] | None:
    path = transform_dir(settings, run_id) / "result.json"
    return json.loads(path.read_text()) if path.exists() else None


# Local Parquet dataset -> (S3 prefix attribute, month partition column).
PARQUET_DATASETS = {
    "sales": ("partitioned_mart", "sales_month"),
    "customer_mart": ("customer_mart", "sales_date_month"),
    "sales_team_mart": ("sales_team_mart", "sales_month"),
}


def publish_parquet(settings: Settings, run_id: str) -> dict[str, int]:
    """Replace the touched month partitions of the three Parquet datasets in S3.

    Files get fixed names (``part-00000.parquet``, ...) so the same run publishes the same keys;
    new files are uploaded first and stale ones deleted after, so a partition is never missing.
    """
    result = read_transform_result(settings, run_id)
    if not result or not result["months"]:
        log.info("publish: no month was touched by this run; nothing to publish")
        return {}
    hook = s3_hook()
    uploaded: dict[str, int] = {}
    for dataset, (prefix_name, month_column) in PARQUET_DATASETS.items():
        local_root = transform_dir(settings, run_id) / "parquet" / dataset
        prefix = getattr(settings.prefixes, prefix_name)
        for month in result["months"]:
            month_dir = f"{month_column}={month}"
            wanted: set[str] = set()
            leaves = sorted({p.parent for p in (local_root / month_dir).rglob("part-*.parquet")})
            for leaf in leaves:
                for index, part in enumerate(sorted(leaf.glob("part-*.parquet"))):
                    key = f"{prefix}{leaf.relative_to(local_root).as_posix()}/part-{index:05d}.parquet"
                    hook.load_file(str(part), key=key, bucket_name=settings.bucket, replace=True)
                    fault_point("publish_parquet")
                    wanted.add(key)
            stale = [
                item["Key"]
                for item in hook.iter_file_metadata(
                    prefix=f"{prefix}{month_dir}/", bucket_name=settings.bucket
                )
                if item["Key"] not in wanted
            ]
            if stale:
                hook.delete_objects(settings.bucket, stale)
            uploaded[f"{prefix}{month_dir}/"] = len(wanted)
            log.info(
                "publish: s3://%s/%s%s/ now holds %d files (%d stale removed)",
                settings.bucket,
                prefix,
                month_dir,
                len(wanted),
                len(stale),
            )
    return uploaded


def archive_loaded_files(settings: Settings, run_id: str) -> dict[str, str]:
    """Move this run's LOADED files from the source prefix to the processed prefix (key kept below it).

    Only the exact versions this run claimed move: a file that arrived during the run, or a new
    version uploaded under the same key, stays for the next run.
    """
    with connect(settings) as conn:
        entries = FileLedger(conn, settings.tables).entries_for_run(settings.bucket, run_id)
    return _archive(settings, [e for e in entries if e.status == FileStatus.LOADED])


def _archive(settings: Settings, entries: list[LedgerEntry]) -> dict[str, str]:
    """Move the entries' versions to the processed prefix: the first alone, then from a thread pool."""
    hook = s3_hook()
    hook.get_conn()  # one S3 client, shared by the threads

    def move(entry: LedgerEntry) -> str:
        destination = rebase_key(entry.object_key, settings.prefixes.source, settings.prefixes.processed)
        moved = move_version(hook, settings.bucket, version_of(entry), destination)
        log.info("archive: %s -> s3://%s/%s (%s)", entry.object_key, settings.bucket, destination, moved)
        return moved

    outcome = {}
    if entries:
        outcome[entries[0].object_key] = move(entries[0])
        fault_point("archive_files")
        for entry, moved in zip(entries[1:], concurrently(move, entries[1:]), strict=True):
            outcome[entry.object_key] = moved
    return outcome
