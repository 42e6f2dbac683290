-- Earlier LOADED versions of the same keys as the files being loaded now (a corrected file: same
-- key, new bytes). Their rows are replaced by the new version's.
SELECT old.id, old.object_key
FROM {ledger} AS old
JOIN {ledger} AS new ON new.bucket = old.bucket AND new.object_key = old.object_key
WHERE new.id IN ({file_ids}) AND old.status = {status_loaded} AND old.id < new.id
