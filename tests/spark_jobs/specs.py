"""What the Spark job tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def validation_spec(
    settings: Any,
    output_dir: Path,
    run_id: str,
    files: list[dict[str, Any]],
    mandatory: list[str] | None = None,
) -> dict[str, Any]:
    """A validation job spec as download_files writes it, for files already on disk."""
    from salesflow.pipeline import jdbc_settings

    return {
        "run_id": run_id,
        "as_of_date": "2024-06-30",
        "mandatory_columns": mandatory or list(settings.mandatory_columns),
        "output_dir": str(output_dir),
        "jdbc": jdbc_settings(settings),
        "tables": {
            name: getattr(settings.tables, name) for name in ("customer", "store", "product", "sales_team")
        },
        "files": files,
    }
