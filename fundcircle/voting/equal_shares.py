"""The method of equal shares (MES) as an allocation rule. Pure: no Flask, no database, no clock, never floats.

The budget is split equally among the members who cast a ballot (an empty ballot is a share that supports
nothing). Each proposal is paid for only by its supporters, out of their shares. A member's *utility* for a
proposal says how much they support it:

- approval ballots: cost utilities, as equalshares.net uses for approval ballots (pabutools' ``Cost_Sat``), so the
  supporters of a proposal pay equal parts of it unless one has less left;
- cumulative and quadratic ballots: the points or votes given (pabutools' ``Additive_Cardinal_Sat``), so
  supporters pay in proportion to what they gave. Votes against a proposal in a quadratic round count as no
  support (utility 0): MES shares out money among supporters and cannot take a share away from opponents.

Round by round, every proposal whose supporters still hold at least its amount can be paid at some price ``rho``
per unit of utility, each supporter paying ``min(what they have left, rho * utility)``; the proposal with the
smallest ``rho`` is funded and its supporters pay. Ties on ``rho`` go, as in fundcircle.voting.quadratic, to the
smaller amount, then the earlier submission, then the smaller id. It stops when no proposal can be paid.

Completion, as equalshares.net describes it ("Add1", then greedy): MES alone often leaves money unspent, so while
the outcome leaves room for another supported proposal, every member's share grows by `increment_minor` (default:
one major unit of the currency per member, e.g. 1.00 EUR) and MES runs again from the start; the last outcome that
does not cost more than the real budget is kept. Whatever budget is then left goes greedily to the remaining
supported proposals by total support (approvals, points, votes for), with the same tie-breaks, each if it fits.
This is exactly pabutools' ``method_of_equal_shares(..., voter_budget_increment=increment)`` followed, through
``completion_by_rule_combination``, by a greedy utilitarian rule over the total support; tests/rules/
test_equal_shares.py compares the funded sets on random rounds. Only proposals with support are ever funded.

Money stays exact: shares and payments are fractions.Fraction of minor units; funded amounts are whole minor units
because proposals ask for whole, positive minor units (the database refuses anything else).
"""

from __future__ import annotations

import enum
import heapq
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction

from fundcircle.money import CURRENCY_EXPONENTS, format_minor
from fundcircle.voting.quadratic import Candidate, quorum_met

__all__ = [
    "Candidate",
    "SharesOutcome",
    "SharesTally",
    "Step",
    "approval_tally",
    "cardinal_tally",
    "equal_shares",
]


class Step(enum.Enum):
    """The Add1 step equalshares.net uses: one major unit of the round's currency per member (1.00 EUR, 1 JPY)."""

    ONE_MAJOR_UNIT = "one major unit"


@dataclass(frozen=True)
class SharesOutcome:
    proposal_id: int
    #: Total support: approvals, or the points or votes for it (votes against not counted).
    support: int
    supporters: int
    amount_minor: int
    funded: bool
    #: How it was funded: "equal shares", "completion", or "" when not funded.
    funded_by: str
    #: What its supporters paid in all (exact; the amount when funded by equal shares, 0 otherwise).
    paid_minor: Fraction
    reason: str
    #: 1 for the first funded; unfunded proposals follow in order of support.
    rank: int


@dataclass(frozen=True)
class SharesTally:
    ballots_cast: int
    eligible_voters: int
    quorum_percent: int
    quorum_met: bool
    budget_minor: int
    #: Each member's share in the kept run of MES (the budget divided by the ballots, plus any Add1 increments).
    share_minor: Fraction
    funded_minor: int
    outcomes: tuple[SharesOutcome, ...]
    #: What each ballot's share has left after equal shares, in the order the ballots were given (exact).
    left_by_ballot: tuple[Fraction, ...]

    @property
    def left_minor(self) -> int:
        return self.budget_minor - self.funded_minor


@dataclass
class _Run:
    """One run of MES at a given share: what was funded, in order, and what everyone paid and has left."""

    funded: list[int]
    rho: dict[int, Fraction]
    payments: dict[int, list[Fraction]]
    left: list[Fraction]
    cost: int


def _tie_key(candidate: Candidate) -> tuple[int, int, int]:
    return (candidate.amount_minor, candidate.submitted_order, candidate.id)


