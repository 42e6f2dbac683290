DELETE FROM {sales_team_data_mart} WHERE sales_month IN ({months})
