-- Versions other runs hold in flight in this bucket (the claim asks whether those runs still run).
SELECT id, bucket, object_key, etag, size_bytes, sha256, status, run_id, attempts,
       rows_read, rows_loaded, rows_rejected, reason, duplicate_of, landed_at,
       last_error, claimed_at
FROM {ledger}
WHERE bucket = %s AND status IN ({status_claimed}, {status_validated}) AND run_id <> %s
ORDER BY id
