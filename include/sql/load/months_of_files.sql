-- The months the rows of these file versions fall in (from their summaries, not the facts).
SELECT DISTINCT file_id, sales_month FROM {customer_month_summary} WHERE file_id IN ({file_ids})
