-- The first live entry with these bytes owns them.
INSERT IGNORE INTO {ledger}_content (sha256, ledger_id) VALUES (%s, %s)
