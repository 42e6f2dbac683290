DELETE FROM {sales} WHERE file_id IN ({file_ids})
