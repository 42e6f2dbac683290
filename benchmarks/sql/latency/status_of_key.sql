-- The newest entry's status of an object key.
SELECT status FROM {ledger} WHERE object_key = %s ORDER BY id DESC LIMIT 1
