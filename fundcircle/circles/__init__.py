"""Circles (a community's fund), their members and roles, and invitations."""
