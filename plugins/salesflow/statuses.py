"""A file version's status in the ledger: the one list, which the Python code and the SQL files
(``sql.render`` fills ``{status_claimed}`` and the others in) both take it from."""

from __future__ import annotations

from enum import StrEnum


class FileStatus(StrEnum):
    CLAIMED = "CLAIMED"
    VALIDATED = "VALIDATED"
    LOADED = "LOADED"
    QUARANTINED = "QUARANTINED"
    DUPLICATE = "DUPLICATE"
    FAILED = "FAILED"
    SUPERSEDED = "SUPERSEDED"
    # A FAILED version whose object left the landing prefix before it loaded (deleted, or replaced
    # by another version under its key): nothing is left to claim again.
    GONE = "GONE"


# A version a run holds and has not settled yet.
IN_FLIGHT = (FileStatus.CLAIMED, FileStatus.VALIDATED)


def sql_literals() -> dict[str, str]:
    """``status_<name>`` -> the status as an SQL string literal (the values are fixed capitals)."""
    return {f"status_{status.name.lower()}": f"'{status.value}'" for status in FileStatus}
