"""Which ledger entry owns each file content (its SHA-256): a file whose bytes another entry owns
is a DUPLICATE of it, under any name, unless that owner never loaded them."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from salesflow.ledger import CLAIM_BATCH, FileLedger, LedgerEntry, StatusMove
from salesflow.statuses import FileStatus

# An owner of bytes that never loaded them: a new entry with the same bytes takes them over.
BYTES_PASS_ON_FROM = (FileStatus.FAILED, FileStatus.GONE)


class ContentOwners:
    """The contents of a ledger's entries (the ``<ledger>_content`` table) and their owners."""

    def __init__(self, ledger: FileLedger) -> None:
        self.ledger = ledger

    def record(
        self, contents: Sequence[tuple[int, str]], reprocessed: Mapping[int, int] | None = None
    ) -> dict[int, LedgerEntry]:
        """Store the content hash of claimed files and decide, for each, whether its bytes are new.

        ``contents`` are (entry id, SHA-256) pairs. Returns, for each entry whose bytes are not new,
        the entry that already owns them; that entry is moved to DUPLICATE, pointing at the owner.
        Entries left out of the answer own their bytes. The first of several entries with the same
        bytes (in the order given) owns them. Bytes owned by a FAILED or GONE entry (never loaded) pass
        to the new one. One transaction per batch of CLAIM_BATCH entries (no round trip per file), so
        two runs can't both own the same bytes; safe to call again with the same pairs.

        ``reprocessed`` maps an entry that reprocesses another (``salesflow.reprocess``) to that
        entry: it is never a DUPLICATE (an operator asked for its bytes to load again), and it takes
        its bytes over from the entry it reprocesses.
        """
        owners: dict[int, int] = {}
        # Stable sort by hash: concurrent runs lock the content rows in the same order.
        ordered = sorted(dict(contents).items(), key=lambda pair: pair[1])
        for start in range(0, len(ordered), CLAIM_BATCH):
            batch = ordered[start : start + CLAIM_BATCH]
            record = functools.partial(self._record_batch, batch, reprocessed or {})
            owners.update(self.ledger.with_deadlock_retry("record contents", record))
        found = {e.id: e for e in self.ledger.get(sorted(set(owners.values())))}
        return {entry_id: found[owner_id] for entry_id, owner_id in owners.items()}

    def _record_batch(
        self, batch: Sequence[tuple[int, str]], reprocessed: Mapping[int, int]
    ) -> dict[int, int]:
        """One transaction: hashes stored, contents registered, duplicates moved; entry -> owner id."""
        hashes = sorted({sha256 for _, sha256 in batch})
        with self.ledger.conn.cursor() as cursor:
            pairs = [value for pair in batch for value in pair]
            cursor.execute(self.ledger.sql("set_sha256", rows=(len(batch), 2)), pairs)
            cursor.executemany(
                self.ledger.sql("content_register"), [(sha256, entry_id) for entry_id, sha256 in batch]
            )
            cursor.execute(self.ledger.sql("content_owner", sha256s=len(hashes)), hashes)
            owner_of = {row[0]: (row[1], row[2], FileStatus(row[3])) for row in cursor.fetchall()}
            take_over: list[tuple[int, str, int]] = []
            for entry_id, sha256 in batch:  # the first entry with a FAILED or GONE owner's bytes takes them
                owner_id, _, owner_status = owner_of[sha256]
                passes_on = owner_status in BYTES_PASS_ON_FROM or reprocessed.get(entry_id) == owner_id
                if owner_id != entry_id and passes_on:
                    take_over.append((entry_id, sha256, owner_id))
                    owner_of[sha256] = (entry_id, "", FileStatus.CLAIMED)  # read again below
            if take_over:  # rare (a FAILED file's bytes under a new name): one statement each
                cursor.executemany(self.ledger.sql("content_take_over"), take_over)
                cursor.execute(self.ledger.sql("content_owner", sha256s=len(hashes)), hashes)
                owner_of = {row[0]: (row[1], row[2], FileStatus(row[3])) for row in cursor.fetchall()}
        moves = [
            StatusMove(
                entry_id,
                reason=f"duplicate_of:{owner_of[sha256][1]} ({owner_of[sha256][2]})",
                duplicate_of=owner_of[sha256][0],
            )
            for entry_id, sha256 in batch
            if owner_of[sha256][0] != entry_id and entry_id not in reprocessed
        ]
        self.ledger.transition_many(FileStatus.DUPLICATE, moves, commit=False)
        self.ledger.conn.commit()
        return {move.entry_id: move.duplicate_of for move in moves if move.duplicate_of is not None}
