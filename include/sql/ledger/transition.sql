-- Statuses move forward only: the caller names the statuses a move may start from.
UPDATE {ledger}
SET status = %s,
    reason = COALESCE(%s, reason),
    duplicate_of = COALESCE(%s, duplicate_of),
    rows_read = COALESCE(%s, rows_read),
    rows_loaded = COALESCE(%s, rows_loaded),
    rows_rejected = COALESCE(%s, rows_rejected)
WHERE id = %s AND status IN ({from_statuses})
