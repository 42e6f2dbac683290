"""Per-environment settings: ``include/config/<env>.yaml``, chosen by ``SALESFLOW_ENV``.

Any setting can be overridden by an environment variable ``SALESFLOW__<SECTION>__<NAME>`` (for
example ``SALESFLOW__STORAGE__BUCKET``); tests use this to get their own bucket, database and
folders. String values written as ``fernet:<token>`` are decrypted with the key from outside the
repository (see :mod:`salesflow.crypto`). Credentials themselves live in Airflow connections, whose
ids are fixed below so that every environment defines the same names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from salesflow.crypto import decrypt_value, is_encrypted, load_key
from salesflow.paths import CONFIG_DIR, PROJECT_ROOT

ENV_VAR = "SALESFLOW_ENV"
OVERRIDE_PREFIX = "SALESFLOW__"
ENVIRONMENTS = ("dev", "qa", "prod")

AWS_CONN_ID = "salesflow_s3"
MYSQL_CONN_ID = "salesflow_mysql"
SPARK_CONN_ID = "salesflow_spark"


class ConfigError(ValueError):
    """The configuration is missing or wrong; the message names the file and the setting."""


@dataclass(frozen=True)
class Prefixes:
    source: str
    processed: str
    error: str
    rejects: str
    partitioned_mart: str
    customer_mart: str
    sales_team_mart: str
    reports: str


@dataclass(frozen=True)
class Tables:
    ledger: str
    customer: str
    store: str
    product: str
    sales_team: str
    sales: str
    customers_data_mart: str
    sales_team_data_mart: str


@dataclass(frozen=True)
class Settings:
    environment: str
    bucket: str
    prefixes: Prefixes
    work_root: Path
    error_dir: Path
    database: str
    tables: Tables
    mandatory_columns: tuple[str, ...]
    spark_conf: dict[str, str]
    jdbc_jar: str
    jdbc_driver: str


def _apply_overrides(raw: dict[str, Any], environ: dict[str, str]) -> None:
    for name, value in environ.items():
        if not name.startswith(OVERRIDE_PREFIX):
            continue
        path = name[len(OVERRIDE_PREFIX) :].lower().split("__")
        node = raw
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{name}: {part!r} is not a section")
        node[path[-1]] = value


def _decrypt_tree(node: Any, where: str, environ: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _decrypt_tree(value, f"{where}.{key}", environ) for key, value in node.items()}
    if isinstance(node, list):
        return [_decrypt_tree(value, f"{where}[{i}]", environ) for i, value in enumerate(node)]
    if is_encrypted(node):
        return decrypt_value(node, load_key(environ), name=where.lstrip("."))
    return node


def _prefix(value: str) -> str:
    value = value.strip().lstrip("/")
    return value if value.endswith("/") else value + "/"


def _local_path(value: str) -> Path:
    path = Path(os.path.expandvars(str(value))).expanduser()
    return path if path.is_absolute() else PROJECT_ROOT / path


def load_settings(environment: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read, override and decrypt the settings of one environment."""
    environ = dict(os.environ if environ is None else environ)
    environment = environment or environ.get(ENV_VAR, "dev")
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"{ENV_VAR}={environment!r}: expected one of {', '.join(ENVIRONMENTS)}")
    config_file = CONFIG_DIR / f"{environment}.yaml"
    try:
        raw = yaml.safe_load(config_file.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read {config_file}: {error}") from None
    _apply_overrides(raw, environ)
    raw = _decrypt_tree(raw, "", environ)
    try:
        storage, local, mysql = raw["storage"], raw["local"], raw["mysql"]
        columns = raw["mandatory_columns"]
        if isinstance(columns, str):
            columns = columns.split(",")
        return Settings(
            environment=environment,
            bucket=str(storage["bucket"]),
            prefixes=Prefixes(**{k: _prefix(v) for k, v in storage["prefixes"].items()}),
            work_root=_local_path(local["work_root"]),
            error_dir=_local_path(local["error_dir"]),
            database=str(mysql["database"]),
            tables=Tables(**mysql["tables"]),
            mandatory_columns=tuple(c.strip().lower() for c in columns if c.strip()),
            spark_conf={str(k): str(v) for k, v in (raw["spark"].get("conf") or {}).items()},
            jdbc_jar=str(raw["spark"]["jdbc_jar"]),
            jdbc_driver=str(raw["spark"]["jdbc_driver"]),
        )
    except (KeyError, TypeError) as error:
        raise ConfigError(f"{config_file}: missing or malformed setting {error}") from None
