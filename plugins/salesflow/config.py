"""Per-environment settings: ``include/config/base.yaml`` with ``include/config/<env>.yaml`` (what
the environment changes) merged over it, the environment chosen by ``SALESFLOW_ENV``.

Any setting can be overridden by an environment variable ``SALESFLOW__<SECTION>__<NAME>`` (for
example ``SALESFLOW__STORAGE__BUCKET``); tests use this to get their own bucket, database and
folders. String values written as ``fernet:<token>`` are decrypted with the key from outside the
repository (see :mod:`salesflow.crypto`). Credentials themselves live in Airflow connections, whose
ids are fixed below so that every environment defines the same names.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from salesflow.crypto import decrypt_value, is_encrypted, load_key
from salesflow.limits import Limits
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
    customers_data_mart: str
    sales_team_data_mart: str
    comparison_mart: str
    customer_segments: str
    reports: str
    runs: str


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
    sales_comparison_mart: str
    customer_segments: str
    customer_month_summary: str
    sales_team_month_summary: str
    product_month_summary: str


@dataclass(frozen=True)
class Dashboard:
    """The "Sales pipeline" page's thresholds (section ``dashboard``)."""

    stale_after_hours: int = 26
    stuck_after_minutes: int = 120
    max_listed_files: int = 500


@dataclass(frozen=True)
class Settings:
    environment: str
    bucket: str
    prefixes: Prefixes
    error_dir: Path
    database: str
    tables: Tables
    mandatory_columns: tuple[str, ...]
    max_attempts: int
    spark_conf: dict[str, str]
    jdbc_jar: str
    jdbc_driver: str
    dashboard: Dashboard = Dashboard()
    limits: Limits = field(default_factory=Limits)


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


def _read_yaml(config_file: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(config_file.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read {config_file}: {error}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_file}: expected a mapping of settings")
    return raw


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``, section by section (a value that is not a section replaces)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def config_files(environment: str) -> dict[str, Any]:
    """The environment's settings as written: base.yaml with <environment>.yaml merged over it."""
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"{ENV_VAR}={environment!r}: expected one of {', '.join(ENVIRONMENTS)}")
    return _merge(_read_yaml(CONFIG_DIR / "base.yaml"), _read_yaml(CONFIG_DIR / f"{environment}.yaml"))


def load_settings(environment: str | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Read, override and decrypt the settings of one environment."""
    environ = dict(os.environ if environ is None else environ)
    environment = environment or environ.get(ENV_VAR, "dev")
    raw = config_files(environment)
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
            error_dir=_local_path(local["error_dir"]),
            database=str(mysql["database"]),
            tables=Tables(**mysql["tables"]),
            mandatory_columns=tuple(c.strip().lower() for c in columns if c.strip()),
            max_attempts=_positive_int(raw["pipeline"]["max_attempts"], "pipeline.max_attempts"),
            spark_conf={str(k): str(v) for k, v in (raw["spark"].get("conf") or {}).items()},
            jdbc_jar=str(raw["spark"]["jdbc_jar"]),
            jdbc_driver=str(raw["spark"]["jdbc_driver"]),
            dashboard=Dashboard(**_positive_ints(raw, "dashboard", Dashboard)),
            limits=Limits(**_positive_ints(raw, "limits", Limits)),
        )
    except (KeyError, TypeError) as error:
        raise ConfigError(
            f"{CONFIG_DIR}/base.yaml with {environment}.yaml: missing or malformed setting {error}"
        ) from None


def _positive_ints(raw: dict[str, Any], section: str, kind: type) -> dict[str, int]:
    """A section of whole numbers, each at least 1; a name the section does not have is an error."""
    values = raw.get(section) or {}
    unknown = sorted(set(values) - {f.name for f in fields(kind)})
    if unknown:
        raise ConfigError(f"{section}: no setting called {', '.join(unknown)}")
    return {name: _positive_int(value, f"{section}.{name}") for name, value in values.items()}


def _positive_int(value: Any, name: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number < 1:
        raise ConfigError(f"{name}: expected a whole number of at least 1, got {value!r}")
    return number
