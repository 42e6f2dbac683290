-- Bytes whose owner FAILED may be owned by a new entry (the retryable path).
UPDATE {ledger}_content SET ledger_id = %s WHERE sha256 = %s AND ledger_id = %s
