-- A FAILED version whose object left the landing prefix: GONE, recorded under the run that saw it.
UPDATE {ledger}
SET status = {status_gone}, run_id = %s, reason = %s
WHERE id = %s AND status = {status_failed}
