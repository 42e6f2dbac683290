-- Loading into the table without its secondary index, then building it, is the fast way.
ALTER TABLE {sales} DROP INDEX ix_sales_month
