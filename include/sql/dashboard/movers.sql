-- The latest month's biggest month-over-month changes, the first few of each level (ix_month).
SELECT level, entity_id, entity_name, month, total_sales, prev_month_total_sales, mom_change,
       mom_change_pct
FROM (
    SELECT c.*, ROW_NUMBER() OVER (
        PARTITION BY level ORDER BY ABS(mom_change) DESC, entity_id
    ) AS place
    FROM {sales_comparison_mart} AS c
    WHERE month = (SELECT MAX(month) FROM {sales_comparison_mart}) AND mom_change IS NOT NULL
) AS ranked
WHERE place <= %s
ORDER BY level, place
