SELECT DISTINCT sales_month FROM {sales} WHERE file_id IN ({file_ids})