def _run_mes(
    share: Fraction,
    voters: int,
    supporters: Mapping[int, list[tuple[int, int]]],
    by_id: Mapping[int, Candidate],
) -> _Run:
    left = [share] * voters
    total_utility = {pid: sum(u for _, u in sups) for pid, sups in supporters.items()}
    # A proposal's price per unit of utility only rises as supporters spend, so the last computed price is a lower
    # bound: proposals are looked at from the lowest bound up, and the scan stops once a bound exceeds the best.
    bound = {pid: Fraction(by_id[pid].amount_minor, total_utility[pid]) for pid in supporters}
    # A heap of (bound, tie-break, id) gives the proposals in the order of their bounds without sorting them all
    # again each round; each proposal has exactly one entry while it remains.
    heap = [(bound[pid], _tie_key(by_id[pid]), pid) for pid in supporters]
    heapq.heapify(heap)
    run = _Run([], {}, {}, left, 0)
    while heap:
        best: int | None = None
        best_rho = Fraction(0)
        looked_at: list[tuple[Fraction, tuple[int, int, int], int]] = []
        while heap:
            if best is not None and heap[0][0] > best_rho:
                break
            _, key, pid = heapq.heappop(heap)
            cost = by_id[pid].amount_minor
            sups = supporters[pid]
            if sum(left[i] for i, _ in sups) < cost:
                continue  # dropped from the heap: its supporters can never pay it again, shares only shrink
            paid = Fraction(0)
            utility = total_utility[pid]
            rho = bound[pid]
            for i, u in sorted(sups, key=lambda s: left[s[0]] / s[1]):
                rho = (cost - paid) / utility
                if rho * u <= left[i]:
                    break
                paid += left[i]
                utility -= u
            bound[pid] = rho
            looked_at.append((rho, key, pid))
            if best is None or rho < best_rho or (rho == best_rho and key < _tie_key(by_id[best])):
                best, best_rho = pid, rho
        if best is None:
            break
        for entry in looked_at:
            if entry[2] != best:
                heapq.heappush(heap, entry)
        payments = []
        for i, u in supporters[best]:
            pay = min(left[i], best_rho * u)
            left[i] -= pay
            payments.append(pay)
        run.funded.append(best)
        run.rho[best] = best_rho
        run.payments[best] = payments
        run.cost += by_id[best].amount_minor
    return run


def _money(amount: Fraction, currency: str, *, down: bool = False) -> str:
    """A fraction of minor units for people: rounded to the minor unit, with "about" when it is not exact.

    `down` rounds toward less, for what supporters had: 399.996 must not read as the 400.00 a proposal needs.
    """
    rounded = math.floor(amount) if down else round(amount)
    text = format_minor(rounded, currency)
    return text if rounded == amount else f"about {text}"


def _funded_reason(run: _Run, pid: int, utilities: Sequence[int], currency: str, unit: str) -> str:
    """Say who paid what: equal parts when every supporter's utility is the same, else a price per point or vote."""
    payments = run.payments[pid]
    rho = run.rho[pid]
    # A supporter paid less than the price only when that was all they had left.
    capped = sum(1 for pay, u in zip(payments, utilities, strict=True) if pay < rho * u)
    count = len(payments)
    people = "supporter" if count == 1 else "supporters"
    if len(set(utilities)) == 1:
        full = rho * utilities[0]
        if capped == 0:
            each = "paid" if count == 1 else "each paid"
            return f"funded: {count} {people} {each} {_money(full, currency)}"
        return f"funded: {count} {people}; {capped} paid all they had left, the others {_money(full, currency)} each"
    text = f"funded: {count} {people} paid {_money(rho, currency)} for each {unit} they gave"
    if capped:
        text += f"; {capped} of them paid less: all they had left"
    return text


