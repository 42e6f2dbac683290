# syntax=docker/dockerfile:1
# salesflow's image: the official Airflow 3.3.2 image (Debian bookworm, Python 3.11) with Java 17 for
# Spark, Debian's MariaDB JDBC driver, the pinned requirements.txt and the project baked in under
# /opt/airflow (= AIRFLOW_HOME, so salesflow's PROJECT_ROOT is /opt/airflow). docker-compose.yaml
# runs every Airflow service and the Spark master and worker from it.
#
#   docker compose build          (or: docker build -t salesflow-airflow:local .)

# ---------------------------------------------------------------------------------------------
# Stage 1: every pinned requirement as a wheel. mysqlclient compiles against the MariaDB client
# headers and pyspark is published as an sdist only, so the compilers stay in this stage.
# ---------------------------------------------------------------------------------------------
FROM apache/airflow:3.3.2-python3.11 AS wheels

USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config libmariadb-dev \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*

USER airflow
COPY --chown=airflow:0 requirements.txt /tmp/requirements.txt
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels -r /tmp/requirements.txt

# ---------------------------------------------------------------------------------------------
# Stage 2: the jars Spark needs beside the wheel to read and write S3 (S3A, the AWS SDK modules,
# the magic committer's binding), from Maven Central as include/spark/pom.xml pins them.
# ---------------------------------------------------------------------------------------------
FROM apache/airflow:3.3.2-python3.11 AS spark-jars

USER root
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends maven openjdk-17-jdk-headless \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
COPY include/spark/pom.xml /tmp/spark/pom.xml
RUN mvn -q -B -f /tmp/spark/pom.xml dependency:copy-dependencies -Djars.dir=/tmp/spark-jars

# ---------------------------------------------------------------------------------------------
# Stage 3: the runtime image.
# ---------------------------------------------------------------------------------------------
FROM apache/airflow:3.3.2-python3.11

USER root
# Java 17 for Spark (pyspark 4 needs 17+); libmariadb-java puts the JDBC driver at
# /usr/share/java/mariadb-java-client.jar, the spark.jdbc_jar of include/config/*.yaml (it accepts
# jdbc:mysql URLs and speaks to MySQL 8); procps for Spark's scripts. /usr/share/man/man1 must exist
# for the JRE's post-install step on a slim Debian.
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless libmariadb-java procps \
    && ln -s "/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)" /usr/lib/jvm/java-17 \
    && apt-get autoremove -yqq --purge \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/java-17

# The local error folder: each task worker's own copy of the files it quarantines (the S3 error
# prefix is the record). Nothing else of salesflow is on a disk: tasks and Spark share only S3
# and MySQL.
RUN mkdir -p /srv/salesflow/error \
    && chown -R airflow:0 /srv/salesflow \
    && chmod -R g+rwX /srv/salesflow

USER airflow
# Installed into the image's virtualenv (/home/airflow/.local, already first on PATH): this also puts
# pyspark's spark-submit and spark-class in /home/airflow/.local/bin. Only from the wheels built above.
COPY --chown=airflow:0 requirements.txt /tmp/requirements.txt
RUN --mount=type=bind,from=wheels,source=/tmp/wheels,target=/tmp/wheels \
    pip install --no-cache-dir --no-index --find-links /tmp/wheels -r /tmp/requirements.txt

# The project, where salesflow.paths expects it: plugins/salesflow/paths.py -> parents[2] = /opt/airflow.
COPY --chown=airflow:0 dags/ /opt/airflow/dags/
COPY --chown=airflow:0 plugins/ /opt/airflow/plugins/
COPY --chown=airflow:0 spark_jobs/ /opt/airflow/spark_jobs/
COPY --chown=airflow:0 include/ /opt/airflow/include/
# Where salesflow.paths.SPARK_JARS_DIR looks (PROJECT_ROOT/.venv/spark-jars).
COPY --from=spark-jars --chown=airflow:0 /tmp/spark-jars/ /opt/airflow/.venv/spark-jars/

# salesflow imports the same way in the CLI (python -m salesflow.cli), the Spark jobs and the
# Spark executors as it does in Airflow, which adds the plugins folder to sys.path itself.
ENV PYTHONPATH=/opt/airflow/plugins:/opt/airflow

# Fail the build, not the first run: Java and spark-submit answer, and every environment's JDBC
# driver is where its config says.
RUN java -version \
    && spark-submit --version \
    && python -c "from pathlib import Path; from salesflow.config import ENVIRONMENTS, load_settings; \
missing = [(e, s.jdbc_jar) for e in ENVIRONMENTS for s in [load_settings(e, environ={})] \
if not Path(s.jdbc_jar).is_file()]; assert not missing, f'JDBC driver missing: {missing}'"
