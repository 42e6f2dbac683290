"""S3 objects as both sides name them: a version the ledger claims, and the error codes of a key
that holds no object. No client here: the Airflow side reaches S3 through ``storage`` (S3Hook), the
Spark side through ``spark_jobs.object_store`` (boto3)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class ObjectVersion:
    """One object as listed in S3 (key, ETag and size identify it; landed_at is its LastModified).

    ``resent``: the same key, ETag and size as a version already settled and moved out of the
    landing prefix, put there again later (its LastModified is newer): a version of its own.
    """

    key: str
    etag: str
    size: int
    landed_at: datetime | None = field(default=None, compare=False)
    resent: bool = field(default=False, compare=False)

    def version_key(self, bucket: str) -> str:
        """The ledger's identity of this version: SHA-256 of bucket, key, ETag and size (and, for a
        copy sent again, its LastModified)."""
        parts = [bucket, self.key, self.etag, str(self.size)]
        if self.resent and self.landed_at is not None:
            parts.append(self.landed_at.astimezone(UTC).isoformat())
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()
