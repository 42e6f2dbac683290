"""The docker-compose stack, checked without Docker (no Docker engine runs on the build machines).

These tests read ``docker-compose.yaml`` and the ``Dockerfile`` as Compose and Docker would, resolve
``${VAR:-default}`` to its default (the stack as ``docker compose up`` starts it with no ``.env``),
and check them against the project's own code: the connection ids of ``salesflow.config``, the
settings ``load_settings`` builds from the compose environment, the paths of ``salesflow.paths``,
and the connection parsing of the Airflow providers themselves.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

import salesflow
from salesflow import config as salesflow_config
from salesflow.config import ENV_VAR, ENVIRONMENTS, OVERRIDE_PREFIX, config_files, load_settings
from salesflow.paths import INCLUDE_DIR, PROJECT_ROOT, SPARK_JOBS_DIR

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yaml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
REQUIREMENTS = PROJECT_ROOT / "requirements.txt"
DAGS_DIR = PROJECT_ROOT / "dags"
PLUGINS_DIR = Path(salesflow.__file__).resolve().parents[1]

# The official image's AIRFLOW_HOME: Airflow's default dags and plugins folders are below it.
AIRFLOW_HOME = PurePosixPath("/opt/airflow")
AIRFLOW_SERVICES = (
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
)
# The service that runs the tasks (CeleryExecutor), so also the Spark jobs' driver.
TASK_RUNNER = "airflow-worker"
SPARK_MASTER_CLASS = "org.apache.spark.deploy.master.Master"
SPARK_WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
SPARK_MASTER_DEFAULT_PORT = 7077
SPARK_SERVICES = ("spark-master", "spark-worker", "spark-connect")
MINIO_DEFAULT_PORT = 9000
MYSQL_DEFAULT_PORT = 3306
# What compose may decide for salesflow; every other setting comes from include/config/<env>.yaml.
STACK_OVERRIDES = {
    ("local", "error_dir"),
    ("mysql", "database"),
    ("storage", "bucket"),
}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$")
WHOLE_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(:?-[^}]*)?\}")


# ------------------------------------------------------------------------------------ reading
_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<default>[^}]*))?\}"
    r"|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(value: str) -> str:
    """Compose's interpolation with an empty environment: ``${VAR:-default}`` -> default, ``$$`` -> ``$``."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        assert not (match.group("op") or "").endswith("?"), f"{match.group(0)} needs a value: no default"
        return match.group("default") or ""

    return _INTERPOLATION.sub(replace, value)


def _resolve(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: _resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(value) for value in node]
    return interpolate(node) if isinstance(node, str) else node


def shell_expand(text: str, env: dict[str, str]) -> str:
    """``$NAME`` and ``${NAME}`` as the container's shell expands them from the service's environment."""
    return re.sub(
        r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?",
        lambda match: env.get(match.group(1), ""),
        text,
    )


@pytest.fixture(scope="module")
def raw_compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def compose(raw_compose) -> dict:
    return _resolve(raw_compose)


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {key: str(value).lower() if isinstance(value, bool) else str(value) for key, value in env.items()}


def script_commands(service: dict) -> list[list[str]]:
    """The service's command as simple commands; a ``sh -c``/``bash -c`` script is split as a shell would."""
    command = service.get("command") or []
    words = shlex.split(command) if isinstance(command, str) else [str(word) for word in command]
    entrypoint = service.get("entrypoint") or []
    entrypoint = shlex.split(entrypoint) if isinstance(entrypoint, str) else list(entrypoint)
    if "-c" in words[:2]:
        script = words[words.index("-c") + 1]
    elif entrypoint[-1:] == ["-c"] and words:
        script = words[0]
    else:
        return [words]
    commands: list[list[str]] = []
    for line in shell_expand(script.replace("\\\n", " "), environment(service)).splitlines():
        lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
        lexer.whitespace_split = True
        current: list[str] = []
        for token in lexer:
            if token.startswith("#") and not current:
                break
            if set(token) <= set(";&|"):
                commands.append(current)
                current = []
            else:
                current.append(token)
        commands.append(current)
    return [command for command in commands if command]


