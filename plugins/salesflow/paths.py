"""Where the project's files live (derived from this package's location), the path rules for S3
keys, and the one way a file is written whole."""

from __future__ import annotations

import re
import shutil
from pathlib import Path, PurePosixPath

PROJECT_ROOT = Path(__file__).resolve().parents[2]
INCLUDE_DIR = PROJECT_ROOT / "include"
SQL_DIR = INCLUDE_DIR / "sql"
CONFIG_DIR = INCLUDE_DIR / "config"
SPARK_JOBS_DIR = PROJECT_ROOT / "spark_jobs"
# The Spark driver's class-data-sharing archive, built by scripts/spark_cds.sh when present.
SPARK_CDS_ARCHIVE = PROJECT_ROOT / ".venv" / "spark-cds.jsa"
# The jars Spark needs beside the wheel (S3A, the AWS SDK, the committers), by scripts/spark_jars.sh.
SPARK_JARS_DIR = PROJECT_ROOT / ".venv" / "spark-jars"

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


def sanitize_name(value: str, max_length: int = 120) -> str:
    """A string made safe as one path segment (run ids hold ':' and '+')."""
    cleaned = _UNSAFE_NAME_CHARS.sub("_", value).strip("._") or "_"
    return cleaned[:max_length]


def relative_key(key: str, prefix: str) -> str | None:
    """The part of `key` below `prefix` if it is a safe relative path, else None.

    Unsafe: outside the prefix, absolute, empty, with '.'/'..' or empty segments, NUL or backslash.
    S3 keys are plain strings, so a key like ``sales_data/../../etc/passwd`` is legal in S3 and must
    never become a local path.
    """
    if not key.startswith(prefix):
        return None
    rest = key[len(prefix) :]
    if not rest or rest.startswith("/") or "\\" in rest or "\x00" in rest:
        return None
    parts = rest.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return None
    return str(PurePosixPath(*parts))


def rebase_key(key: str, from_prefix: str, to_prefix: str) -> str:
    """The same key below another prefix: ``sales_data/a/b.csv`` -> ``sales_data_error/a/b.csv``."""
    if not key.startswith(from_prefix):
        raise ValueError(f"{key!r} is not below {from_prefix!r}")
    return to_prefix + key[len(from_prefix) :]


MAX_NAME_BYTES = 255


def path_inside(base: Path, relative: str) -> Path | None:
    """`base / relative`, or None when it would resolve outside `base` or a name is too long."""
    if any(len(part.encode()) > MAX_NAME_BYTES for part in PurePosixPath(relative).parts):
        return None
    base = base.resolve()
    candidate = (base / relative).resolve()
    return candidate if candidate.is_relative_to(base) and candidate != base else None


def write_atomically(target: Path, content: bytes | str | None = None, source: Path | None = None) -> None:
    """``content`` (or a copy of ``source``) at ``target``, whole or not at all.

    Written beside the target and renamed over it, so a task that dies mid-write leaves the earlier
    file (or none), never half of one, for its retry to read.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    if source is not None:
        shutil.copyfile(source, partial)
    elif isinstance(content, str):
        partial.write_text(content)
    else:
        partial.write_bytes(content or b"")
    partial.replace(target)
