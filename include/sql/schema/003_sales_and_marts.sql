-- The enriched sales facts, the two marts, their compact inputs and the analytics (SPEC "Outputs",
-- "Analytics"). Every money aggregate is DECIMAL(38, 2), quantities DECIMAL(38, 0), counts BIGINT:
-- any total below 10^26 fits (10^16 rows at the largest total_cost a row may carry), and so does a
-- percent change between two such totals (README, "Limits").

-- (file_id, line_number) is the key of a fact: file_id is the ledger id of the file version, so a
-- retried load can never double a row.
CREATE TABLE IF NOT EXISTS {sales} (
    file_id BIGINT NOT NULL,
    line_number BIGINT NOT NULL,
    customer_id INT NOT NULL,
    store_id INT NOT NULL,
    product_id INT NOT NULL,
    product_name VARCHAR(255) NOT NULL,
    sales_date DATE NOT NULL,
    sales_month CHAR(7) NOT NULL,
    sales_person_id INT NOT NULL,
    price DECIMAL(10, 2) NOT NULL,
    quantity INT NOT NULL,
    total_cost DECIMAL(12, 2) NOT NULL,
    -- The extra columns as JSON; validation rejects a row whose JSON exceeds 1 MiB.
    additional_column MEDIUMTEXT NULL,
    customer_full_name VARCHAR(201) NOT NULL,
    sales_person_full_name VARCHAR(201) NOT NULL,
    PRIMARY KEY (file_id, line_number),
    KEY ix_sales_month (sales_month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {customers_data_mart} (
    customer_id INT NOT NULL,
    full_name VARCHAR(201) NOT NULL,
    address VARCHAR(255),
    phone_number VARCHAR(20),
    sales_date_month CHAR(7) NOT NULL,
    total_sales DECIMAL(38, 2) NOT NULL,
    PRIMARY KEY (customer_id, sales_date_month),
    KEY ix_month (sales_date_month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {sales_team_data_mart} (
    store_id INT NOT NULL,
    sales_person_id INT NOT NULL,
    full_name VARCHAR(201) NOT NULL,
    sales_month CHAR(7) NOT NULL,
    total_sales DECIMAL(38, 2) NOT NULL,
    incentive DECIMAL(38, 2) NOT NULL,
    PRIMARY KEY (store_id, sales_person_id, sales_month),
    KEY ix_month (sales_month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Compact inputs: one row per file version, key and month, with that file's sums. A month's marts
-- and analytics are computed from these (never from the facts), and a superseded version's share
-- is found and removed by its file_id.
CREATE TABLE IF NOT EXISTS {customer_month_summary} (
    file_id BIGINT NOT NULL,
    customer_id INT NOT NULL,
    sales_month CHAR(7) NOT NULL,
    total_sales DECIMAL(38, 2) NOT NULL,
    sales_count BIGINT NOT NULL,
    last_purchase_date DATE NOT NULL,
    PRIMARY KEY (file_id, customer_id, sales_month),
    KEY ix_month (sales_month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {sales_team_month_summary} (
    file_id BIGINT NOT NULL,
    store_id INT NOT NULL,
    sales_person_id INT NOT NULL,
    sales_month CHAR(7) NOT NULL,
    total_sales DECIMAL(38, 2) NOT NULL,
    quantity_sold DECIMAL(38, 0) NOT NULL,
    sales_count BIGINT NOT NULL,
    PRIMARY KEY (file_id, store_id, sales_person_id, sales_month),
    KEY ix_month (sales_month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {product_month_summary} (
    file_id BIGINT NOT NULL,
    product_id INT NOT NULL,
    sales_month CHAR(7) NOT NULL,
    total_sales DECIMAL(38, 2) NOT NULL,
    quantity_sold DECIMAL(38, 0) NOT NULL,
    sales_count BIGINT NOT NULL,
    PRIMARY KEY (file_id, product_id, sales_month),
    KEY ix_month (sales_month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Period over period, per product, store and sales person (SPEC "Analytics").
CREATE TABLE IF NOT EXISTS {sales_comparison_mart} (
    level VARCHAR(16) NOT NULL,
    entity_id INT NOT NULL,
    month CHAR(7) NOT NULL,
    entity_name VARCHAR(255) NULL,
    total_sales DECIMAL(38, 2) NOT NULL,
    quantity_sold DECIMAL(38, 0) NOT NULL,
    sales_count BIGINT NOT NULL,
    prev_month_total_sales DECIMAL(38, 2) NULL,
    mom_change DECIMAL(38, 2) NULL,
    mom_change_pct DECIMAL(38, 2) NULL,
    prev_year_total_sales DECIMAL(38, 2) NULL,
    yoy_change DECIMAL(38, 2) NULL,
    yoy_change_pct DECIMAL(38, 2) NULL,
    PRIMARY KEY (level, entity_id, month),
    KEY ix_month (month, level)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- Monthly RFM snapshots (SPEC "Analytics").
CREATE TABLE IF NOT EXISTS {customer_segments} (
    customer_id INT NOT NULL,
    snapshot_month CHAR(7) NOT NULL,
    recency_days INT NOT NULL,
    frequency BIGINT NOT NULL,
    monetary DECIMAL(38, 2) NOT NULL,
    r_score TINYINT NOT NULL,
    f_score TINYINT NOT NULL,
    m_score TINYINT NOT NULL,
    rfm_score CHAR(3) NOT NULL,
    segment VARCHAR(32) NOT NULL,
    PRIMARY KEY (customer_id, snapshot_month),
    KEY ix_snapshot (snapshot_month, segment)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
