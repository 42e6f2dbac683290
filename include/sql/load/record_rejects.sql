-- Rejected rows per file and reason code; the same load run again writes the same counts.
INSERT INTO {ledger}_rejects (ledger_id, reason_code, row_count) VALUES (%s, %s, %s)
ON DUPLICATE KEY UPDATE row_count = VALUES(row_count)
