-- The file ledger (SPEC "File ledger"): one row per file version, statuses move forward only.
-- version_key is SHA-256(bucket NUL key NUL ETag NUL size), computed by the ledger code: one
-- version, one row, without a 4 KB unique index on the key itself.
CREATE TABLE IF NOT EXISTS {ledger} (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    bucket VARCHAR(255) NOT NULL,
    object_key VARCHAR(1024) NOT NULL,
    etag VARCHAR(128) NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 CHAR(64) NULL,
    status VARCHAR(16) NOT NULL,
    run_id VARCHAR(250) NOT NULL,
    attempts INT NOT NULL DEFAULT 1,
    rows_read BIGINT NULL,
    rows_loaded BIGINT NULL,
    rows_rejected BIGINT NULL,
    reason VARCHAR(1024) NULL,
    -- What went wrong the last time a run failed with this file in flight (kept across attempts).
    last_error VARCHAR(1024) NULL,
    duplicate_of BIGINT NULL,
    -- The latest sales_date among the file's loaded rows (the dashboard's freshness, no fact scan).
    max_sales_date DATE NULL,
    landed_at DATETIME(6) NULL,
    claimed_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    updated_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    version_key CHAR(64) NOT NULL,
    UNIQUE KEY uq_file_version (version_key),
    KEY ix_sha256 (sha256),
    -- The second columns serve the dashboard (include/sql/dashboard): runs by their latest change,
    -- the latest files of a status, the latest loaded sales date, the files of the last 30 days.
    KEY ix_run (run_id, updated_at),
    KEY ix_status (status, updated_at),
    KEY ix_status_sales_date (status, max_sales_date),
    KEY ix_updated (updated_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Rejected rows per file and reason code, written with the file's load (the report and the
-- dashboard read them without the run's files).
CREATE TABLE IF NOT EXISTS {ledger}_rejects (
    ledger_id BIGINT NOT NULL,
    reason_code VARCHAR(255) NOT NULL,
    row_count BIGINT NOT NULL,
    PRIMARY KEY (ledger_id, reason_code)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Per monthly dataset (marts, analytics) and month, the run and batch whose load wrote it last:
-- only that batch's Parquet is published for the month, so an old run cleared and run again never
-- publishes a month backwards over what a newer run wrote.
CREATE TABLE IF NOT EXISTS {ledger}_month_writers (
    dataset VARCHAR(64) NOT NULL,
    month CHAR(7) NOT NULL,
    run_id VARCHAR(250) NOT NULL,
    batch VARCHAR(64) NOT NULL,
    written_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (dataset, month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Which ledger entry owns each content (SHA-256): the same bytes under any name are recognised,
-- and the primary key makes the decision atomic when two runs see the same content at once.
CREATE TABLE IF NOT EXISTS {ledger}_content (
    sha256 CHAR(64) NOT NULL PRIMARY KEY,
    ledger_id BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin;

-- Reprocess requests (the DAG param ``reprocess``, ``salesflow.cli reprocess``): one row per run and
-- file asked for, kept as history. A request taken gives a new ledger entry (ledger_id) for the same
-- key, read from the bytes where the earlier entry (origin_id) left them (source_key: the processed
-- or the error prefix); one refused says why (refused). The earlier outcome is kept as it was then.
CREATE TABLE IF NOT EXISTS {ledger}_reprocess (
    request_key CHAR(64) NOT NULL PRIMARY KEY,  -- SHA-256 of run id NUL the file as asked
    run_id VARCHAR(250) NOT NULL,
    requested VARCHAR(1024) NOT NULL,  -- a ledger id or an object key, as asked
    requested_by VARCHAR(255) NOT NULL,
    requested_at DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    origin_id BIGINT NULL,
    origin_status VARCHAR(16) NULL,
    origin_reason VARCHAR(1024) NULL,
    ledger_id BIGINT NULL,
    source_key VARCHAR(1024) NULL,
    refused VARCHAR(1024) NULL,
    UNIQUE KEY uq_ledger_id (ledger_id),
    KEY ix_run (run_id, requested_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The classic tutorial name for the ledger: 'A' while a file is in flight, 'I' once it has ended.
CREATE OR REPLACE VIEW product_staging_table AS
SELECT
    id,
    object_key AS file_name,
    bucket,
    status AS ledger_status,
    IF(status IN ({status_claimed}, {status_validated}), 'A', 'I') AS status,
    claimed_at AS created_date,
    updated_at AS updated_date
FROM {ledger};
