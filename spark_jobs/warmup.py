"""A tiny Spark job that loads the classes the run's job uses, for a class-data-sharing archive.

``scripts/spark_cds.sh`` runs it once with ``-XX:ArchiveClassesAtExit``: the JVM then writes the
classes it loaded (Spark SQL, the CSV and Parquet sources, the shuffle) to an archive that every
later driver maps instead of parsing and verifying them again (docs/performance.md measures what it
saves). It reads and writes nothing outside a temporary folder.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from pyspark.sql import SparkSession, Window
from pyspark.sql import functions as F


def main() -> int:
    spark = SparkSession.builder.appName("salesflow-warmup").config("spark.ui.enabled", "false").getOrCreate()
    with tempfile.TemporaryDirectory(prefix="salesflow-warmup-") as folder:
        root = Path(folder)
        (root / "0000000001.csv").write_text("a,b,c\n1,x,2.50\n2,y,3.75\n")
        rows = (
            spark.read.options(header=True, multiLine=True)
            .schema("a string, b string, c string")
            .csv(str(root))
        )
        typed = rows.select(
            F.col("a").try_cast("int").alias("a"), "b", F.col("c").try_cast("decimal(12,2)").alias("c")
        )
        joined = typed.join(F.broadcast(typed.select("a", F.lit(True).alias("known"))), "a", "left")
        ranked = joined.withColumn("best", F.max("c").over(Window.partitionBy("b")))
        ranked.groupBy("b").agg(F.sum("c"), F.count(F.lit(1))).write.mode("overwrite").parquet(
            str(root / "p")
        )
        ranked.repartitionByRange(1, "a").write.mode("overwrite").csv(str(root / "csv"))
        spark.read.parquet(str(root / "p")).collect()
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
