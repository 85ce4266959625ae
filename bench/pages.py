"""The pages whose latency and SQL query count the benchmark measures, one line each.

A path may use {circle}, {round} (the quadratic round, decided by then), {consent_round} and {proposal} (the
proposal with 1,000 comments). The pages are read after the quadratic round is decided, signed in as a member who
is admin, treasurer and circle member, so that every page shows everything it can.
"""

from __future__ import annotations

PAGES: dict[str, str] = {
    "round page": "/rounds/{round}",
    "proposal page (1,000 comments)": "/proposals/{proposal}",
    "results page": "/rounds/{round}/results",
    "ledger page": "/circles/{circle}/ledger",
    "treasury page": "/circles/{circle}/treasury",
}
