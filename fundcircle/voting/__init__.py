"""Deciding by quadratic voting (ballots with voice credits, the tally and the allocation), and the stored result
of every round, whatever its method, with its exports."""
