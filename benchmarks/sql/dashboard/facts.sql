-- A million facts from number `first` on, `per_file` per ledger file; a file's sales are dated on
-- the day of its run.
INSERT INTO {sales} (file_id, line_number, customer_id, store_id, product_id, product_name,
                     sales_date, sales_month, sales_person_id, price, quantity, total_cost,
                     customer_full_name, sales_person_full_name)
SELECT f.n DIV %(per_file)s + 1, f.n MOD %(per_file)s + 2, f.n MOD 250 + 1, f.n MOD 4 + 121,
       f.n MOD 12 + 1, 'basmati rice', f.day, DATE_FORMAT(f.day, '%%Y-%%m'), f.n MOD 16 + 1, 145.75,
       f.n MOD 10 + 1, 145.75 * (f.n MOD 10 + 1), 'Aarav Sharma', 'Diya Iyer'
FROM (
    SELECT numbers.n,
           CURRENT_DATE - INTERVAL ((%(runs)s - 1 - LEAST(numbers.n DIV %(per_file)s DIV %(per_run)s,
                                                        %(runs)s - 1)) * %(spacing)s DIV 24) DAY AS day
    FROM (
        SELECT %(first)s + d0.d + d1.d * 10 + d2.d * 100 + d3.d * 1000 + d4.d * 10000
               + d5.d * 100000 AS n
        FROM bench_digits AS d0, bench_digits AS d1, bench_digits AS d2, bench_digits AS d3,
             bench_digits AS d4, bench_digits AS d5
    ) AS numbers
    WHERE numbers.n < %(facts)s
) AS f
