"""The Spark operator's driver options: the class-data-sharing archive, and the compiler by size."""

from __future__ import annotations

from salesflow.operators import spark
from salesflow.operators.spark import DRIVER_JAVA_OPTIONS, QUICK_COMPILE_BELOW_BYTES, driver_java_options


def test_small_inputs_compile_quickly_and_big_ones_fully(monkeypatch, tmp_path):
    archive = tmp_path / "spark-cds.jsa"
    archive.write_bytes(b"x")
    monkeypatch.setattr(spark, "SPARK_CDS_ARCHIVE", archive)
    conf = {"spark.ui.enabled": "false", DRIVER_JAVA_OPTIONS: "-Dkeep=1"}
    small = driver_java_options(conf, QUICK_COMPILE_BELOW_BYTES - 1)
    assert small[DRIVER_JAVA_OPTIONS] == f"-Dkeep=1 -XX:SharedArchiveFile={archive} -XX:TieredStopAtLevel=1"
    big = driver_java_options(conf, QUICK_COMPILE_BELOW_BYTES)
    assert big[DRIVER_JAVA_OPTIONS] == f"-Dkeep=1 -XX:SharedArchiveFile={archive}"
    assert big["spark.ui.enabled"] == "false" and conf[DRIVER_JAVA_OPTIONS] == "-Dkeep=1"


def test_without_an_archive_the_driver_starts_without_one(monkeypatch, tmp_path):
    monkeypatch.setattr(spark, "SPARK_CDS_ARCHIVE", tmp_path / "missing.jsa")
    assert driver_java_options({}, 10**10) == {}
