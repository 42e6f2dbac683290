"""Operator's commands: ``python -m salesflow.cli <command>`` (see ``--help``)."""

from __future__ import annotations

import argparse
import sys

from salesflow.config import ConfigError, load_settings
from salesflow.crypto import SecretConfigError
from salesflow.db import DatabaseUnavailableError, connect, init_database
from salesflow.sql import render


class CommandError(RuntimeError):
    """A command could not do its work; the message says why and what to do instead."""


def _check_mysql(settings) -> None:
    with connect(settings, database=None) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT VERSION()")
        print(f"MySQL answers: {cursor.fetchone()[0]}")


def _create_bucket(settings) -> None:
    from salesflow.storage import s3_hook

    hook = s3_hook()
    if not hook.check_for_bucket(settings.bucket):
        hook.create_bucket(bucket_name=settings.bucket)
        print(f"created bucket s3://{settings.bucket}")


def _print_query(settings, statement: str) -> None:
    """A query's rows as an aligned table, its column names as the header."""
    with connect(settings) as conn, conn.cursor() as cursor:
        cursor.execute(render(statement, settings.tables))
        rows = cursor.fetchall()
        header = tuple(column[0] for column in cursor.description)
    if not rows:
        print("(no rows yet)")
        return
    widths = [max(len(str(v)) for v in column) for column in zip(header, *rows, strict=False)]
    for row in (header, *rows):
        print("  ".join(str("" if v is None else v).ljust(w) for v, w in zip(row, widths, strict=True)))


def _show_ledger(settings) -> None:
    _print_query(settings, "ledger/report.sql")


def _list_bucket(settings) -> None:
    from salesflow.storage import s3_hook

    for item in s3_hook().iter_file_metadata(prefix="", bucket_name=settings.bucket):
        print(f"{item['Size']:>12}  s3://{settings.bucket}/{item['Key']}")


def _latest_report(settings) -> None:
    from salesflow.storage import s3_hook

    hook = s3_hook()
    reports = [
        item
        for item in hook.iter_file_metadata(prefix=settings.prefixes.reports, bucket_name=settings.bucket)
        if item["Key"].endswith("/report.md")
    ]
    if not reports:
        print(f"no run report under s3://{settings.bucket}/{settings.prefixes.reports}")
        return
    newest = max(reports, key=lambda item: item["LastModified"])
    print(hook.read_key(newest["Key"], settings.bucket), end="")


def _reprocess(settings, requested: list[str], dry_run: bool) -> None:
    """What each file asked for names and whether it can be reprocessed; then a run of
    ``sales_pipeline`` with the ``reprocess`` param (the run decides again, and its report says)."""
    import json
    import subprocess

    from salesflow.ledger import FileLedger
    from salesflow.steps.reprocess import judge
    from salesflow.storage import s3_hook

    hook = s3_hook()
    with connect(settings) as conn:
        ledger = FileLedger(conn, settings.tables)
        for item in requested:
            request = judge(settings, hook, ledger, item)
            origin = request.origin
            named = f"ledger id {origin.id}, {origin.object_key}, {origin.status}" if origin else "no entry"
            verdict = (
                f"not reprocessed: {request.refused}"
                if request.refused
                else f"from s3://{settings.bucket}/{request.source.key}"
            )
            print(f"{item}: {named}: {verdict}")
    if dry_run:
        return
    conf = json.dumps({"reprocess": requested})
    try:
        subprocess.run(
            [sys.executable, "-m", "airflow", "dags", "trigger", "sales_pipeline", "--conf", conf], check=True
        )
    except (OSError, subprocess.CalledProcessError) as error:
        raise CommandError(
            f"could not trigger sales_pipeline ({error}); trigger it from the UI with the conf {conf}"
        ) from None


def _wire_events(settings, target: str | None = None) -> None:
    from salesflow.events import EVENTS_QUEUE_ENV, wire_bucket

    url = wire_bucket(settings, target)
    print(
        f"events: s3://{settings.bucket}/{settings.prefixes.source} notifies {url}; "
        f"the DAG watches it when {EVENTS_QUEUE_ENV} names it",
        file=sys.stderr,
    )
    print(url)


COMMANDS = {
    "check-mysql": (_check_mysql, "check that MySQL answers"),
    "init-db": (init_database, "create the database, tables and sample dimensions (idempotent)"),
    "create-bucket": (_create_bucket, "create the configured bucket if it is missing"),
    "ledger": (_show_ledger, "print the file ledger"),
    "ls": (_list_bucket, "list the configured bucket"),
    "latest-report": (_latest_report, "print the newest run report (Markdown)"),
    "movers": (lambda s: _print_query(s, "analytics/top_movers.sql"), "the latest month's biggest movers"),
    "segments": (lambda s: _print_query(s, "analytics/segments_latest.sql"), "customers per segment, latest"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m salesflow.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text)
    reprocess = sub.add_parser(
        "reprocess", help="load settled files again (ledger ids or S3 keys): triggers sales_pipeline"
    )
    reprocess.add_argument("files", nargs="+", help="ledger ids or object keys (under the source prefix)")
    reprocess.add_argument("--dry-run", action="store_true", help="say what would happen, trigger nothing")
    wire = sub.add_parser(
        "wire-events", help="the bucket's SQS queue and event notification (idempotent); prints the URL"
    )
    wire.add_argument(
        "--target",
        help="only the notification, to a queue the S3 server sends to itself "
        "(MinIO's Kafka target: arn:minio:sqs::SALESFLOW:kafka)",
    )
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        if args.command == "reprocess":
            _reprocess(settings, list(dict.fromkeys(args.files)), args.dry_run)
        elif args.command == "wire-events":
            _wire_events(settings, args.target)
        else:
            COMMANDS[args.command][0](settings)
    except DatabaseUnavailableError as error:
        print(
            f"salesflow: {error}. The make targets start a MariaDB of their own when "
            "SALESFLOW_MYSQL_HOST is unset; when it is set, SALESFLOW_MYSQL_HOST/PORT/USER/PASSWORD "
            "must name a MySQL that answers.",
            file=sys.stderr,
        )
        return 3
    except (ConfigError, SecretConfigError, CommandError) as error:
        print(f"salesflow: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
