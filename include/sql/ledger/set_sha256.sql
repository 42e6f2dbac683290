-- The content hash of each entry: the rows are (id, sha256).
UPDATE {ledger} AS l
JOIN (
    SELECT NULL AS id, NULL AS sha256 FROM DUAL WHERE FALSE
    UNION ALL {rows}
) AS v ON v.id = l.id
SET l.sha256 = v.sha256
