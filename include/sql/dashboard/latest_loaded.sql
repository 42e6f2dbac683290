-- Freshness from the ledger: the latest sales_date loaded and when a file last loaded
-- (ix_status_sales_date and ix_status: two index look-ups, no fact read).
SELECT
    (SELECT MAX(max_sales_date) FROM {ledger} WHERE status = %s) AS latest_sales_date,
    (SELECT MAX(updated_at) FROM {ledger} WHERE status = %s) AS last_loaded_at
