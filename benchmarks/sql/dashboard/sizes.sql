SELECT (SELECT COUNT(*) FROM {ledger}) AS ledger_rows,
       (SELECT COUNT(DISTINCT run_id) FROM {ledger}) AS runs,
       (SELECT COUNT(*) FROM {ledger}_rejects) AS reject_rows,
       (SELECT COUNT(*) FROM {sales}) AS facts,
       (SELECT COUNT(*) FROM {sales_team_data_mart}) AS sales_team_mart_rows,
       (SELECT COUNT(*) FROM {sales_comparison_mart}) AS comparison_rows,
       (SELECT COUNT(*) FROM {customer_segments}) AS segment_rows
