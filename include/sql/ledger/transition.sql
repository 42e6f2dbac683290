-- Statuses move forward only: the caller names the statuses a move may start from. The rows are
-- (id, reason, duplicate_of, rows_read, rows_loaded, rows_rejected, last_error, max_sales_date);
-- a NULL keeps the value.
UPDATE {ledger} AS l
JOIN (
    SELECT NULL AS id, NULL AS reason, NULL AS duplicate_of,
           NULL AS rows_read, NULL AS rows_loaded, NULL AS rows_rejected,
           NULL AS last_error, NULL AS max_sales_date
    FROM DUAL WHERE FALSE
    UNION ALL {moves}
) AS m ON m.id = l.id
SET l.status = %s,
    l.reason = COALESCE(m.reason, l.reason),
    l.duplicate_of = COALESCE(m.duplicate_of, l.duplicate_of),
    l.rows_read = COALESCE(m.rows_read, l.rows_read),
    l.rows_loaded = COALESCE(m.rows_loaded, l.rows_loaded),
    l.rows_rejected = COALESCE(m.rows_rejected, l.rows_rejected),
    l.last_error = COALESCE(m.last_error, l.last_error),
    l.max_sales_date = COALESCE(m.max_sales_date, l.max_sales_date)
WHERE l.status IN ({from_statuses})
