-- The rows of these months of a mart or an analytics table, rewritten by this load.
DELETE FROM {table} WHERE {month_column} IN ({months})
