"""Learning reports: what the authors of funded proposals tell their circle they learned (issue 19)."""
