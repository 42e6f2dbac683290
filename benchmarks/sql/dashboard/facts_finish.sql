ALTER TABLE {sales} ADD INDEX ix_sales_month (sales_month)