def command_words(service: dict) -> list[str]:
    return [word for command in script_commands(service) for word in command]


def option(words: list[str], name: str) -> str | None:
    for i, word in enumerate(words):
        if word == name and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(name + "="):
            return word.split("=", 1)[1]
    return None


def mounts(service: dict) -> list[tuple[str, str, bool]]:
    """(source, target, read_only) of each volume, short or long syntax."""
    result = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, dict):
            result.append((volume.get("source", ""), volume["target"], bool(volume.get("read_only"))))
        else:
            source, target, *mode = volume.split(":")
            result.append((source, target, "ro" in mode[:1]))
    return result


def depends_on(service: dict) -> dict[str, dict]:
    value = service.get("depends_on") or {}
    return {name: {} for name in value} if isinstance(value, list) else value


def closure(services: dict, name: str) -> set[str]:
    """Every service `name` waits for, directly or through the services it waits for."""
    seen: set[str] = set()
    todo = list(depends_on(services[name]))
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo.extend(depends_on(services[current]))
    return seen


def container_path(path: Path) -> PurePosixPath:
    """Where a path load_settings resolved on this machine is inside the image."""
    if path.is_relative_to(PROJECT_ROOT):
        return container_project_root() / path.relative_to(PROJECT_ROOT).as_posix()
    return PurePosixPath(path.as_posix())


# ------------------------------------------------------------------------------- Dockerfile
def dockerfile_stages() -> list[dict]:
    """The Dockerfile's stages: name, base image and (instruction, arguments) pairs."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[dict] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            words = [word for word in arguments.split() if not word.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append({"name": name, "from": words[0], "instructions": []})
        else:
            stages[-1]["instructions"].append((instruction, arguments.strip()))
    return stages


def final_stage() -> dict:
    return dockerfile_stages()[-1]


def copies(stage: dict) -> dict[str, str]:
    """COPY sources (without trailing '/') -> destination, for copies from the build context."""
    result = {}
    for instruction, arguments in stage["instructions"]:
        if instruction != "COPY":
            continue
        words = arguments.split()
        if any(word.startswith("--from") for word in words):
            continue
        paths = [word for word in words if not word.startswith("--")]
        for source in paths[:-1]:
            result[source.rstrip("/")] = paths[-1].rstrip("/")
    return result


def apt_packages(stage: dict) -> set[str]:
    packages: set[str] = set()
    for instruction, arguments in stage["instructions"]:
        if instruction != "RUN":
            continue
        for part in re.split(r"&&|;", arguments):
            words = part.split()
            if words[:2] == ["apt-get", "install"]:
                packages.update(word for word in words[2:] if not word.startswith("-"))
    return packages


def container_project_root() -> PurePosixPath:
    """salesflow.paths.PROJECT_ROOT inside the image: paths.py's place below the copied plugins/."""
    plugins_target = PurePosixPath(copies(final_stage())[PLUGINS_DIR.relative_to(PROJECT_ROOT).as_posix()])
    paths_file = Path(sys.modules["salesflow.paths"].__file__).resolve()
    in_image = plugins_target / paths_file.relative_to(PLUGINS_DIR).as_posix()
    return in_image.parents[len(paths_file.relative_to(PROJECT_ROOT).parts) - 1]


# ---------------------------------------------------------------------------- the settings
@pytest.fixture(scope="module")
def common_env(compose) -> dict[str, str]:
    return environment(compose["x-airflow-common"])


@pytest.fixture(scope="module")
def settings(common_env):
    return load_settings(environ=common_env)


def connection_ids() -> dict[str, str]:
    """Every connection id salesflow.config names (``*_CONN_ID``)."""
    return {name: value for name, value in vars(salesflow_config).items() if name.endswith("_CONN_ID")}


def hook_classes() -> dict[str, type]:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from airflow.providers.apache.spark.hooks.spark_connect import SparkConnectHook
    from airflow.providers.mysql.hooks.mysql import MySqlHook

    return {
        salesflow_config.AWS_CONN_ID: S3Hook,
        salesflow_config.MYSQL_CONN_ID: MySqlHook,
        salesflow_config.SPARK_CONN_ID: SparkConnectHook,  # the jobs are clients of spark-connect
    }


