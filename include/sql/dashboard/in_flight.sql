-- Files in flight, the longest unchanged first, with how long (on the database's clock).
SELECT id, object_key, status, run_id, attempts, claimed_at, updated_at,
       TIMESTAMPDIFF(SECOND, updated_at, CURRENT_TIMESTAMP(6)) AS unchanged_seconds
FROM {ledger}
WHERE status IN ({statuses})
ORDER BY updated_at, id
LIMIT %s
