"""Sortition: choosing a circle's next deciding members from its volunteers by a draw anyone can re-run.

A pure rule (standard library only: no Flask, no database, no clock), so that the draw written in the ledger can be
checked by anyone with Python and the entry alone:

    python -m fundcircle.circles.sortition entry.json

Algorithm "fundcircle-sortition", version 1:

1. The volunteers are sorted by user id (each once). Each is marked as having served before or not.
2. The seed is a text fixed before the volunteers closed (the circle's ledger head hash when the call opened).
3. Newcomers first: at least ceil(seats * newcomer_share_percent / 100) picks, or all newcomers when fewer, come
   from the volunteers who have not served before; the remaining picks come from everyone not yet picked.
4. Pick number i (0, 1, 2, ...) chooses from its pool (the candidates still unpicked, in user id order) of size n:
   for attempt j = 0, 1, ... take x = the SHA-256 of "<seed>|<i>|<j>" (UTF-8) read as a 256-bit big-endian number;
   if x < n * floor(2**256 / n) the pick is pool[x mod n], else try the next j (rejection sampling, so that every
   candidate of the pool is exactly equally likely: no modulo bias).
5. The result is the chosen user ids in the order they were picked.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

ALGORITHM = "fundcircle-sortition"
VERSION = 1
_SPACE = 2**256


@dataclass(frozen=True)
class Volunteer:
    user_id: int
    served_before: bool


def newcomers_needed(seats: int, newcomer_share_percent: int) -> int:
    """The least number of picks that must come from people who have not served before (rounded up)."""
    return -(-seats * newcomer_share_percent // 100)


def pick_index(seed: str, pick: int, pool_size: int) -> int:
    """A uniformly chosen index in range(pool_size) for pick number `pick`, from the seed alone (step 4 above)."""
    if pool_size < 1:
        raise ValueError("cannot pick from an empty pool")
    limit = pool_size * (_SPACE // pool_size)
    attempt = 0
    while True:
        digest = hashlib.sha256(f"{seed}|{pick}|{attempt}".encode()).digest()
        value = int.from_bytes(digest, "big")
        if value < limit:
            return value % pool_size
        attempt += 1


def draw(seed: str, volunteers: Sequence[Volunteer], seats: int, newcomer_share_percent: int = 0) -> list[int]:
    """The user ids chosen, in the order picked: `seats` of them, or every volunteer when there are fewer."""
    if seats < 0:
        raise ValueError("seats cannot be negative")
    if not 0 <= newcomer_share_percent <= 100:
        raise ValueError("the newcomers' share is a percentage from 0 to 100")
    ordered = sorted({v.user_id: v for v in volunteers}.values(), key=lambda v: v.user_id)
    total = min(seats, len(ordered))
    newcomers = [v.user_id for v in ordered if not v.served_before]
    from_newcomers = min(newcomers_needed(total, newcomer_share_percent), len(newcomers))
    chosen: list[int] = []
    pool = newcomers
    for pick in range(total):
        if pick == from_newcomers:
            pool = [v.user_id for v in ordered if v.user_id not in chosen]
        chosen.append(pool.pop(pick_index(seed, pick, len(pool))))
    return chosen


def entry_data(seed: str, volunteers: Sequence[Volunteer], seats: int, newcomer_share_percent: int) -> dict[str, Any]:
    """Everything a re-run needs, and the result: what the draw's ledger entry holds."""
    ordered = sorted({v.user_id: v for v in volunteers}.values(), key=lambda v: v.user_id)
    return {
        "algorithm": ALGORITHM,
        "version": VERSION,
        "seed": seed,
        "volunteers": [{"user": v.user_id, "served_before": v.served_before} for v in ordered],
        "seats": seats,
        "strata": {"newcomer_share_percent": newcomer_share_percent},
        "chosen": draw(seed, ordered, seats, newcomer_share_percent),
    }


@dataclass(frozen=True)
class Check:
    matches: bool
    expected: list[int]
    recorded: list[int]


def check_entry(entry: Mapping[str, Any]) -> Check:
    """Re-run the draw of a ledger entry (the entry as exported, or its `data` alone) and compare the result.

    :raises ValueError: if the entry is not a draw of this algorithm and version, or lacks an input.
    """
    data = entry.get("data", entry)
    if not isinstance(data, Mapping):
        raise ValueError("the entry has no data")
    if data.get("algorithm") != ALGORITHM or data.get("version") != VERSION:
        raise ValueError(f"this is not a {ALGORITHM} version {VERSION} draw")
    try:
        volunteers = [Volunteer(int(v["user"]), bool(v["served_before"])) for v in data["volunteers"]]
        expected = draw(
            str(data["seed"]), volunteers, int(data["seats"]), int(data["strata"]["newcomer_share_percent"])
        )
        recorded = [int(user) for user in data["chosen"]]
    except (KeyError, TypeError) as error:
        raise ValueError(f"the entry lacks an input of the draw: {error}") from error
    return Check(matches=expected == recorded, expected=expected, recorded=recorded)


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m fundcircle.circles.sortition entry.json", file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as file:
        entry = json.load(file)
    try:
        result = check_entry(entry)
    except ValueError as error:
        print(f"cannot check this entry: {error}", file=sys.stderr)
        return 2
    if result.matches:
        print(f"The draw matches: chosen {result.recorded}.")
        return 0
    print(f"The draw does NOT match: the entry says {result.recorded}, re-running gives {result.expected}.")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
