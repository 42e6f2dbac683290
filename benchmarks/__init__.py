"""Benchmarks of salesflow on this machine, outside the image (``.dockerignore``).

- ``python -m benchmarks.pipeline`` (``make bench``, ``make bench-history``): the DAG end to end
  against the real local services; ``pipeline`` is the command, the other modules its parts:
  ``services`` (the environment, the moto server, the scratch database, Airflow's home),
  ``inputs`` (the generated files), ``airflow_run`` (one ``airflow dags test`` and what it recorded),
  ``memory`` (the sampling of the Airflow process and the Spark JVMs), ``floors`` (the machine's
  floors on the same bytes), ``modes`` (a repeat of each mode), ``summary`` (medians, table, JSON).
- ``python -m benchmarks.load_methods`` and ``python -m benchmarks.load_order``: the measurements
  behind the fact load's method and row order.
- ``python -m benchmarks.connect``: the run's job on a warm Spark Connect server against the same
  job through spark-submit.
"""
