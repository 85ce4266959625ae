"""Deciding: quadratic voting (ballots, tally, allocation) and, in consent rounds, consent."""
