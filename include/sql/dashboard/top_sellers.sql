-- The latest month's best sales people with their incentives (ix_month).
SELECT sales_month, store_id, sales_person_id, full_name, total_sales, incentive
FROM {sales_team_data_mart}
WHERE sales_month = (SELECT MAX(sales_month) FROM {sales_team_data_mart})
ORDER BY total_sales DESC, store_id, sales_person_id
LIMIT %s
