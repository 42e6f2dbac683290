-- The latest files of one status (ix_status: newest first, stops at the limit).
SELECT id, bucket, object_key, reason, last_error, run_id, updated_at
FROM {ledger}
WHERE status = %s
ORDER BY updated_at DESC, id DESC
LIMIT %s
