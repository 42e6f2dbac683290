-- The FAILED versions of a bucket (few: each is claimed again by the next run, or settled GONE).
SELECT id, bucket, object_key, etag, size_bytes, sha256, status, run_id, attempts,
       rows_read, rows_loaded, rows_rejected, reason, duplicate_of, landed_at,
       last_error, claimed_at
FROM {ledger}
WHERE bucket = %s AND status = {status_failed}
ORDER BY id
