"""Consent-based decisions: consent rounds on proposal versions, objections that must be integrated, and the
consent outcome of a round (sociocratic consent or consensus)."""
