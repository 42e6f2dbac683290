SELECT id FROM {ledger} WHERE version_key = %s
