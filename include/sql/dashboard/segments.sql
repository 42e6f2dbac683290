-- Customers per RFM segment in the latest snapshot (ix_snapshot covers it).
SELECT snapshot_month, segment, COUNT(*) AS customers
FROM {customer_segments}
WHERE snapshot_month = (SELECT MAX(snapshot_month) FROM {customer_segments})
GROUP BY snapshot_month, segment
ORDER BY customers DESC, segment
