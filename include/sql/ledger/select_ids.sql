-- With, for a version that reprocesses another, the entry it reprocesses and where its bytes are.
SELECT l.id, l.bucket, l.object_key, l.etag, l.size_bytes, l.sha256, l.status, l.run_id, l.attempts,
       l.rows_read, l.rows_loaded, l.rows_rejected, l.reason, l.duplicate_of, l.landed_at,
       l.last_error, l.claimed_at, r.origin_id AS reprocess_of, r.source_key
FROM {ledger} AS l
LEFT JOIN {ledger}_reprocess AS r ON r.ledger_id = l.id
WHERE l.id IN ({id_list})
ORDER BY l.id
