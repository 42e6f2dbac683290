-- What made a task of the run fail, kept on the files it still holds in flight.
UPDATE {ledger}
SET last_error = %s
WHERE run_id = %s AND bucket = %s AND status IN ({status_claimed}, {status_validated})
