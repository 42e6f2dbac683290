"""What a salesflow Spark job is started with beside its arguments: its jars, the S3A settings of
the ``salesflow_s3`` connection, and the environment that carries the credentials.

Spark reads and writes S3 itself (S3A); the driver's own requests (the spec, the result, the load
CSVs streamed into MySQL) use boto3, which reads the same environment. Keys, when the connection
has them, travel as environment variables (S3A's and boto3's default credential chains read them),
never as ``--conf`` values that spark-submit would print; without keys both chains find the
machine's role (an instance profile, IRSA, a Dataproc service account).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from salesflow.config import AWS_CONN_ID, Settings
from salesflow.contracts import SPARK_REMOTE_ENV, SPARK_TOKEN_ENV
from salesflow.paths import SPARK_JARS_DIR


def spark_jars(settings: Settings) -> list[str]:
    """The JDBC driver and the S3A jars (``scripts/spark_jars.sh``), as paths for ``spark.jars``."""
    jars = sorted(str(path) for path in SPARK_JARS_DIR.glob("*.jar"))
    if not jars:
        raise FileNotFoundError(f"no S3A jars in {SPARK_JARS_DIR}: run scripts/bootstrap.sh (make demo does)")
    return [settings.jdbc_jar, *jars]


@dataclass(frozen=True)
class S3Access:
    """Where S3 is and who Spark is there, from the ``salesflow_s3`` connection."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None

    @classmethod
    def from_connection(cls, conn_id: str = AWS_CONN_ID) -> S3Access:
        from airflow.providers.amazon.aws.hooks.s3 import S3Hook

        config = S3Hook(aws_conn_id=conn_id).conn_config
        return cls(
            endpoint_url=config.endpoint_url,
            region=config.region_name,
            access_key=config.aws_access_key_id,
            secret_key=config.aws_secret_access_key,
            session_token=config.aws_session_token,
        )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> S3Access:
        """S3 as the standard AWS variables name it (what ``environment()`` sets and boto3 reads): a
        process that is given them, such as a Spark Connect server, sets up S3A as for a job."""
        return cls(
            endpoint_url=environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL"),
            region=environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION"),
            access_key=environ.get("AWS_ACCESS_KEY_ID"),
            secret_key=environ.get("AWS_SECRET_ACCESS_KEY"),
            session_token=environ.get("AWS_SESSION_TOKEN"),
        )

    def spark_conf(self) -> dict[str, str]:
        """S3A's endpoint settings (no secret): path-style addressing for a local S3 or MinIO."""
        conf = {}
        if self.endpoint_url:
            conf["spark.hadoop.fs.s3a.endpoint"] = self.endpoint_url
            conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
            if self.endpoint_url.startswith("http://"):
                conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = "false"
        if self.region:
            conf["spark.hadoop.fs.s3a.endpoint.region"] = self.region
        return conf

    def environment(self) -> dict[str, str]:
        """The variables the job's JVM (S3A) and Python (boto3) read their credentials from."""
        pairs = {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_SESSION_TOKEN": self.session_token,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }
        return {name: value for name, value in pairs.items() if value}


SPARK_CONNECT_CONN_TYPE = "spark_connect"
CONNECT_DEFAULT_PORT = 15002


@dataclass(frozen=True)
class SparkRemote:
    """A Spark Connect server the jobs run on as clients: the ``salesflow_spark`` connection when its
    type is ``spark_connect`` (host, port, the token as its password; the provider's own type)."""

    url: str
    token: str | None = field(default=None, repr=False)

    @classmethod
    def from_connection(cls, conn_id: str) -> SparkRemote | None:
        """The server the connection names, or None for a spark-submit connection."""
        from airflow.providers.apache.spark.hooks.spark_connect import SparkConnectHook

        hook = SparkConnectHook(conn_id)
        connection = hook.get_connection(conn_id)
        if connection.conn_type != SPARK_CONNECT_CONN_TYPE:
            return None
        base, _, params = hook.get_connection_url().partition("/;")
        kept = [p for p in params.split(";") if p and not p.startswith(f"{SparkConnectHook.PARAM_TOKEN}=")]
        return cls(url=base + ("/;" + ";".join(kept) if kept else ""), token=connection.password or None)

    def environment(self) -> dict[str, str]:
        """The variables that make a job a client of this server (``spark_jobs.common``)."""
        return {SPARK_REMOTE_ENV: self.url, **({SPARK_TOKEN_ENV: self.token} if self.token else {})}

    def outage(self, timeout: float = 5.0) -> str | None:
        """Why the server cannot be reached (a client would retry about 30 s first), or None."""
        import socket
        from urllib.parse import urlparse

        where = urlparse(self.url)
        host, port = where.hostname or "localhost", where.port or CONNECT_DEFAULT_PORT
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return None
        except OSError as error:
            return f"the Spark Connect server at {host}:{port} does not answer ({type(error).__name__})"
