-- Who moved most against the month before, in the latest month (any level).
SELECT level, entity_name, month, total_sales, prev_month_total_sales, mom_change, mom_change_pct
FROM {sales_comparison_mart}
WHERE month = (SELECT MAX(month) FROM {sales_comparison_mart}) AND mom_change IS NOT NULL
ORDER BY ABS(mom_change) DESC, level, entity_id
LIMIT 10
