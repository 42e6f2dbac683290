UPDATE {ledger} SET sha256 = %s WHERE id = %s
