-- The latest runs by their last ledger change, with their files' rows. The inner query reads
-- ix_run (run_id, updated_at) one group at a time (a loose index scan), the outer one the runs' rows.
SELECT l.run_id, MIN(l.claimed_at) AS first_claim, r.last_change, COUNT(*) AS files,
       COALESCE(SUM(l.rows_read), 0) AS rows_read,
       COALESCE(SUM(l.rows_loaded), 0) AS rows_loaded,
       COALESCE(SUM(l.rows_rejected), 0) AS rows_rejected
FROM (
    SELECT run_id, MAX(updated_at) AS last_change
    FROM {ledger}
    GROUP BY run_id
    ORDER BY last_change DESC
    LIMIT %s
) AS r
JOIN {ledger} AS l ON l.run_id = r.run_id
GROUP BY l.run_id, r.last_change
ORDER BY r.last_change, l.run_id
