-- The files of a run that still wait for their load (a retry skips the ones already LOADED).
SELECT id FROM {ledger} WHERE id IN ({file_ids}) AND status = {status_validated}
