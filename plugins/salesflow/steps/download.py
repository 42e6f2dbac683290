"""The ``download_files`` step: each claimed file read once (SHA-256, format, header, limits) in a
scratch folder of the task's own, the accepted ones staged under the run's S3 prefix, the job's
spec written there."""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from salesflow.config import MYSQL_CONN_ID, Settings
from salesflow.contents import ContentOwners
from salesflow.contracts import IntakeFile, JdbcTarget, JobSpec
from salesflow.db import connect, mysql_hook
from salesflow.intake import EXTENSIONS, ContentInspector, FileVerdict, file_format, judge
from salesflow.ledger import FileLedger, LedgerEntry, StatusMove
from salesflow.paths import relative_key
from salesflow.run_files import earlier_spec, files_waiting, run_uri, spec_uri, staged_key, write_spec
from salesflow.statuses import IN_FLIGHT, FileStatus
from salesflow.storage import (
    ObjectChangedError,
    download_version,
    first_alone_then_pooled,
    s3_hook,
    stage_version,
)

log = logging.getLogger(__name__)


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
        owners = ContentOwners(ledger).record(
            [(e.id, sha256) for e, (sha256, _) in here if e.status != FileStatus.DUPLICATE],
            reprocessed={e.id: e.reprocess_of for e, _ in here if e.reprocess_of is not None},
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
            reprocess_of=entry.reprocess_of,
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
        tables=settings.tables.model_dump(),
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
