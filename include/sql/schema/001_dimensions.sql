-- Dimension tables (SPEC "Dimension tables"); safe to run again.
CREATE TABLE IF NOT EXISTS {customer} (
    customer_id INT NOT NULL PRIMARY KEY,
    first_name VARCHAR(100) NOT NULL,
    last_name VARCHAR(100) NOT NULL,
    address VARCHAR(255),
    pincode VARCHAR(10),
    phone_number VARCHAR(20),
    customer_joining_date DATE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {store} (
    id INT NOT NULL PRIMARY KEY,
    address VARCHAR(255),
    store_pincode VARCHAR(10),
    store_manager_name VARCHAR(100),
    store_opening_date DATE,
    reviews TEXT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {product} (
    id INT NOT NULL PRIMARY KEY,
    name VARCHAR(255) NOT NULL,
    current_price DECIMAL(10, 2) NOT NULL,
    old_price DECIMAL(10, 2),
    created_date DATE,
    updated_date DATE,
    expiry_date DATE,
    UNIQUE KEY uq_product_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {sales_team} (
    id INT NOT NULL PRIMARY KEY,
    first_name VARCHAR(100) NOT NULL,
    last_name VARCHAR(100) NOT NULL,
    manager_id INT,
    is_manager CHAR(1) NOT NULL DEFAULT 'N',
    address VARCHAR(255),
    pincode VARCHAR(10),
    joining_date DATE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
