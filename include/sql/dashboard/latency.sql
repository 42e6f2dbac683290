-- Landed (the object's LastModified, kept in UTC) to committed (the load's ledger move, on the
-- database's clock, turned to UTC) of the files LOADED in the last day, in seconds (ix_status).
SELECT TIMESTAMPDIFF(MICROSECOND, landed_at, CONVERT_TZ(updated_at, @@session.time_zone, '+00:00')) / 1000000
FROM {ledger}
WHERE status = {status_loaded} AND updated_at >= NOW(6) - INTERVAL 1 DAY AND landed_at IS NOT NULL
