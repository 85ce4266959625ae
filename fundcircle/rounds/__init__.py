"""Rounds: one call for proposals against one pot, moving through its phases."""
