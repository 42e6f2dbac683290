-- Rejected rows per reason code of the files that changed since the given time (ix_updated, then
-- the rejects' primary key).
SELECT j.reason_code, SUM(j.row_count) AS row_count, COUNT(*) AS files
FROM {ledger} AS l
JOIN {ledger}_rejects AS j ON j.ledger_id = l.id
WHERE l.updated_at >= %s
GROUP BY j.reason_code
ORDER BY row_count DESC, j.reason_code