@pytest.fixture
def compose_connections(common_env, monkeypatch) -> dict[str, str]:
    """The compose file's AIRFLOW_CONN_* values in this process's environment, as Airflow reads them."""
    for conn_id in connection_ids().values():
        name = f"AIRFLOW_CONN_{conn_id.upper()}"
        if name in common_env:
            monkeypatch.setenv(name, common_env[name])
    return common_env


def minio_init(services) -> dict[str, Any]:
    """The alias (endpoint and credentials) and the bucket the minio-init service's `mc` creates."""
    commands = script_commands(services["minio-init"])
    alias = next(command for command in commands if command[:3] == ["mc", "alias", "set"])
    make_bucket = next(command for command in commands if command[:2] == ["mc", "mb"])
    target = next(word for word in make_bucket[2:] if not word.startswith("-"))
    alias_name, _, bucket = target.partition("/")
    assert alias_name == alias[3], f"mc mb uses alias {alias_name!r}, mc alias set defines {alias[3]!r}"
    return {"url": alias[4], "user": alias[5], "password": alias[6], "bucket": bucket.strip("/")}


def spark_master(services) -> tuple[str, int]:
    """(host, port) the spark-master service's Master listens on."""
    service = services["spark-master"]
    words = command_words(service)
    assert SPARK_MASTER_CLASS in words, f"spark-master does not run {SPARK_MASTER_CLASS}: {words}"
    host = option(words, "--host") or service.get("hostname") or "spark-master"
    return host, int(option(words, "--port") or SPARK_MASTER_DEFAULT_PORT)


# ==================================================================================== tests
def test_every_airflow_service_gets_the_common_image_environment_and_volumes(compose, services):
    common = compose["x-airflow-common"]
    common_env = environment(common)
    assert common_env, "x-airflow-common has no environment"
    for name in AIRFLOW_SERVICES:
        assert name in services, f"no {name} service"
        service = services[name]
        env = environment(service)
        missing = {key for key in common_env if env.get(key) != common_env[key]}
        assert not missing, f"{name} lacks or changes the common environment: {sorted(missing)}"
        assert (service.get("image"), service.get("build")) == (common.get("image"), common.get("build"))
        assert set(mounts(common)) <= set(mounts(service)), f"{name} lacks the common volumes"
    assert common_env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    build = common.get("build") or {}
    assert (build.get("context"), build.get("dockerfile", "Dockerfile")) == (".", DOCKERFILE.name)


def test_spark_runs_the_same_image_as_the_tasks(compose, services):
    """The driver runs on spark-connect (or in the task) and the executors on spark-worker: the same
    Python, pyspark and jobs."""
    common = compose["x-airflow-common"]
    for name in SPARK_SERVICES:
        assert (services[name].get("image"), services[name].get("build")) == (
            common["image"],
            common["build"],
        )


@pytest.mark.parametrize("conn_id", sorted(connection_ids().values()))
def test_each_connection_is_provided_with_its_type(common_env, conn_id):
    value = common_env.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    assert value is not None, f"connection {conn_id!r} is not provided (AIRFLOW_CONN_{conn_id.upper()})"
    hook = hook_classes()[conn_id]
    assert json.loads(value)["conn_type"] == hook.conn_type


def test_s3_connection_is_the_minio_service(services, compose_connections):
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    config = S3Hook(aws_conn_id=salesflow_config.AWS_CONN_ID).conn_config
    endpoint = urlsplit(config.endpoint_url)
    assert endpoint.hostname in services, f"S3 endpoint {config.endpoint_url} is not a compose service"
    minio = services[endpoint.hostname]
    address = option(command_words(minio), "--address") or f":{MINIO_DEFAULT_PORT}"
    assert (endpoint.port or 80) == int(address.rsplit(":", 1)[1]), "not the port MinIO listens on"
    minio_env = environment(minio)
    assert (config.aws_access_key_id, config.aws_secret_access_key) == (
        minio_env["MINIO_ROOT_USER"],
        minio_env["MINIO_ROOT_PASSWORD"],
    )
    assert config.region_name
    created = minio_init(services)
    assert urlsplit(created["url"])[:2] == endpoint[:2], "minio-init talks to another endpoint"
    assert (created["user"], created["password"]) == (config.aws_access_key_id, config.aws_secret_access_key)


