"""Proposals and their versions."""
