-- The FAILED versions of a bucket's landing prefix (few: each is claimed again by the next run, or
-- settled GONE); a reprocessed version (its bytes elsewhere) is claimed again by claim_failed_reprocess.
SELECT id, bucket, object_key, etag, size_bytes, sha256, status, run_id, attempts,
       rows_read, rows_loaded, rows_rejected, reason, duplicate_of, landed_at,
       last_error, claimed_at
FROM {ledger}
WHERE bucket = %s AND status = {status_failed}
  AND id NOT IN (SELECT ledger_id FROM {ledger}_reprocess WHERE ledger_id IS NOT NULL)
ORDER BY id
