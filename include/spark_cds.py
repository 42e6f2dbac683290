"""The Spark driver's class-data-sharing archive, built once per virtualenv and set of jars.

    python -m include.spark_cds ARCHIVE        (what scripts/spark_cds.sh runs)

A warm-up job (``spark_jobs/warmup.py``) runs with ``-XX:ArchiveClassesAtExit`` and the jars and
Spark conf every salesflow job gets, against a moto server of its own on a free port: the classes it
loads, Spark SQL's and the S3A connector's, the AWS SDK's and the magic committer's included, go to
an archive that later drivers map instead of loading them from the jars again (docs/performance.md
measures both). It writes only the archive; a failure leaves none, and drivers start without one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from include.local_s3 import MotoServer
from salesflow.config import load_settings
from salesflow.paths import PROJECT_ROOT
from salesflow.spark_setup import S3Access, spark_jars

WARMUP = PROJECT_ROOT / "spark_jobs" / "warmup.py"


def local_s3(endpoint: str) -> S3Access:
    """The builder's own moto server (any key does for moto; the job never sees a real one)."""
    return S3Access(endpoint_url=endpoint, region="us-east-1", access_key="warmup", secret_key="warmup")


def submit_command(archive: Path, s3: S3Access) -> list[str]:
    """spark-submit of the warm-up job as the operator submits a job, writing ``archive`` at exit."""
    settings = load_settings()
    conf = {**settings.spark_conf, **s3.spark_conf()}
    conf.pop("spark.driver.memory", None)
    conf["spark.driver.extraJavaOptions"] = f"-XX:ArchiveClassesAtExit={archive}"
    command = [str(Path(sys.executable).parent / "spark-submit"), "--master", "local[1]"]
    command += ["--jars", ",".join(spark_jars(settings))]
    for name, value in sorted(conf.items()):
        command += ["--conf", f"{name}={value}"]
    return [*command, str(WARMUP), "s3a://salesflow-warmup/warmup"]


def build(archive: Path) -> int:
    partial = archive.with_name(archive.name + ".partial")
    log = archive.with_name(archive.name + ".log")
    partial.unlink(missing_ok=True)
    with MotoServer(log_path=archive.with_name("spark-cds-moto.log")) as s3, log.open("wb") as out:
        local = local_s3(s3.endpoint)
        command = submit_command(partial, local)
        env = {**os.environ, **local.environment()}
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        print(f"bootstrap: no class-data-sharing archive (see {log}); Spark starts without", file=sys.stderr)
        return 0
    partial.replace(archive)
    return 0


if __name__ == "__main__":
    sys.exit(build(Path(sys.argv[1]).resolve()))
