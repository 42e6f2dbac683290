LOAD DATA LOCAL INFILE %s INTO TABLE {product_month_summary}
CHARACTER SET utf8mb4
FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY ''
LINES TERMINATED BY '\n'
(file_id, product_id, sales_month, total_sales, quantity_sold, sales_count)
