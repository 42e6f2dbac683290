-- The reprocess requests of a run, in the order asked.
SELECT requested, requested_by, requested_at, origin_id, origin_status, origin_reason, ledger_id,
       source_key, refused
FROM {ledger}_reprocess
WHERE run_id = %s
ORDER BY requested_at, requested
