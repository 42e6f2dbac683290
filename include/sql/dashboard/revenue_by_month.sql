-- Revenue per month from the sales team mart (one row per store, sales person and month: small).
SELECT sales_month, SUM(total_sales) AS revenue
FROM {sales_team_data_mart}
GROUP BY sales_month
ORDER BY sales_month DESC
LIMIT %s
