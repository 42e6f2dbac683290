"""Per-environment settings: ``include/config/base.yaml`` with ``include/config/<env>.yaml`` (what
the environment changes) merged over it, the environment chosen by ``SALESFLOW_ENV``.

Any setting can be overridden by an environment variable ``SALESFLOW__<SECTION>__<NAME>`` (for
example ``SALESFLOW__STORAGE__BUCKET``); tests use this to get their own bucket, database and
folders. String values written as ``fernet:<token>`` are decrypted with the key from outside the
repository (see :mod:`salesflow.crypto`). Credentials themselves live in Airflow connections, whose
ids are fixed below so that every environment defines the same names.

The model mirrors the files (pydantic-settings: the files, then the environment, each value typed
and checked, every wrong one named in one error); the pipeline reads the short names of
:class:`Settings` (``settings.bucket``, ``settings.tables``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

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


class Section(BaseModel):
    """A section of the settings files: its names fixed (a misspelt one is an error), read-only."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Prefixes(Section):
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

    @field_validator("*")
    @classmethod
    def _folder(cls, value: str) -> str:
        """An S3 prefix as a folder: no leading slash, one trailing slash."""
        value = value.strip().lstrip("/")
        return value if value.endswith("/") else value + "/"


class Tables(Section):
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


class Dashboard(Section):
    """The "Sales pipeline" page's thresholds (section ``dashboard``)."""

    stale_after_hours: PositiveInt = 26
    stuck_after_minutes: PositiveInt = 120
    max_listed_files: PositiveInt = 500


class Storage(Section):
    bucket: str
    prefixes: Prefixes


class Local(Section):
    error_dir: Path

    @field_validator("error_dir", mode="before")
    @classmethod
    def _inside_project(cls, value: Any) -> Path:
        """``$VAR`` and ``~`` expanded; a relative folder is the project's."""
        path = Path(os.path.expandvars(str(value))).expanduser()
        return path if path.is_absolute() else PROJECT_ROOT / path


class Mysql(Section):
    database: str
    tables: Tables


class Pipeline(Section):
    max_attempts: PositiveInt


class Spark(Section):
    jdbc_jar: str
    jdbc_driver: str
    conf: dict[str, str] = Field(default_factory=dict)


class Settings(BaseSettings):
    """One environment's settings, as the files hold them with the environment's overrides."""

    model_config = SettingsConfigDict(
        env_prefix=OVERRIDE_PREFIX, env_nested_delimiter="__", frozen=True, extra="forbid"
    )

    environment: str
    storage: Storage
    local: Local
    mysql: Mysql
    # A list in the files, or "a,b" in SALESFLOW__MANDATORY_COLUMNS; names normalised to lower case.
    mandatory_columns: Annotated[tuple[str, ...], NoDecode]
    pipeline: Pipeline
    spark: Spark
    dashboard: Dashboard = Dashboard()
    limits: Limits = Field(default_factory=Limits)

    @field_validator("mandatory_columns", mode="before")
    @classmethod
    def _column_names(cls, value: Any) -> tuple[str, ...]:
        names = value.split(",") if isinstance(value, str) else value
        return tuple(str(name).strip().lower() for name in names if str(name).strip())

    # The names the pipeline reads.
    @property
    def bucket(self) -> str:
        return self.storage.bucket

    @property
    def prefixes(self) -> Prefixes:
        return self.storage.prefixes

    @property
    def error_dir(self) -> Path:
        return self.local.error_dir

    @property
    def database(self) -> str:
        return self.mysql.database

    @property
    def tables(self) -> Tables:
        return self.mysql.tables

    @property
    def max_attempts(self) -> int:
        return self.pipeline.max_attempts

    @property
    def spark_conf(self) -> dict[str, str]:
        return self.spark.conf

    @property
    def jdbc_jar(self) -> str:
        return self.spark.jdbc_jar

    @property
    def jdbc_driver(self) -> str:
        return self.spark.jdbc_driver


class _Environ(EnvSettingsSource):
    """``SALESFLOW__<SECTION>__<NAME>`` variables of a given mapping (not only ``os.environ``)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ  # read by _load_env_vars, which the parent's __init__ calls
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        # Names matched whatever their case (as for os.environ with case_sensitive off); values kept.
        return {name.lower(): value for name, value in self._environ.items()}


class _Decrypted(PydanticBaseSettingsSource):
    """A source's values with each ``fernet:`` string decrypted, named by its place in the files."""

    def __init__(self, source: PydanticBaseSettingsSource, environ: Mapping[str, str]) -> None:
        super().__init__(source.settings_cls)
        self._source, self._environ = source, environ

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ gives the whole tree

    def __call__(self) -> dict[str, Any]:
        return _decrypt_tree(self._source(), "", self._environ)


def _decrypt_tree(node: Any, where: str, environ: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        return {key: _decrypt_tree(value, f"{where}.{key}", environ) for key, value in node.items()}
    if isinstance(node, list):
        return [_decrypt_tree(value, f"{where}[{i}]", environ) for i, value in enumerate(node)]
    if is_encrypted(node):
        return decrypt_value(node, load_key(dict(environ)), name=where.lstrip("."))
    return node


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


def load_settings(environment: str | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, override and decrypt the settings of one environment (``environ``: the variables to
    read, ``os.environ`` by default)."""
    environ = dict(os.environ if environ is None else environ)
    environment = environment or environ.get(ENV_VAR, "dev")
    files = config_files(environment)
    # Highest first: the environment chosen, then SALESFLOW__ variables, then the files.
    sources = tuple(
        _Decrypted(source, environ)
        for source in (
            InitSettingsSource(Settings, {"environment": environment}),
            _Environ(Settings, environ),
            InitSettingsSource(Settings, files),
        )
    )
    try:
        return Settings(_build_sources=(sources, {}))
    except ValidationError as error:
        # Each wrong setting by its place in the files; never the value (it may be a secret).
        problems = "; ".join(
            f"{'.'.join(map(str, problem['loc']))}: {problem['msg']}" for problem in error.errors()
        )
        raise ConfigError(
            f"{CONFIG_DIR}/base.yaml with {environment}.yaml and {OVERRIDE_PREFIX}* variables: {problems}"
        ) from None
    except SettingsError as error:  # a variable that is not of its section's shape
        raise ConfigError(f"{OVERRIDE_PREFIX}* variables: {error}") from None
