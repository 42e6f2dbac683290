-- Rows of months outside the data's first to last month (a month that lost its last fact).
DELETE FROM {table} WHERE {month_column} < %s OR {month_column} > %s
