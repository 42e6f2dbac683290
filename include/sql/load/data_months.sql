-- Every month holding a loaded fact (a loose scan of the summary's month index).
SELECT DISTINCT sales_month FROM {customer_month_summary}
