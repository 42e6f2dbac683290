"""The machine's floors on the bytes a run was given: what the pipeline cannot beat here.

- ``s3_download``: every uploaded object from the local S3 (boto3, 64 MB parts, 4 threads);
- ``csv_parse``: every good file parsed once with ``pyarrow.csv``;
- ``mysql_load``: the same rows, in one file, by one ``LOAD DATA LOCAL INFILE`` into a plain table
  (a primary key only), committed.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.common import MB, BenchError
from benchmarks.inputs import Input
from benchmarks.services import Sandbox, pymysql_connect
from include.sample_data.generate import HEADER

FLOOR_PART_BYTES = 64 * MB
FLOOR_THREADS = 4
FLOOR_TABLE_DDL = """
CREATE TABLE bench_floor (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    customer_id INT NOT NULL,
    store_id INT NOT NULL,
    product_name VARCHAR(255) NOT NULL,
    sales_date DATE NOT NULL,
    sales_person_id INT NOT NULL,
    price DECIMAL(10, 2) NOT NULL,
    quantity INT NOT NULL,
    total_cost DECIMAL(12, 2) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
"""
FLOOR_LOAD = (
    "LOAD DATA LOCAL INFILE %s INTO TABLE bench_floor CHARACTER SET utf8mb4 "
    "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\n' "
    f"({', '.join(HEADER)})"
)
METHOD = {
    "s3_download": f"boto3 download_file, {FLOOR_PART_BYTES // MB} MB parts, {FLOOR_THREADS} threads",
    "csv_parse": "pyarrow.csv.read_csv of every good file",
    "mysql_load": "one LOAD DATA LOCAL INFILE (PyMySQL) of all good rows into a table with a "
    "primary key only, committed",
}


def floor_download(client: Any, bucket: str, data: Input, target: Path) -> tuple[float, int]:
    """Downloads the objects with the uploaded bytes, wherever the run moved them; returns seconds."""
    from boto3.s3.transfer import TransferConfig

    by_content: dict[tuple[str, int], str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            by_content.setdefault((item["ETag"].strip('"'), int(item["Size"])), item["Key"])
    jobs = []
    for index, generated in enumerate(data.files):
        key = by_content.get((data.md5[generated.name], len(generated.content)))
        if key is None:
            raise BenchError(f"the floor download cannot find the bytes of {generated.name} in s3://{bucket}")
        jobs.append((key, target / f"{index:05d}-{generated.name}"))
    target.mkdir(parents=True, exist_ok=True)
    config = TransferConfig(
        multipart_threshold=FLOOR_PART_BYTES,
        multipart_chunksize=FLOOR_PART_BYTES,
        max_concurrency=FLOOR_THREADS,
        use_threads=True,
    )

    def get(job: tuple[str, Path]) -> None:
        client.download_file(bucket, job[0], str(job[1]), Config=config)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=max(1, min(FLOOR_THREADS, len(jobs)))) as pool:
        list(pool.map(get, jobs))
    seconds = time.perf_counter() - started
    size = sum(path.stat().st_size for _, path in jobs)
    if size != data.size:
        raise BenchError(f"the floor download got {size} bytes, expected {data.size}")
    return seconds, size


def good_paths(data: Input, folder: Path) -> list[Path]:
    index = {id(f): i for i, f in enumerate(data.files)}
    return [folder / f"{index[id(f)]:05d}-{f.name}" for f in data.good]


def floor_parse(paths: list[Path], rows: int) -> float:
    """Parses every good file once with pyarrow.csv (types inferred, all cores); returns seconds."""
    from pyarrow import csv as pacsv

    started = time.perf_counter()
    parsed = sum(pacsv.read_csv(path).num_rows for path in paths if path.stat().st_size)
    seconds = time.perf_counter() - started
    if parsed != rows:
        raise BenchError(f"the parse floor read {parsed} rows, expected {rows}")
    return seconds


def floor_load(database: str, paths: list[Path], rows: int, scratch: Path) -> float:
    """One LOAD DATA LOCAL INFILE of all good rows into a plain table, committed; returns seconds.

    The rows of all files are put into one headerless file first (not timed): the floor is loading
    this many rows, whatever files they came in.
    """
    combined = scratch / "floor_rows.csv"
    with combined.open("wb") as out:
        for path in paths:
            with path.open("rb") as source:
                source.readline()
                shutil.copyfileobj(source, out, 16 * MB)
    conn = pymysql_connect(database, local_infile=True, autocommit=False)
    try:
        with conn.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_floor")
            cursor.execute(FLOOR_TABLE_DDL)
            started = time.perf_counter()
            loaded = cursor.execute(FLOOR_LOAD, (str(combined),))
            conn.commit()
            seconds = time.perf_counter() - started
            cursor.execute("DROP TABLE bench_floor")
    finally:
        conn.close()
    if loaded != rows:
        raise BenchError(f"the load floor loaded {loaded} rows, expected {rows}")
    return seconds


def measure_floors(box: Sandbox, data: Input) -> dict[str, Any]:
    """The three floors on the bytes of `data`, wherever the run moved them in the bucket."""
    folder = box.scratch / "floor"
    download_seconds, size = floor_download(box.client, box.settings.bucket, data, folder)
    paths = good_paths(data, folder)
    floors = {"s3_download": download_seconds}
    if data.file_format == "csv":  # the parse and load floors read plain CSV
        floors["csv_parse"] = floor_parse(paths, data.good_rows)
        floors["mysql_load"] = floor_load(box.settings.database, paths, data.good_rows, box.scratch)
    return {
        "floors_seconds": {name: round(value, 4) for name, value in floors.items()},
        "floors_sum_seconds": round(sum(floors.values()), 4),
        "floor_bytes_downloaded": size,
    }
