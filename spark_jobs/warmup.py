"""A tiny Spark job that loads the classes the run's job uses, for a class-data-sharing archive.

``include/spark_cds.py`` runs it once with ``-XX:ArchiveClassesAtExit``: the JVM then writes the
classes it loaded (Spark SQL, the CSV and Parquet sources, the shuffle, S3A, the AWS SDK and the
magic committer) to an archive that every later driver maps instead of parsing and verifying them
again (docs/performance.md measures what it saves). It reads and writes only below its root, an
``s3a://`` prefix on the builder's own moto server.
"""

from __future__ import annotations

import sys

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F

from spark_jobs import object_store

SAMPLE = "a,b,c\n1,x,2.50\n2,y,3.75\n"


def warm_up(spark: SparkSession, root: str) -> None:
    """The job's kinds of work on a tiny file below ``root``."""
    schema = "a string, b string, c string"
    rows = spark.read.options(header=True, multiLine=True).schema(schema).csv(f"{root}/in")
    typed = rows.select(
        F.col("a").try_cast("int").alias("a"), "b", F.col("c").try_cast("decimal(12,2)").alias("c")
    )
    joined = typed.join(F.broadcast(typed.select("a", F.lit(True).alias("known"))), "a", "left")
    ranked = joined.withColumn("best", F.max("c").over(Window.partitionBy("b")))
    ranked.groupBy("b").agg(F.sum("c"), F.count(F.lit(1))).write.mode("overwrite").parquet(f"{root}/p")
    ranked.repartitionByRange(1, "a").write.mode("overwrite").csv(f"{root}/csv")
    spark.read.parquet(f"{root}/p").collect()


def main() -> int:
    root = sys.argv[1].rstrip("/")  # s3a://bucket/prefix, on the S3 the archive's builder started
    spark = SparkSession.builder.appName("salesflow-warmup").config("spark.ui.enabled", "false").getOrCreate()
    bucket, _ = object_store.split(root)
    object_store.client().create_bucket(Bucket=bucket)
    object_store.write_bytes(f"{root}/in/0000000001.csv", SAMPLE)
    warm_up(spark, root)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
