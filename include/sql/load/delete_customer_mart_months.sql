DELETE FROM {customers_data_mart} WHERE sales_date_month IN ({months})
