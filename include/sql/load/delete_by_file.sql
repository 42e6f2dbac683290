-- The rows of these file versions (facts or their summaries), replaced by this load.
DELETE FROM {table} WHERE file_id IN ({file_ids})
