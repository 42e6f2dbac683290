-- A reprocessed version that FAILED is claimed again by the next run, like a FAILED version still
-- in the landing prefix (its bytes are in the processed or the error prefix, never listed there).
UPDATE {ledger} AS l
JOIN {ledger}_reprocess AS r ON r.ledger_id = l.id
SET l.status = {status_claimed}, l.run_id = %s,
    l.attempts = l.attempts + IF(l.reason LIKE 'outage:%%', 0, 1),
    l.last_error = COALESCE(l.reason, l.last_error), l.reason = NULL,
    l.rows_read = NULL, l.rows_loaded = NULL, l.rows_rejected = NULL
WHERE l.bucket = %s AND l.status = {status_failed}
