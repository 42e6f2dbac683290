LOAD DATA LOCAL INFILE %s INTO TABLE {customer_segments}
CHARACTER SET utf8mb4
FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '"' ESCAPED BY ''
LINES TERMINATED BY '\n'
(customer_id, snapshot_month, recency_days, frequency, monetary, r_score, f_score, m_score, rfm_score,
 segment)