def test_mysql_connection_is_the_mysql_service_with_local_infile(services, compose_connections):
    from airflow.providers.mysql.hooks.mysql import MySqlHook

    connection = MySqlHook.get_connection(salesflow_config.MYSQL_CONN_ID)
    assert connection.host in services, f"MySQL host {connection.host!r} is not a compose service"
    mysql = services[connection.host]
    words = command_words(mysql)
    assert (connection.port or MYSQL_DEFAULT_PORT) == int(option(words, "--port") or MYSQL_DEFAULT_PORT)
    mysql_env = environment(mysql)
    assert (connection.login, connection.password) == (mysql_env["MYSQL_USER"], mysql_env["MYSQL_PASSWORD"])
    assert connection.extra_dejson.get("local_infile") is True
    local_infile = option(words, "--local-infile") or option(words, "--local_infile")
    assert str(local_infile).upper() in ("1", "ON", "TRUE"), "the server must allow LOAD DATA LOCAL INFILE"


def test_spark_connection_is_the_connect_server_in_front_of_the_master_the_worker_joins(
    services, compose_connections
):
    from include.spark_connect import MASTER_ENV, PORT_ENV
    from salesflow.spark_setup import SparkRemote

    remote = SparkRemote.from_connection(salesflow_config.SPARK_CONN_ID)
    assert remote is not None and remote.token is None  # no token: plain gRPC to another host
    where = urlsplit(remote.url.replace("sc://", "http://", 1))
    server = services[where.hostname]
    assert "include.spark_connect serve" in " ".join(command_words(server))
    env = environment(server)
    assert int(env[PORT_ENV]) == where.port
    assert env.get("SPARK_LOCAL_HOSTNAME") in (where.hostname, server.get("hostname")), "the driver's name"
    host, port = spark_master(services)
    assert env[MASTER_ENV] == f"spark://{host}:{port}"
    assert host in ("spark-master", services["spark-master"].get("hostname")), "not a name others resolve"
    worker = command_words(services["spark-worker"])
    assert SPARK_WORKER_CLASS in worker
    assert worker[worker.index(SPARK_WORKER_CLASS) + 1] == env[MASTER_ENV]
    assert "ports" not in server, "no token guards it: only the stack's containers may reach it"
    # It reads MinIO itself, as the tasks do.
    s3 = json.loads(compose_connections[f"AIRFLOW_CONN_{salesflow_config.AWS_CONN_ID.upper()}"])
    assert env["AWS_ENDPOINT_URL_S3"] == s3["extra"]["endpoint_url"]
    assert (env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]) == (s3["login"], s3["password"])
    assert {"spark-worker", "minio"} <= closure(services, where.hostname)


def test_spark_driver_advertises_a_name_the_executors_reach(services):
    """The operator pins SPARK_LOCAL_IP to 127.0.0.1 unless set: the driver must name itself."""
    worker = services[TASK_RUNNER]
    env = environment(worker)
    local_ip = env.get("SPARK_LOCAL_IP", "127.0.0.1")
    if local_ip.startswith("127."):
        assert env.get("SPARK_LOCAL_HOSTNAME") in (TASK_RUNNER, worker.get("hostname")), (
            "SPARK_LOCAL_HOSTNAME must be a name spark-worker resolves to the task's worker"
        )


