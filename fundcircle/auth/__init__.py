"""Accounts: sign-up from invitations, log-in sessions that really end, API tokens."""
