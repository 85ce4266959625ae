"""Payouts: what a decided round owes its funded proposals, approved by treasurers and requested on Open Collective."""
