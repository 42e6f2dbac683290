-- The newest entry of an object key (a reprocess request naming the key means its latest outcome).
SELECT id, bucket, object_key, etag, size_bytes, sha256, status, run_id, attempts,
       rows_read, rows_loaded, rows_rejected, reason, duplicate_of, landed_at,
       last_error, claimed_at
FROM {ledger}
WHERE bucket = %s AND object_key = %s
ORDER BY id DESC
LIMIT 1
