"""The audit ledger. Its ground floor (`record.py`, `models.py`, `chain.py`) imports no area, so that every state
change in every area appends its entry in its own transaction; its reading side (`reading.py`, pages, API, command
line) reads every area and stands at the top."""
