-- `ledger` file versions over `runs` runs, one run every `spacing` hours, the latest ending now.
-- Per 100 files: 91 loaded, 5 quarantined, 2 duplicates, 1 failed, 1 superseded; the very last
-- files are still in flight.
INSERT INTO {ledger} (bucket, object_key, etag, size_bytes, sha256, status, run_id, rows_read,
                      rows_loaded, rows_rejected, reason, max_sales_date, version_key, claimed_at,
                      updated_at)
SELECT %(bucket)s, CONCAT('sales_data/run', s.run, '/file', s.n, '.csv'), MD5(s.n), 4096,
       SHA2(s.n, 256), s.status, CONCAT('scheduled__', DATE_FORMAT(s.run_at, '%%Y-%%m-%%dT%%H:%%i')),
       IF(s.status IN ('LOADED', 'SUPERSEDED'), 50, NULL),
       IF(s.status IN ('LOADED', 'SUPERSEDED'), 48, NULL),
       IF(s.status IN ('LOADED', 'SUPERSEDED'), 2, NULL),
       IF(s.status = 'QUARANTINED', IF(s.n MOD 2 = 0, 'missing_columns:total_cost', 'not_csv'), NULL),
       IF(s.status = 'LOADED', DATE(s.at) - INTERVAL (s.n MOD 7) DAY, NULL),
       SHA2(CONCAT('version', s.n), 256), s.at - INTERVAL 5 MINUTE, s.at
FROM (
    SELECT q.n, q.run, q.run_at,
           CASE
               WHEN q.n >= %(ledger)s - 5 THEN IF(q.n MOD 2 = 0, 'CLAIMED', 'VALIDATED')
               WHEN q.n MOD 100 < 91 THEN 'LOADED'
               WHEN q.n MOD 100 < 96 THEN 'QUARANTINED'
               WHEN q.n MOD 100 < 98 THEN 'DUPLICATE'
               WHEN q.n MOD 100 < 99 THEN 'FAILED'
               ELSE 'SUPERSEDED'
           END AS status,
           q.run_at - INTERVAL (%(per_run)s - 1 - q.n MOD %(per_run)s) MINUTE AS at
    FROM (
        SELECT numbers.n, LEAST(numbers.n DIV %(per_run)s, %(runs)s - 1) AS run,
               NOW(6) - INTERVAL ((%(runs)s - 1 - LEAST(numbers.n DIV %(per_run)s, %(runs)s - 1))
                                  * %(spacing)s) HOUR AS run_at
        FROM (
            SELECT d0.d + d1.d * 10 + d2.d * 100 + d3.d * 1000 + d4.d * 10000 + d5.d * 100000 AS n
            FROM bench_digits AS d0, bench_digits AS d1, bench_digits AS d2, bench_digits AS d3,
                 bench_digits AS d4, bench_digits AS d5
        ) AS numbers
        WHERE numbers.n < %(ledger)s
    ) AS q
) AS s
