-- A version whose earlier processing FAILED (retryable) is claimed again, by one run only.
UPDATE {ledger}
SET status = 'CLAIMED', run_id = %s, attempts = attempts + 1, reason = NULL,
    rows_read = NULL, rows_loaded = NULL, rows_rejected = NULL
WHERE status = 'FAILED' AND version_key IN ({version_keys})
