-- A version nobody has seen is claimed by this run; a known version is left alone.
INSERT IGNORE INTO {ledger} (bucket, object_key, etag, size_bytes, version_key, landed_at, status, run_id)
VALUES (%s, %s, %s, %s, %s, %s, {status_claimed}, %s)
