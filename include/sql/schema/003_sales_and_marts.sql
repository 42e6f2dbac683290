-- The enriched sales facts and the two marts (SPEC "Outputs").
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
    additional_column TEXT NULL,
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
    total_sales DECIMAL(16, 2) NOT NULL,
    PRIMARY KEY (customer_id, sales_date_month),
    KEY ix_month (sales_date_month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {sales_team_data_mart} (
    store_id INT NOT NULL,
    sales_person_id INT NOT NULL,
    full_name VARCHAR(201) NOT NULL,
    sales_month CHAR(7) NOT NULL,
    total_sales DECIMAL(16, 2) NOT NULL,
    incentive DECIMAL(16, 2) NOT NULL,
    PRIMARY KEY (store_id, sales_person_id, sales_month),
    KEY ix_month (sales_month)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
