LOAD DATA LOCAL INFILE %s INTO TABLE {customers_data_mart}
CHARACTER SET utf8mb4
FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY ''
LINES TERMINATED BY '\n'
(customer_id, full_name, @address, @phone_number, sales_date_month, total_sales)
SET address = NULLIF(@address, ''), phone_number = NULLIF(@phone_number, '')
