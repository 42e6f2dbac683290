-- Which of these months still hold facts of files other than the ones being replaced.
SELECT DISTINCT sales_month FROM {customer_month_summary}
WHERE sales_month IN ({months}) AND file_id NOT IN ({file_ids})
