-- A reprocess request of a run, taken (ledger_id, source_key) or refused; asked again (a retried
-- claim) it is left as it was first recorded.
INSERT IGNORE INTO {ledger}_reprocess
    (request_key, run_id, requested, requested_by, origin_id, origin_status, origin_reason,
     ledger_id, source_key, refused)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
