LOAD DATA LOCAL INFILE %s INTO TABLE {sales_team_month_summary}
CHARACTER SET utf8mb4
FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY ''
LINES TERMINATED BY '\n'
(file_id, store_id, sales_person_id, sales_month, total_sales, quantity_sold, sales_count)
