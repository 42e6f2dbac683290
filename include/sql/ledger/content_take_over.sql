-- Bytes whose owner FAILED or is GONE may be owned by a new entry (they never loaded).
UPDATE {ledger}_content SET ledger_id = %s WHERE sha256 = %s AND ledger_id = %s
