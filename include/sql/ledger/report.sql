SELECT id, object_key, status, rows_read, rows_loaded, rows_rejected, reason
FROM {ledger}
ORDER BY id
