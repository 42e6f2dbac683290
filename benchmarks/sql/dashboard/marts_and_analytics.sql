-- The sales team mart from the facts (once), then analytics sized as the data's months give.
INSERT INTO {sales_team_data_mart} (store_id, sales_person_id, full_name, sales_month, total_sales,
                                    incentive)
SELECT store_id, sales_person_id, 'Diya Iyer', sales_month, SUM(total_cost), 0
FROM {sales}
GROUP BY store_id, sales_person_id, sales_month;

CREATE TABLE bench_months AS SELECT DISTINCT sales_month AS month FROM {sales_team_data_mart};

INSERT INTO {sales_comparison_mart} (level, entity_id, month, entity_name, total_sales,
                                     quantity_sold, sales_count, prev_month_total_sales,
                                     mom_change, mom_change_pct)
SELECT e.level, e.id, m.month, CONCAT(e.level, ' ', e.id), 1000 + e.id * 7, 10, 10, 1000,
       e.id * 7, ROUND(e.id * 0.7, 2)
FROM bench_months AS m,
     (SELECT 'product' AS level, id FROM {product}
      UNION ALL SELECT 'store', id FROM {store}
      UNION ALL SELECT 'sales_person', id FROM {sales_team}) AS e;

INSERT INTO {customer_segments} (customer_id, snapshot_month, recency_days, frequency, monetary,
                                 r_score, f_score, m_score, rfm_score, segment)
SELECT c.customer_id, m.month, 3, 40, 5000, 5, 4, 3, '543',
       ELT(c.customer_id MOD 5 + 1, 'Champions', 'Loyal', 'At Risk', 'Hibernating', 'Promising')
FROM bench_months AS m, {customer} AS c;

ANALYZE TABLE {ledger}, {ledger}_rejects, {sales_team_data_mart}, {sales_comparison_mart},
    {customer_segments};

DROP TABLE bench_digits, bench_months;
