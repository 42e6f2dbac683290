-- Seconds from landing (LastModified, UTC) to committed (the move to LOADED, on the database's
-- clock, turned to UTC) of these keys.
SELECT TIMESTAMPDIFF(MICROSECOND, landed_at, CONVERT_TZ(updated_at, @@session.time_zone, '+00:00')) / 1000000
FROM {ledger}
WHERE status = {status_loaded} AND object_key IN ({keys})
