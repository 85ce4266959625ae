"""The audit ledger: every state change appends a hash-chained entry in the same transaction."""
