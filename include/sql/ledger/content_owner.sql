-- The entry owning each of these contents, locked until the transaction ends.
SELECT c.sha256, c.ledger_id, l.object_key, l.status
FROM {ledger}_content AS c
JOIN {ledger} AS l ON l.id = c.ledger_id
WHERE c.sha256 IN ({sha256s})
ORDER BY c.sha256
FOR UPDATE
