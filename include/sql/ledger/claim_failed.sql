-- A version whose earlier processing FAILED (retryable) is claimed again, by one run only; what
-- went wrong stays in last_error. A run that a lost service ended ('outage:') is no attempt.
UPDATE {ledger}
SET status = {status_claimed}, run_id = %s, attempts = attempts + IF(reason LIKE 'outage:%%', 0, 1),
    last_error = COALESCE(reason, last_error), reason = NULL,
    rows_read = NULL, rows_loaded = NULL, rows_rejected = NULL
WHERE status = {status_failed} AND version_key IN ({version_keys})
