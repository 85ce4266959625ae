"""CSV files that people open in spreadsheets."""

from __future__ import annotations


def spreadsheet_safe(text: str) -> str:
    """Keep a cell from being read as a formula when the CSV is opened in a spreadsheet."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
