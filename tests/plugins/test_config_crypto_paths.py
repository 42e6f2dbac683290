"""Settings per environment, Fernet secrets and the path rules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from salesflow.config import ConfigError, load_settings
from salesflow.crypto import SecretConfigError, decrypt_value, encrypt_value
from salesflow.paths import PROJECT_ROOT, path_inside, relative_key, sanitize_name


@pytest.mark.parametrize(
    ("environment", "bucket", "database"),
    [
        ("dev", "salesflow-dev", "salesflow"),
        ("qa", "salesflow-qa", "salesflow_qa"),
        ("prod", "salesflow-prod", "salesflow"),
    ],
)
def test_each_environment_has_its_settings(environment, bucket, database):
    settings = load_settings(environ={"SALESFLOW_ENV": environment})
    assert (settings.environment, settings.bucket, settings.database) == (environment, bucket, database)
    assert settings.prefixes.source == "sales_data/"
    assert settings.prefixes.error == "sales_data_error/"
    assert settings.mandatory_columns == (
        "customer_id",
        "store_id",
        "product_name",
        "sales_date",
        "sales_person_id",
        "price",
        "quantity",
        "total_cost",
    )


def test_overrides_and_relative_folders():
    settings = load_settings(
        environ={
            "SALESFLOW__STORAGE__BUCKET": "other",
            "SALESFLOW__STORAGE__PREFIXES__SOURCE": "/incoming",
            "SALESFLOW__MANDATORY_COLUMNS": "Customer_ID, price",
        }
    )
    assert settings.bucket == "other"
    assert settings.prefixes.source == "incoming/"
    assert settings.mandatory_columns == ("customer_id", "price")
    assert settings.error_dir == PROJECT_ROOT / "var" / "error"
    assert settings.prefixes.runs == "salesflow_runs/"


def test_unknown_environment_is_one_clear_error():
    with pytest.raises(ConfigError, match=r"SALESFLOW_ENV='staging': expected one of dev, qa, prod"):
        load_settings(environ={"SALESFLOW_ENV": "staging"})


def test_encrypted_values_round_trip_and_decrypt_in_config():
    key = Fernet.generate_key()
    token = encrypt_value("s3cr3t-value", key)
    assert token.startswith("fernet:") and "s3cr3t-value" not in token
    assert decrypt_value(token, key) == "s3cr3t-value"
    settings = load_settings(
        environ={"SALESFLOW_FERNET_KEY": key.decode(), "SALESFLOW__STORAGE__BUCKET": token}
    )
    assert settings.bucket == "s3cr3t-value"


def test_wrong_or_missing_key_is_one_clear_error(tmp_path):
    token = encrypt_value("s3cr3t-value", Fernet.generate_key())
    with pytest.raises(
        SecretConfigError, match=r"^cannot decrypt config storage.bucket: wrong Fernet key"
    ) as wrong:
        load_settings(
            environ={
                "SALESFLOW_FERNET_KEY": Fernet.generate_key().decode(),
                "SALESFLOW__STORAGE__BUCKET": token,
            }
        )
    assert "s3cr3t" not in str(wrong.value) and wrong.value.__cause__ is None
    missing_file = tmp_path / "none.key"
    with pytest.raises(SecretConfigError, match=r"^no Fernet key: set SALESFLOW_FERNET_KEY"):
        load_settings(
            environ={"SALESFLOW_FERNET_KEY_FILE": str(missing_file), "SALESFLOW__STORAGE__BUCKET": token}
        )
    with pytest.raises(SecretConfigError, match="malformed"):
        decrypt_value(token, b"not-a-key")


def test_encrypt_command_reads_stdin_and_uses_the_key_file(tmp_path):
    key_file = tmp_path / "fernet.key"
    key_file.write_text(Fernet.generate_key().decode())
    env = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(PROJECT_ROOT / "plugins"),
        "SALESFLOW_FERNET_KEY_FILE": str(key_file),
    }
    done = subprocess.run(
        [sys.executable, "-m", "salesflow.crypto", "encrypt"],
        input="pa55word\n",
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert decrypt_value(done.stdout.strip(), key_file.read_text().encode()) == "pa55word"
    env.pop("SALESFLOW_FERNET_KEY_FILE")
    env["HOME"] = str(tmp_path)
    failed = subprocess.run(
        [sys.executable, "-m", "salesflow.crypto", "encrypt"],
        input="x",
        capture_output=True,
        text=True,
        env=env,
    )
    assert failed.returncode == 2
    assert failed.stderr.startswith("error: no Fernet key") and "Traceback" not in failed.stderr


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("sales_data/a.csv", "a.csv"),
        ("sales_data/2024/01/a b;'\".csv", "2024/01/a b;'\".csv"),
        ("sales_data/café.csv", "café.csv"),
        ("sales_data/../etc/passwd", None),
        ("sales_data/a/../../x.csv", None),
        ("sales_data//etc/passwd", None),
        ("sales_data/./a.csv", None),
        ("sales_data/a\\..\\b.csv", None),
        ("sales_data/", None),
        ("other/a.csv", None),
        ("sales_data/" + "x" * 300 + ".csv", "x" * 300 + ".csv"),  # long, but not escaping
    ],
)
def test_relative_key_refuses_keys_that_escape(key, expected):
    assert relative_key(key, "sales_data/") == expected


def test_path_inside_and_sanitize(tmp_path):
    assert path_inside(tmp_path, "a/b.csv") == tmp_path.resolve() / "a" / "b.csv"
    assert path_inside(tmp_path, "../x") is None
    assert path_inside(tmp_path, "/etc/passwd") is None
    assert path_inside(tmp_path, "a/" + "x" * 256) is None  # not a valid file name here
    assert sanitize_name("manual__2024-01-01T00:00:00+00:00") == "manual__2024-01-01T00_00_00_00_00"
    assert Path(sanitize_name("../../x")).name == "x"


def test_seed_sql_matches_the_generator():
    from include.sample_data.generate import SEED_SQL, seed_sql

    assert SEED_SQL.read_text() == seed_sql(), "run: python -m include.sample_data.generate --write-seed-sql"


def test_generator_is_reproducible():
    from datetime import date

    from include.sample_data.generate import good_files

    first = good_files(rows=50, files=2, seed=3, start_month=date(2024, 1, 1), months=2)
    again = good_files(rows=50, files=2, seed=3, start_month=date(2024, 1, 1), months=2)
    assert [f.content for f in first] == [f.content for f in again]
    assert [f.rows for f in first] == [25, 25]
    assert first[0].content.count(b"\n") == 26


def test_every_wrong_setting_is_named_in_one_error_without_its_value():
    with pytest.raises(ConfigError) as wrong:
        load_settings(
            environ={
                "SALESFLOW__PIPELINE__MAX_ATTEMPTS": "0",
                "SALESFLOW__DASHBOARD__STALE_AFTER_HOURS": "soon",
                "SALESFLOW__LIMITS__MAX_LINE_BYTEZ": "10",
            }
        )
    message = str(wrong.value)
    for place in (
        "pipeline.max_attempts: Input should be greater than 0",
        "dashboard.stale_after_hours: Input should be a valid integer",
        "limits.max_line_bytez: Unexpected keyword argument",
    ):
        assert place in message
    assert "soon" not in message
    with pytest.raises(ConfigError, match='variables: error parsing value for field "storage"') as shape:
        load_settings(environ={"SALESFLOW__STORAGE": "s3cr3t-not-a-section"})
    assert "s3cr3t" not in str(shape.value)


def test_values_from_the_environment_keep_their_case_and_types():
    settings = load_settings(
        environ={
            "salesflow__storage__bucket": "Sales-Bucket",
            "SALESFLOW__STORAGE__PREFIXES__SOURCE": "Incoming/Daily",
            "SALESFLOW__LIMITS__MAX_JSON_DEPTH": "8",
        }
    )
    assert (settings.bucket, settings.prefixes.source) == ("Sales-Bucket", "Incoming/Daily/")
    assert settings.limits.max_json_depth == 8 and settings.limits.max_line_bytes == 16 * 1024 * 1024
