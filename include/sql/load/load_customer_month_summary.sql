LOAD DATA LOCAL INFILE %s INTO TABLE {customer_month_summary}
CHARACTER SET utf8mb4
FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY ''
LINES TERMINATED BY '\n'
(file_id, customer_id, sales_month, total_sales, sales_count, last_purchase_date)
