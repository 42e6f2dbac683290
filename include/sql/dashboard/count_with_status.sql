SELECT COUNT(*) FROM {ledger} WHERE status IN ({statuses})
