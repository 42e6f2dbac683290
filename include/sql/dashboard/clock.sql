-- The database's clock: the ledger's times are written by it (CURRENT_TIMESTAMP), so ages and
-- days are counted on it too.
SELECT CURRENT_DATE
