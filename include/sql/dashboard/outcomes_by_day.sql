-- Files by the day they reached their status, for the statuses given (ix_updated: the window only).
SELECT DATE(updated_at) AS day, status, COUNT(*) AS files,
       COALESCE(SUM(rows_loaded), 0) AS rows_loaded, COALESCE(SUM(rows_rejected), 0) AS rows_rejected
FROM {ledger}
WHERE updated_at >= %s AND status IN ({statuses})
GROUP BY DATE(updated_at), status
ORDER BY day, status
