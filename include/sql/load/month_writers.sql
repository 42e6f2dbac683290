-- The run and batch that wrote these months last, per monthly dataset.
SELECT dataset, month, run_id, batch
FROM {ledger}_month_writers
WHERE month IN ({months})