def test_s3_events_go_from_minio_through_the_kafka_service_to_the_dags_watcher(
    services, common_env, monkeypatch
):
    """MinIO's Kafka target, the topic the watcher reads, the brokers of its connection and the
    target airflow-init wires the bucket to are the same; the triggerer starts after Kafka."""
    from airflow.providers.apache.kafka.hooks.base import KafkaBaseHook

    from salesflow.events import EVENTS_QUEUE_ENV, KAFKA_CONN_ID, kafka_topic

    topic = kafka_topic(common_env[EVENTS_QUEUE_ENV])
    minio = environment(services["minio"])
    targets = [
        name.removeprefix("MINIO_NOTIFY_KAFKA_ENABLE_")
        for name in minio
        if name.startswith("MINIO_NOTIFY_KAFKA_ENABLE_")
    ]
    assert len(targets) == 1 and minio[f"MINIO_NOTIFY_KAFKA_ENABLE_{targets[0]}"] == "on"
    assert minio[f"MINIO_NOTIFY_KAFKA_TOPIC_{targets[0]}"] == topic
    name = f"AIRFLOW_CONN_{KAFKA_CONN_ID.upper()}"
    monkeypatch.setenv(name, common_env[name])
    connection = KafkaBaseHook.get_connection(KAFKA_CONN_ID)
    assert connection.conn_type == KafkaBaseHook.conn_type
    brokers = connection.extra_dejson["bootstrap.servers"]
    assert brokers == minio[f"MINIO_NOTIFY_KAFKA_BROKERS_{targets[0]}"]
    host, port = brokers.split(":")
    kafka = environment(services[host])
    assert f"PLAINTEXT://{host}:{port}" in kafka["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert connection.extra_dejson["group.id"] and connection.extra_dejson["enable.auto.commit"] is False
    init = " ".join(" ".join(words) for words in script_commands(services["airflow-init"]))
    assert f"wire-events --target arn:minio:sqs::{targets[0]}:kafka" in init
    assert host in closure(services, "airflow-triggerer") and host in closure(services, "minio")


def test_celery_uses_the_redis_service_and_the_metadata_database(services, common_env):
    broker = urlsplit(common_env["AIRFLOW__CELERY__BROKER_URL"])
    assert (
        broker.scheme == "redis"
        and broker.hostname in services
        and "redis" in services[broker.hostname]["image"]
    )
    backend = urlsplit(common_env["AIRFLOW__CELERY__RESULT_BACKEND"].removeprefix("db+"))
    assert backend.hostname == urlsplit(common_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname
    assert "celery" in command_words(services[TASK_RUNNER]) and "worker" in command_words(
        services[TASK_RUNNER]
    )


def test_task_logs_go_to_the_bucket_through_the_s3_connection(common_env, settings):
    """A task's log outlives its worker: the UI reads it from MinIO."""
    assert common_env["AIRFLOW__LOGGING__REMOTE_LOGGING"].lower() == "true"
    assert common_env["AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID"] == salesflow_config.AWS_CONN_ID
    folder = urlsplit(common_env["AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER"])
    assert (folder.scheme, folder.hostname) == ("s3", settings.bucket)


def test_settings_are_the_config_file_plus_the_stacks_overrides(common_env, settings):
    assert common_env.get(ENV_VAR) in ENVIRONMENTS, f"{ENV_VAR} is not set to one of {ENVIRONMENTS}"
    assert settings.environment == common_env[ENV_VAR]
    config_file = config_files(settings.environment)
    for name in common_env:
        if not name.startswith(OVERRIDE_PREFIX):
            continue
        path = tuple(name[len(OVERRIDE_PREFIX) :].lower().split("__"))
        assert path in STACK_OVERRIDES, f"{name}: compose only overrides what the stack decides"
        node = config_file
        for part in path:
            assert isinstance(node, dict) and part in node, f"{name} names no setting of the config file"
            node = node[part]
    # With its defaults the stack keeps the config file's names: the file stays the one source.
    from_file = load_settings(settings.environment, environ={})
    assert (settings.bucket, settings.database) == (from_file.bucket, from_file.database)
    assert settings.tables == from_file.tables and settings.spark_conf == from_file.spark_conf


def test_bucket_is_the_one_minio_init_creates(services, settings):
    assert minio_init(services)["bucket"] == settings.bucket
    assert depends_on(services["minio-init"]).get("minio", {}).get("condition") == "service_healthy"


def test_database_is_the_one_the_mysql_service_creates(services, settings):
    assert environment(services["mysql"])["MYSQL_DATABASE"] == settings.database
    # airflow-init creates the tables in it (salesflow.cli init-db)
    init_words = command_words(services["airflow-init"])
    assert "salesflow.cli" in init_words and init_words[init_words.index("salesflow.cli") + 1] == "init-db"


def test_spark_shares_no_volume_with_airflow(services):
    """Spark reads and writes S3 itself: no folder of a task is a folder of Spark's."""
    for name in SPARK_SERVICES:
        assert mounts(services[name]) == [], f"{name} mounts {mounts(services[name])}"


def test_the_error_folder_is_on_a_writable_volume_of_the_services_that_run_tasks(compose, services, settings):
    folder = container_path(settings.error_dir)
    assert folder.is_absolute()
    for name in (TASK_RUNNER,):
        holding = [
            (source, target, read_only)
            for source, target, read_only in mounts(services[name])
            if folder.is_relative_to(PurePosixPath(target))
        ]
        assert holding, f"{folder} is not on a volume of {name}"
        source, target, read_only = max(holding, key=lambda mount: len(mount[1]))
        assert not read_only, f"{name} mounts {target} read-only"
        assert source in (compose.get("volumes") or {}), f"{source} is not a named volume"


def test_dependencies_wait_for_health_or_completion(services):
    one_shot = {
        target
        for service in services.values()
        for target, spec in depends_on(service).items()
        if spec.get("condition") == "service_completed_successfully"
    }
    for name, service in services.items():
        for target, spec in depends_on(service).items():
            assert target in services, f"{name} depends on unknown {target}"
            condition = spec.get("condition")
            assert condition in ("service_healthy", "service_completed_successfully"), (
                f"{name} -> {target}: {condition!r} starts {name} before {target} is ready"
            )
            if condition == "service_healthy":
                assert target not in one_shot and services[target].get("healthcheck", {}).get("test"), (
                    f"{name} waits for {target} to be healthy, but {target} has no health check"
                )
        if name in one_shot:
            assert service.get("restart", "no") == "no", f"{name} is a one-shot job: restart no"
        else:
            check = service.get("healthcheck") or {}
            assert check.get("test") and not check.get("disable"), f"{name} runs on with no health check"
            assert service.get("restart") in ("always", "unless-stopped"), f"{name} is not restarted"
    assert {"airflow-init", "minio-init"} <= one_shot


def test_services_start_after_what_they_use(services, common_env, compose_connections):
    from airflow.providers.mysql.hooks.mysql import MySqlHook

    metadata_db = urlsplit(common_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname
    s3_connection = json.loads(common_env[f"AIRFLOW_CONN_{salesflow_config.AWS_CONN_ID.upper()}"])
    s3 = urlsplit(s3_connection["extra"]["endpoint_url"])
    mysql = MySqlHook.get_connection(salesflow_config.MYSQL_CONN_ID).host
    master, _ = spark_master(services)
    for name in AIRFLOW_SERVICES:
        assert metadata_db in closure(services, name), f"{name} may start before {metadata_db}"
        if name != "airflow-init":
            assert depends_on(services[name]).get("airflow-init", {}).get("condition") == (
                "service_completed_successfully"
            )
    # The worker runs the tasks; the triggerer runs the deferred S3 sensor.
    assert {s3.hostname, mysql, master, "spark-worker", "redis"} <= closure(services, TASK_RUNNER)
    assert s3.hostname in closure(services, "airflow-triggerer")
    for name, service in services.items():
        if "salesflow.cli" in command_words(service):
            assert depends_on(service).get(mysql, {}).get("condition") == "service_healthy", name
    api = urlsplit(common_env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert api.hostname == "airflow-apiserver"
    assert any(str(port).endswith(f":{api.port}") for port in services[api.hostname]["ports"])


def test_secrets_come_from_the_environment(raw_compose):
    """Every password, secret and key is a ${VARIABLE} (with at most a local-only default)."""
    checked = 0
    sources = {"x-airflow-common": raw_compose["x-airflow-common"], **raw_compose["services"]}
    for name, service in sources.items():
        for key, value in environment(service).items():
            if key.startswith("AIRFLOW_CONN_"):
                password = json.loads(value).get("password")
                if password is not None:
                    assert WHOLE_VARIABLE.fullmatch(password), f"{name}: {key} has a literal password"
                    checked += 1
            elif key == "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN":
                assert WHOLE_VARIABLE.fullmatch(urlsplit(value).password or ""), f"{name}: {key}"
                checked += 1
            elif SECRET_NAME.search(key) and not key.endswith("_FILE"):
                assert WHOLE_VARIABLE.fullmatch(value), f"{name}: {key} is not taken from the environment"
                checked += 1
    assert checked >= 8
    assert ".env" in DOCKERIGNORE.read_text().split(), ".env must never reach the image"


def _required_reads(tree: ast.AST) -> tuple[set[str], set[str]]:
    """Environment variables read with no fallback (``os.environ[...]``), and Airflow Variables read."""
    env_reads, variables = set(), set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Subscript)
            and ast.unparse(node.value) == "os.environ"
            and isinstance(node.slice, ast.Constant)
            and isinstance(node.ctx, ast.Load)
        ):
            env_reads.add(node.slice.value)
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) == "Variable.get"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            variables.add(node.args[0].value)
    return env_reads, variables


def image_environment() -> dict[str, str]:
    env = {}
    for instruction, arguments in final_stage()["instructions"]:
        if instruction == "ENV":
            for assignment in shlex.split(arguments):
                name, _, value = assignment.partition("=")
                env[name] = value
    return env


def test_environment_and_variables_the_dag_reads_are_provided(services, common_env):
    provided = {**image_environment(), **environment(services[TASK_RUNNER])}
    for source in [*DAGS_DIR.rglob("*.py"), *PLUGINS_DIR.rglob("*.py")]:
        env_reads, variables = _required_reads(ast.parse(source.read_text()))
        for name in env_reads:
            assert name in provided, f"{source.name} needs ${name}, which neither compose nor the image sets"
        for name in variables:
            assert f"AIRFLOW_VAR_{name.upper()}" in common_env, f"{source.name} reads Variable {name!r}"


# ------------------------------------------------------------------------------- Dockerfile
def airflow_pin() -> str:
    return re.search(r"^apache-airflow==(\S+)", REQUIREMENTS.read_text(), re.MULTILINE).group(1)


def test_dockerfile_extends_the_official_airflow_image_of_the_pinned_version():
    stages = dockerfile_stages()
    python = re.search(r"--python-version (\d+\.\d+)", REQUIREMENTS.read_text())
    names = set()
    for stage in stages:
        if stage["from"] not in names:
            assert stage["from"].startswith(f"apache/airflow:{airflow_pin()}"), stage["from"]
            tag_python = re.search(r"-python(\d+\.\d+)$", stage["from"])
            if python and tag_python:
                assert tag_python.group(1) == python.group(1), "the image's Python is not the pins' Python"
        if stage["name"]:
            names.add(stage["name"])
    assert stages[-1]["from"].startswith("apache/airflow:")


def test_dockerfile_bakes_in_the_project_where_airflow_and_salesflow_look():
    copied = copies(final_stage())
    for folder in (DAGS_DIR, PLUGINS_DIR, SPARK_JOBS_DIR, INCLUDE_DIR):
        name = folder.relative_to(PROJECT_ROOT).as_posix()
        assert copied.get(name) == str(AIRFLOW_HOME / name), f"{name}/ is not copied to {AIRFLOW_HOME / name}"
    assert container_project_root() == AIRFLOW_HOME


def test_development_tooling_stays_out_of_the_image():
    """The benchmarks, tests and scripts are neither sent to the build nor copied into the image."""
    ignored = {
        line.strip().rstrip("/")
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    copied = copies(final_stage())
    for folder in ("benchmarks", "tests", "scripts"):
        assert (PROJECT_ROOT / folder).is_dir(), folder
        assert folder in ignored, f"{folder}/ is not in .dockerignore"
        assert not any(source.split("/")[0] == folder for source in copied), f"{folder}/ is copied"


def test_dockerfile_installs_the_pinned_requirements():
    stage = final_stage()
    target = copies(stage).get(REQUIREMENTS.name)
    assert target, "requirements.txt is not copied into the final image"
    assert any(
        instruction == "RUN" and "pip install" in arguments and f"-r {target}" in arguments
        for instruction, arguments in stage["instructions"]
    ), "no pip install -r of requirements.txt"


def test_dockerfile_installs_java_and_the_jdbc_driver_the_config_names():
    stage = final_stage()
    packages = apt_packages(stage)
    java = [int(m.group(1)) for p in packages if (m := re.fullmatch(r"openjdk-(\d+)-jre(-headless)?", p))]
    assert java and max(java) >= 17, f"pyspark 4 needs Java 17+: {sorted(packages)}"
    assert any(i == "ENV" and a.startswith("JAVA_HOME") for i, a in stage["instructions"])
    if shutil.which("dpkg") is None:
        pytest.skip("no dpkg here to tell which Debian package holds the JDBC driver")
    for environment_name in ENVIRONMENTS:
        settings = load_settings(environment_name, environ={})
        owner = subprocess.run(["dpkg", "-S", settings.jdbc_jar], capture_output=True, text=True)
        assert owner.returncode == 0, f"{settings.jdbc_jar} belongs to no Debian package here"
        package = owner.stdout.split(":", 1)[0].strip()
        assert package in packages, f"{settings.jdbc_jar} comes from {package}, which the image lacks"
        with zipfile.ZipFile(settings.jdbc_jar) as jar:
            driver_class = settings.jdbc_driver.replace(".", "/") + ".class"
            assert driver_class in jar.namelist(), f"{settings.jdbc_driver} is not in {settings.jdbc_jar}"


# ---------------------------------------------------------------------------- the dashboard
def test_the_api_server_finds_the_dashboard_plugin_in_the_image(services):
    """The "Sales pipeline" page needs nothing installed: its plugin and assets are in plugins/."""
    from fnmatch import fnmatch

    from airflow.utils.file import find_path_from_directory

    env = {**image_environment(), **environment(services["airflow-apiserver"])}
    home = PurePosixPath(env.get("AIRFLOW_HOME", str(AIRFLOW_HOME)))
    folder = PurePosixPath(env.get("AIRFLOW__CORE__PLUGINS_FOLDER", str(home / "plugins")))
    assert copies(final_stage()).get(PLUGINS_DIR.name) == str(folder), "plugins/ is not the plugins folder"
    for _, target, _ in mounts(services["airflow-apiserver"]):
        target = PurePosixPath(target)
        assert not (folder.is_relative_to(target) or target.is_relative_to(folder)), (
            f"{target} hides plugins/"
        )
    # Airflow looks for plugins file by file, minus plugins/.airflowignore: the plugin, not the package.
    found = {
        Path(path).relative_to(PLUGINS_DIR).as_posix()
        for path in find_path_from_directory(str(PLUGINS_DIR), ".airflowignore", "glob")
    }
    assert "salesflow_dashboard.py" in found
    assert not [name for name in found if name.startswith("salesflow/")]
    static = PLUGINS_DIR / "salesflow" / "dashboard" / "static"
    shipped = [path.relative_to(PROJECT_ROOT).as_posix() for path in static.iterdir()]
    assert {Path(name).name for name in shipped} >= {
        "index.html",
        "dashboard.js",
        "dashboard.css",
        "icon.svg",
    }
    patterns = [
        p.strip() for p in DOCKERIGNORE.read_text().splitlines() if p.strip() and not p.startswith("#")
    ]
    for name in ["plugins/salesflow_dashboard.py", "plugins/.airflowignore", *shipped]:
        assert not [p for p in patterns if fnmatch(name, p) or name.startswith(p.rstrip("/") + "/")], name
