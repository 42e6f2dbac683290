"""salesflow: sales CSV files from S3, validated with PySpark, loaded into MySQL by Airflow."""
