SELECT c.ledger_id, l.object_key, l.status
FROM {ledger}_content AS c
JOIN {ledger} AS l ON l.id = c.ledger_id
WHERE c.sha256 = %s
FOR UPDATE