def equal_shares(
    utilities: Sequence[Mapping[int, int]],
    candidates: Sequence[Candidate],
    *,
    budget_minor: int,
    currency: str,
    eligible_voters: int,
    quorum_percent: int,
    cost_utilities: bool,
    unit: str,
    increment_minor: int | None | Step = Step.ONE_MAJOR_UNIT,
) -> SharesTally:
    """Allocate the budget by the method of equal shares with Add1 and greedy completion (module docstring).

    `utilities` has one mapping per ballot cast, proposal id to support (> 0; anything else is no support). With
    `cost_utilities`, each supported proposal's utility is its amount instead (approval ballots). `unit` names what
    a ballot gives, for the explanations ("point", "vote"). `increment_minor` is the Add1 step per member in minor
    units; the default is one major unit of the currency; None runs MES once, then the greedy completion.

    :raises ValueError: for an Add1 step that is not a positive whole number of minor units.
    """
    by_id = {c.id: c for c in candidates}
    voters = len(utilities)
    supporters: dict[int, list[tuple[int, int]]] = {}
    support = {c.id: 0 for c in candidates}
    for i, ballot in enumerate(utilities):
        for pid, value in sorted(ballot.items()):
            if pid in by_id and value > 0:
                support[pid] += value
                utility = by_id[pid].amount_minor if cost_utilities else value
                if utility > 0:
                    supporters.setdefault(pid, []).append((i, utility))
    met = quorum_met(voters, eligible_voters, quorum_percent)
    step = 10 ** CURRENCY_EXPONENTS[currency] if isinstance(increment_minor, Step) else increment_minor
    if step is not None and (isinstance(step, bool) or not isinstance(step, int) or step <= 0):
        raise ValueError(f"The Add1 step is a positive whole number of minor units, not {step!r}.")
    share = Fraction(budget_minor, voters) if voters else Fraction(0)
    run = _Run([], {}, {}, [], 0)
    if met and voters:
        run = _run_mes(share, voters, supporters, by_id)
        while step is not None:
            room = budget_minor - run.cost
            funded_now = set(run.funded)
            if not any(by_id[p].amount_minor <= room for p in supporters if p not in funded_now):
                break  # exhaustive: no supported proposal would fit any more
            bigger = _run_mes(share + step, voters, supporters, by_id)
            if bigger.cost > budget_minor:
                break  # the real budget binds: keep the last outcome that fits
            run, share = bigger, share + step
    in_mes = set(run.funded)
    completion: list[int] = []
    left = budget_minor - run.cost
    greedy_order = sorted(
        (c for c in candidates if c.id in supporters and c.id not in in_mes),
        key=lambda c: (-support[c.id], *_tie_key(c)),
    )
    #: What the budget still had when the completion came to each proposal, for the explanations.
    unspent_at_turn: dict[int, int] = {}
    if met:
        for candidate in greedy_order:
            unspent_at_turn[candidate.id] = left
            if candidate.amount_minor <= left:
                completion.append(candidate.id)
                left -= candidate.amount_minor
    funded_order = [*run.funded, *completion]
    rest = sorted(
        (c for c in candidates if c.id not in set(funded_order)), key=lambda c: (-support[c.id], *_tie_key(c))
    )
    outcomes = []
    for rank, pid in enumerate([*funded_order, *(c.id for c in rest)], start=1):
        candidate = by_id[pid]
        sups = supporters.get(pid, [])
        amount = format_minor(candidate.amount_minor, currency)
        paid = Fraction(0)
        funded_by = ""
        if not met:
            reason = f"no quorum: {voters} of {eligible_voters} circle members voted, {quorum_percent}% needed"
        elif pid in in_mes:
            funded_by, paid = "equal shares", sum(run.payments[pid], Fraction(0))
            reason = _funded_reason(run, pid, [u for _, u in sups], currency, unit)
        elif not sups:
            reason = "not funded: nobody supported it"
        else:
            # MES stops only when no proposal can be paid, so its supporters always had less than it needs.
            had = _money(sum((run.left[i] for i, _ in sups), Fraction(0)), currency, down=True)
            unspent = format_minor(unspent_at_turn[pid], currency)
            if pid in completion:
                funded_by = "completion"
                reason = (
                    f"funded in the completion: its supporters had {had} left of the {amount} it needs; going by "
                    f"most support, the completion paid it from the {unspent} of the budget still unspent"
                )
            else:
                reason = (
                    f"not funded: its supporters had {had} left of the {amount} it needs, and the {unspent} of the "
                    f"budget still unspent could not pay for it"
                )
        outcomes.append(
            SharesOutcome(
                pid, support[pid], len(sups), candidate.amount_minor, bool(funded_by), funded_by, paid, reason, rank
            )
        )
    funded_minor = sum(by_id[p].amount_minor for p in funded_order) if met else 0
    # Without quorum (or ballots) nothing ran: every share is untouched.
    left_by_ballot = tuple(run.left) if run.left else tuple(share for _ in range(voters))
    return SharesTally(
        voters, eligible_voters, quorum_percent, met, budget_minor, share, funded_minor, tuple(outcomes), left_by_ballot
    )


def approval_tally(
    ballots: Iterable[Collection[int]],
    candidates: Sequence[Candidate],
    *,
    budget_minor: int,
    currency: str,
    eligible_voters: int,
    quorum_percent: int,
    increment_minor: int | None | Step = Step.ONE_MAJOR_UNIT,
) -> SharesTally:
    """MES over approval ballots (cost utilities: supporters share a proposal's amount equally)."""
    return equal_shares(
        [dict.fromkeys(set(ballot), 1) for ballot in ballots],
        candidates,
        budget_minor=budget_minor,
        currency=currency,
        eligible_voters=eligible_voters,
        quorum_percent=quorum_percent,
        cost_utilities=True,
        unit="approval",
        increment_minor=increment_minor,
    )


def cardinal_tally(
    ballots: Iterable[Mapping[int, int]],
    candidates: Sequence[Candidate],
    *,
    budget_minor: int,
    currency: str,
    eligible_voters: int,
    quorum_percent: int,
    unit: str,
    increment_minor: int | None | Step = Step.ONE_MAJOR_UNIT,
) -> SharesTally:
    """MES over cumulative (unit "point") or quadratic (unit "vote") ballots; votes against count as no support."""
    return equal_shares(
        [{pid: max(count, 0) for pid, count in ballot.items()} for ballot in ballots],
        candidates,
        budget_minor=budget_minor,
        currency=currency,
        eligible_voters=eligible_voters,
        quorum_percent=quorum_percent,
        cost_utilities=False,
        unit=unit,
        increment_minor=increment_minor,
    )
