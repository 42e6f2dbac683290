LOAD DATA LOCAL INFILE %s INTO TABLE {sales_team_data_mart}
CHARACTER SET utf8mb4
FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY ''
LINES TERMINATED BY '\n'
(store_id, sales_person_id, full_name, sales_month, total_sales, incentive)
