# salesflow: the targets a newcomer looks for. Each installs what is missing first.
.PHONY: help demo test test-heavy airflow airflow-stop lint format data clean

help:
	@echo "make demo    run the pipeline end to end on generated data (local S3, MySQL, Spark)"
	@echo "make test    lint and run the test suite against the real services"
	@echo "make test-heavy  the long suites: real Airflow scheduler, Spark cluster, fault injection"
	@echo "make airflow       a real Airflow (UI, scheduler, triggerer) with the DAGs; make airflow-stop"
	@echo "make lint    ruff check and format check"
	@echo "make data    write sample CSV files to var/data (ROWS=, FILES=, SEED=)"
	@echo "make clean   remove var/ (local runs, demo state, Airflow home)"

demo:
	scripts/demo.sh

test:
	scripts/test.sh

test-heavy:
	scripts/test.sh --heavy

airflow:
	scripts/airflow.sh start

airflow-stop:
	scripts/airflow.sh stop

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
data:
	scripts/bootstrap.sh
	PYTHONPATH=plugins:. .venv/bin/python -m include.sample_data.generate --rows $(ROWS) --files $(FILES) \
		--seed $(SEED) --bad-cases --out var/data

clean:
	rm -rf var
