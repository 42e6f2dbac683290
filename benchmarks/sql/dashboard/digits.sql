-- The benchmark's number source: a cross join of this table with itself counts 0 .. 10^k - 1.
CREATE TABLE bench_digits (d INT NOT NULL PRIMARY KEY);
INSERT INTO bench_digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);
