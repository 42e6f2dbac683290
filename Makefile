# salesflow: the targets a newcomer looks for. Each installs what is missing first.
.PHONY: help demo sql test test-heavy airflow airflow-stop bench bench-history bench-latency lint format data clean

help:
	@echo "make demo    run the pipeline end to end on generated data (local S3, MySQL, Spark)"
	@echo "make sql     a mariadb client on the demo's database (its server started for the session)"
	@echo "make test    lint and run the test suite against the real services"
	@echo "make test-heavy  the long suites: real Airflow scheduler, Spark cluster, fault injection"
	@echo "make airflow       a real Airflow (UI, scheduler, triggerer) with the DAGs; make airflow-stop"
	@echo "make bench   the DAG end to end against this machine's floors (ROWS=, FILES=, REPEAT=)"
	@echo "make bench-history  a file into an empty month and a month with HISTORY_FACTS= facts (ROWS=)"
	@echo "make bench-latency  landed to committed with the real stack and its S3 events (ROWS=, FILES=)"
	@echo "make lint    ruff check and format check"
	@echo "make data    write sample files to var/data (ROWS=, FILES=, SEED=, FORMAT=csv|csv.gz|parquet|jsonl)"
	@echo "make clean   remove var/ (local runs, demo state, Airflow home)"

demo:
	scripts/demo.sh

sql:
	scripts/sql.sh

test:
	scripts/test.sh

test-heavy:
	scripts/test.sh --heavy

airflow:
	scripts/airflow.sh start

airflow-stop:
	scripts/airflow.sh stop

# make bench ROWS=5000000 FILES=10; many small files: make bench ROWS=200000 FILES=10000.
# Defaults (400000 rows, 4 files, 3 repeats) are in scripts/bench.sh; results go to var/bench.
bench:
	scripts/bench.sh

# Issue 10: a 10,000-row file into an empty month and into one holding 2,000,000 facts (3 repeats).
# make bench-history HISTORY_FACTS=1000000 ROWS=10000 REPEAT=1; the same as MODE=history make bench.
bench-history:
	scripts/bench.sh --history

# Issue 25: landed to committed of a 10,000-row file with the real stack and its S3 events (FILES=10).
bench-latency:
	scripts/bench_latency.sh

lint:
	scripts/bootstrap.sh
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format:
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

ROWS ?= 100000
FILES ?= 4
SEED ?= 42
FORMAT ?= csv
data:
	scripts/bootstrap.sh
	PYTHONPATH=plugins:. .venv/bin/python -m include.sample_data.generate --rows $(ROWS) --files $(FILES) \
		--seed $(SEED) --format $(FORMAT) --bad-cases --format-cases --out var/data

clean:
	rm -rf var
