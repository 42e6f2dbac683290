"""Operator's commands: ``python -m salesflow.cli <command>`` (see ``--help``)."""

from __future__ import annotations

import argparse
import sys

from salesflow.config import ConfigError, load_settings
from salesflow.crypto import SecretConfigError
from salesflow.db import DatabaseUnavailableError, connect, init_database
from salesflow.sql import render


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
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
        COMMANDS[args.command][0](settings)
    except DatabaseUnavailableError as error:
        print(
            f"salesflow: {error}. The make targets start a MariaDB of their own when "
            "SALESFLOW_MYSQL_HOST is unset; when it is set, SALESFLOW_MYSQL_HOST/PORT/USER/PASSWORD "
            "must name a MySQL that answers.",
            file=sys.stderr,
        )
        return 3
    except (ConfigError, SecretConfigError) as error:
        print(f"salesflow: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
