-- Two reject reasons of one row each for every file that loaded rows (rows_rejected = 2).
INSERT INTO {ledger}_rejects (ledger_id, reason_code, row_count)
SELECT l.id, r.reason_code, 1
FROM {ledger} AS l,
     (SELECT 'invalid_type:price' AS reason_code UNION ALL SELECT 'unknown_customer') AS r
WHERE l.status IN ('LOADED', 'SUPERSEDED')
