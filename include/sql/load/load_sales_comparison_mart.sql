LOAD DATA LOCAL INFILE %s INTO TABLE {sales_comparison_mart}
CHARACTER SET utf8mb4
FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY ''
LINES TERMINATED BY '\n'
(level, entity_id, month, @entity_name, total_sales, quantity_sold, sales_count, @prev_month_total_sales,
 @mom_change, @mom_change_pct, @prev_year_total_sales, @yoy_change, @yoy_change_pct)
SET entity_name = NULLIF(@entity_name, ''),
    prev_month_total_sales = NULLIF(@prev_month_total_sales, ''),
    mom_change = NULLIF(@mom_change, ''),
    mom_change_pct = NULLIF(@mom_change_pct, ''),
    prev_year_total_sales = NULLIF(@prev_year_total_sales, ''),
    yoy_change = NULLIF(@yoy_change, ''),
    yoy_change_pct = NULLIF(@yoy_change_pct, '')
