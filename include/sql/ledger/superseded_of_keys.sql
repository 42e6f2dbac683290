-- SUPERSEDED versions of these keys (their processed copies are kept beside the new version's).
SELECT id, bucket, object_key, etag, size_bytes, sha256, status, run_id, attempts,
       rows_read, rows_loaded, rows_rejected, reason, duplicate_of, landed_at,
       last_error, claimed_at
FROM {ledger}
WHERE bucket = %s AND status = {status_superseded} AND object_key IN ({object_keys})
ORDER BY id
