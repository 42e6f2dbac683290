-- Customers per segment in the latest monthly snapshot.
SELECT snapshot_month, segment, COUNT(*) AS customers
FROM {customer_segments}
WHERE snapshot_month = (SELECT MAX(snapshot_month) FROM {customer_segments})
GROUP BY snapshot_month, segment
ORDER BY customers DESC, segment
