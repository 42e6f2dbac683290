-- Loads one CSV part written by spark_jobs/transform.py (RFC 4180 quoting, empty = NULL).
LOAD DATA LOCAL INFILE %s INTO TABLE {sales}
CHARACTER SET utf8mb4
FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY ''
LINES TERMINATED BY '\n'
(file_id, line_number, customer_id, store_id, product_id, product_name, sales_date, sales_month,
 sales_person_id, price, quantity, total_cost, @additional_column, customer_full_name,
 sales_person_full_name)
SET additional_column = NULLIF(@additional_column, '')
