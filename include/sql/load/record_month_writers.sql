-- The batch that (re)wrote a month of a monthly dataset, in its load's transaction.
INSERT INTO {ledger}_month_writers (dataset, month, run_id, batch) VALUES (%s, %s, %s, %s)
ON DUPLICATE KEY UPDATE run_id = VALUES(run_id), batch = VALUES(batch), written_at = CURRENT_TIMESTAMP(6)
