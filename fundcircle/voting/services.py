"""Use cases for voting (quadratic, approval and cumulative ballots): cast a ballot, decide the round by its
allocation rule, read the result.
Services check role and phase, write the ledger, flush, and never commit."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from flask_babel import gettext
from sqlalchemy import Integer, Select, String, bindparam, cast, delete, func, insert, literal, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from fundcircle.auth.models import ApiToken, User
from fundcircle.auth.services import note_token_use
from fundcircle.circles.models import Circle, Membership, MembershipRole
from fundcircle.circles.services import holders_of
from fundcircle.db import Base, UTCDateTime
from fundcircle.errors import Conflict, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.hooks import Hook
from fundcircle.i18n import lazy_gettext, moment_text, translated
from fundcircle.ledger.chain import canonical_json
from fundcircle.ledger.models import LedgerChain, LedgerEntry
from fundcircle.ledger.record import (
    ChainHead,
    NewEntry,
    PreparedEntry,
    append_entries,
    append_prepared,
    chain_head_columns,
    prepare_entry,
    rechain_on_locked_head,
    subject_type_of,
)
from fundcircle.ledger.signing import checkpoint_circle
from fundcircle.pagination import PageWindow, page_window
from fundcircle.phrases import N_
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.rounds.models import VOTING_METHODS, Round
from fundcircle.rounds.phases import COUNTING, PHASE_DEADLINES, effective_phase
from fundcircle.rounds.services import deciders
from fundcircle.rounds.words import phase_word
from fundcircle.unit_of_work import write
from fundcircle.voting import approval, cumulative, quadratic, rules
from fundcircle.voting.models import Ballot, BallotVote, ProposalResult, RoundTally
from fundcircle.voting.quadratic import BallotError, Candidate
from fundcircle.voting.replay import Replay, ReplayProject, replay


@dataclass(frozen=True)
class BallotLine:
    """A proposal on the ballot page."""

    proposal_id: int
    title: str
    summary: str
    amount_minor: int
    currency: str
    votes: int

    method: str = "quadratic"

    @property
    def cost(self) -> int:
        """What the line spends of the member's credits: n×n for n votes, n for n points, 1 for an approval."""
        return self.votes * self.votes if self.method == "quadratic" else self.votes


@dataclass(frozen=True)
class CandidateVersion:
    """A proposal's version as a decision reads it, as columns (no ORM object): what its result and its payout are
    made of."""

    proposal_id: int
    number: int
    title: str
    amount_minor: int
    currency: str
    payee_slug: str | None
    payee_name: str | None
    payee_email: str | None

    @classmethod
    def of(cls, version: ProposalVersion) -> CandidateVersion:
        return cls(version.proposal_id, version.number, version.title, version.amount_minor, version.currency,
                   version.payee_slug, version.payee_name, version.payee_email)  # fmt: skip


def candidate_versions(round_id: int) -> list[CandidateVersion]:
    """`candidates_of` as columns: the submitted proposals' current versions, in the order they were submitted."""
    rows = db.session.execute(
        _submitted_current_versions(
            round_id,
            ProposalVersion.proposal_id,
            ProposalVersion.number,
            ProposalVersion.title,
            ProposalVersion.amount_minor,
            ProposalVersion.currency,
            ProposalVersion.payee_slug,
            ProposalVersion.payee_name,
            ProposalVersion.payee_email,
        )
    )
    return [CandidateVersion(*row) for row in rows]


#: What the areas above do with a decided round's funded versions (payouts: one payout each), with
#: (actor, round, funded versions in the order of the result, now), in the deciding transaction.
round_funded: Hook[Callable[[User | None, Round, list[CandidateVersion], datetime], None]] = Hook(
    "after a round's result is stored"
)


def _submitted_current_versions(round_id: int, *columns: Any) -> Select[Any]:
    """`columns` of the round's submitted proposals joined to their current versions, in the order submitted."""
    return (
        select(*columns)
        .select_from(Proposal)
        .join(
            ProposalVersion,
            (ProposalVersion.proposal_id == Proposal.id) & (ProposalVersion.number == Proposal.current_version),
        )
        .where(Proposal.round_id == round_id, Proposal.status == "submitted")
        .order_by(Proposal.submitted_at, Proposal.id)
    )


def candidates_of(round_: Round) -> list[tuple[Proposal, ProposalVersion]]:
    """The submitted proposals of a round with their current versions, in the order they were submitted."""
    rows = db.session.execute(_submitted_current_versions(round_.id, Proposal, ProposalVersion)).all()
    return [(proposal, version) for proposal, version in rows]


def votes_of(user: User, round_: Round) -> dict[int, int]:
    rows = db.session.execute(
        select(BallotVote.proposal_id, BallotVote.votes)
        .join(Ballot, Ballot.id == BallotVote.ballot_id)
        .where(Ballot.round_id == round_.id, Ballot.user_id == user.id)
    )
    return {proposal_id: votes for proposal_id, votes in rows}


def ballot_of(user: User, round_: Round) -> Ballot | None:
    return db.session.scalar(select(Ballot).where(Ballot.round_id == round_.id, Ballot.user_id == user.id))


def ballot_lines(round_: Round, votes: dict[int, int]) -> list[BallotLine]:
    return [
        BallotLine(
            proposal.id,
            version.title,
            version.summary,
            version.amount_minor,
            version.currency,
            votes.get(proposal.id, 0),
            round_.method,
        )
        for proposal, version in candidates_of(round_)
    ]


def commitment(salt: str, votes: dict[int, int]) -> str:
    """The salted hash a secret ballot's ledger entry holds instead of the votes."""
    payload = canonical_json({str(proposal_id): count for proposal_id, count in sorted(votes.items())})
    return hashlib.sha256(salt.encode("ascii") + payload).hexdigest()


#: The most proposals one ballot may name. Rounds have tens of proposals; a ballot naming tens of thousands is not
#: a vote but a load (each id is checked in the database), so it is refused before any work.
MAX_BALLOT_ENTRIES = 1000
#: Lazy: said in the language of the request it refuses.
BALLOT_TOO_LONG = lazy_gettext("A ballot names at most %(most)s proposals.", most=MAX_BALLOT_ENTRIES)


@dataclass(frozen=True)
class BallotRound:
    """The columns of a round a ballot save reads, from the row locked FOR SHARE (`ballot_context`): what the save
    checks (phase and deadlines, under the lock; the credits, in the transaction) and what its answer names."""

    id: int
    circle_id: int
    phase: str
    method: str
    credits: int
    allow_negative: bool
    max_approvals: int | None
    secret_ballot: bool
    proposals_close_at: datetime | None
    deliberation_close_at: datetime | None
    deciding_close_at: datetime | None

    def phase_at(self, now: datetime) -> str:
        """As `Round.phase_at`."""
        return effective_phase(self.phase, {field: getattr(self, field) for field in PHASE_DEADLINES.values()}, now)

    def passed_deadline(self, phase: str, now: datetime) -> datetime | None:
        """As `Round.passed_deadline`."""
        field = PHASE_DEADLINES.get(phase)
        deadline: datetime | None = getattr(self, field) if field else None
        return deadline if deadline is not None and deadline <= now else None


_ROUNDS = Base.metadata.tables[Round.__tablename__]
_BALLOT_ROUND_COLUMNS = tuple(_ROUNDS.c[name] for name in BallotRound.__dataclass_fields__)


@dataclass(frozen=True)
class BallotContext:
    """What a ballot save reads, in one query (`ballot_context`): the voter, their roles in the round's circle (None
    when they are not a member), the round's columns (read under its lock), their ballot's id and revision if they
    have one, which of the proposals named are the round's submitted ones, and the circle's ledger head."""

    user: User
    roles: frozenset[str] | None
    round_: BallotRound
    ballot_id: int | None
    revision: int
    candidate_ids: set[int]
    head: ChainHead
    #: The API token the voter used, and when it was last noted (None: signed in with a session).
    token_id: int | None = None
    token_used_at: datetime | None = None


@cache
def _ballot_context_query(by_token: bool, with_candidates: bool) -> Select[Any]:
    """The one read of a ballot save, built once per shape with bind parameters (so its cache key is computed
    once): the voter by `token_hash` (the owner of a live API token) or by `user_id`, the round `round_id`, and,
    `with_candidates`, which of `proposal_ids` are its submitted proposals."""
    if by_token:
        voter = (
            select(User, ApiToken.id, ApiToken.last_used_at)
            .select_from(ApiToken)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None))
        )
    else:
        voter = (
            select(User, literal(None, Integer()), literal(None, UTCDateTime()))
            .select_from(User)
            .where(User.id == bindparam("user_id"))
        )
    member = (Membership.circle_id == Round.circle_id) & (Membership.user_id == User.id)
    # A member with no role has one row whose role is '', so NULL means "not a member".
    roles = (
        select(func.aggregate_strings(func.coalesce(MembershipRole.role, ""), ","))
        .select_from(Membership)
        .outerjoin(MembershipRole, MembershipRole.membership_id == Membership.id)
        .where(member)
        .scalar_subquery()
    )
    candidates: Any = (
        select(func.aggregate_strings(cast(Proposal.id, String), ","))
        .where(
            Proposal.round_id == Round.id,
            Proposal.status == "submitted",
            Proposal.id.in_(bindparam("proposal_ids", expanding=True)),
        )
        .scalar_subquery()
        if with_candidates
        else literal(None, String())
    )
    return (
        voter.add_columns(roles.label("roles"), candidates.label("candidates"), Ballot.id, Ballot.revision)
        .join(Round, Round.id == bindparam("round_id"))
        .join(LedgerChain, LedgerChain.circle_id == Round.circle_id)
        .outerjoin(Ballot, (Ballot.round_id == Round.id) & (Ballot.user_id == User.id))
        .add_columns(*chain_head_columns())
        .add_columns(*_BALLOT_ROUND_COLUMNS)
        # FOR SHARE: ballot saves of one round do not wait for each other, but the move to decided (which locks the
        # round FOR NO KEY UPDATE, fundcircle.db.lock) waits for every save under way, and a save that comes after
        # it waits for it and then reads the phase it stored. SQLite: BEGIN IMMEDIATE already holds the write lock.
        # The round is read as columns, not as a `Round` the identity map may already hold from before the lock.
        .with_for_update(read=True, of=Round)
    )


def ballot_context(
    round_id: int, proposal_ids: list[int], *, user_id: int | None = None, token_hash: str | None = None
) -> BallotContext | None:
    """Read everything a ballot save needs in one query, locking the round (see `_ballot_context_query`): for the
    user `user_id`, or the owner of the live API token whose SHA-256 is `token_hash`. None when there is no such
    round, no such user or token, or the circle has no ledger: the caller then answers as every other route does."""
    parameters: dict[str, Any] = {"round_id": round_id}
    if token_hash is not None:
        parameters["token_hash"] = token_hash
    else:
        parameters["user_id"] = user_id
    if proposal_ids:
        parameters["proposal_ids"] = proposal_ids
    query = _ballot_context_query(token_hash is not None, bool(proposal_ids))
    row = db.session.execute(query, parameters).first()
    if row is None:
        return None
    user, token_id, token_used_at, roles, candidates, ballot_id, revision = row[:7]
    chain_id, head_seq, head_hash, frontier = row[7:11]
    return BallotContext(
        user=user,
        roles=frozenset(role for role in roles.split(",") if role) if roles is not None else None,
        round_=BallotRound(*row[11:]),
        ballot_id=ballot_id,
        revision=revision or 0,
        candidate_ids={int(pid) for pid in candidates.split(",")} if candidates else set(),
        head=ChainHead(chain_id, head_seq, head_hash, frontier),
        token_id=token_id,
        token_used_at=token_used_at,
    )


def may_save(context: BallotContext) -> bool:
    """Whether the access policy of a ballot save (a member holding "circle", as `fundcircle.access.enforce`
    decides it) lets the user through, from what the save read: a round in draft is only its admins' to see."""
    roles = context.roles
    if roles is None or "circle" not in roles:
        return False
    return context.round_.phase != "draft" or "admin" in roles


@dataclass(frozen=True)
class SavedBallot:
    """A ballot as it was just written: the answer is built from it, with nothing read again."""

    round_id: int
    id: int
    revision: int
    credits_spent: int
    saved_at: datetime
    receipt: str
    votes: dict[int, int]


def cast_ballot(actor: User, round_: Round, votes: dict[int, int], now: datetime) -> SavedBallot:
    """A circle member saves their ballot, replacing any earlier one whole, while the round is deciding: from the
    deliberation deadline (or the admin's move) until the deciding deadline, whether or not `rounds tick` has
    stored the phase yet. See `save_ballot`, which this calls after reading what it needs in one query.

    :raises PermissionDenied: unless the actor is a circle member (role "circle").
    :raises Conflict: if the round is not a voting round that is deciding.
    :raises ValidationFailed: on `votes` the round's rules refuse, or more than MAX_BALLOT_ENTRIES of them.
    """
    if len(votes) > MAX_BALLOT_ENTRIES:
        raise ValidationFailed(str(BALLOT_TOO_LONG), field="votes")
    context = ballot_context(round_.id, [pid for pid, count in votes.items() if count != 0], user_id=actor.id)
    if context is None:
        raise PermissionDenied(gettext("Only the circle's members who decide can do this."))
    return save_ballot(context, votes, now)


def save_ballot(context: BallotContext, votes: dict[int, int], now: datetime) -> SavedBallot:
    """Save the ballot of `context.user` in `context.round_`, read (and locked) by `ballot_context` in this
    transaction: a handful of statements, the ledger's last.

    The round is locked by the read (FOR SHARE on PostgreSQL; SQLite's BEGIN IMMEDIATE locks everything), and the
    move to decided locks it too before counting: a ballot sent at the same moment as the decision is either stored
    before it (and counted) or refused after it. The ballot row is locked by its upsert before its votes are
    replaced, so two saves by one member at the same moment leave one of the two ballots, whole; its cost is checked
    in this same transaction. The ledger entry is computed on the head read without a lock and appended last, as a
    compare-and-set on the head (fundcircle.ledger.record.append_prepared), so the head is locked only for the last
    statement and the commit; if another append came first, the entry is chained again on the head read FOR UPDATE
    and appended by the same statement (the lock then taken one statement earlier, still only until the commit).

    `votes` maps proposal ids to votes (quadratic), points (cumulative), or 1 for an approval (approval); 0 is
    nothing. The stored cost is the credits spent, the points spent, or the number of approvals.

    :raises PermissionDenied: unless the user is a circle member (role "circle").
    :raises Conflict: if the round is not a voting round that is deciding ("voting closed at ..." after the
        deciding deadline).
    :raises ValidationFailed: on `votes` for a ballot the round's rules refuse (over the credits or points, or
        more approvals than allowed, saying by how much), or one that names more than MAX_BALLOT_ENTRIES proposals.
    """
    if len(votes) > MAX_BALLOT_ENTRIES:
        raise ValidationFailed(str(BALLOT_TOO_LONG), field="votes")
    round_ = context.round_
    if context.roles is None or "circle" not in context.roles:
        raise PermissionDenied(gettext("Only the circle's members who decide can do this."))
    if round_.method not in VOTING_METHODS:
        raise Conflict(gettext("This round decides by consent, not by voting."))
    phase = round_.phase_at(now)
    if phase == COUNTING and (closed := round_.passed_deadline("deciding", now)) is not None:
        raise Conflict(
            gettext(
                "Voting closed at %(closed)s; your ballot was not saved. The result will be published when it is "
                "counted.",
                # The circle's zone is read only here, on the way out: a save reads no more than it checks.
                closed=moment_text(
                    closed, db.session.scalar(select(Circle.time_zone).where(Circle.id == round_.circle_id))
                ),
            )
        )
    if phase != "deciding":
        raise Conflict(gettext("Voting is open while the round is deciding; it is %(phase)s.", phase=phase_word(phase)))
    votes = {proposal_id: count for proposal_id, count in votes.items() if count != 0}
    # Only the proposals on this ballot are checked: a save costs the same in a round of 10 or 10,000 proposals.
    try:
        cost = check_votes(round_, votes, context.candidate_ids & set(votes))
    except BallotError as error:
        raise ValidationFailed(
            gettext("Your ballot was not saved: %(why)s", why=translated(error)), field="votes"
        ) from None
    if context.token_id is not None:
        note_token_use(context.token_id, context.token_used_at, now)
    salt = secrets.token_hex(16) if round_.secret_ballot else None
    entry = _ballot_entry(context, votes, cost, salt, context.revision + 1, now)
    ballot_id, revision = _upsert_ballot(context, cost, salt, entry.hash, now)
    if revision != context.revision + 1:
        # Another first save of this member's came between the read and the upsert (PostgreSQL): record this one
        # as the revision it became.
        entry = _ballot_entry(context, votes, cost, salt, revision, now)
    if revision > 1:  # the ballot was there (if only since a concurrent first save): replace its votes
        write(_DELETE_VOTES, {"ballot_id": ballot_id})
    if votes:
        write(
            _INSERT_VOTES,
            [{"ballot_id": ballot_id, "proposal_id": pid, "votes": count} for pid, count in sorted(votes.items())],
        )
    receipt = {"receipt_ballot_id": ballot_id}
    # The upsert stored the receipt of the entry computed first; only an entry computed again needs it stored again.
    if not append_prepared(entry, also=_RECEIPT if revision != context.revision + 1 else None, also_parameters=receipt):
        # Another append came first (two writers in one circle: most saves, then). Chained on the head as it is
        # now, locked from here to COMMIT, the same append cannot fail again, and it costs two statements where the
        # ORM `record` took five.
        entry = rechain_on_locked_head(entry)
        if not append_prepared(entry, also=_RECEIPT, also_parameters=receipt):
            raise RuntimeError(f"the ledger head of chain {entry.head.chain_id} moved while locked")
    return SavedBallot(round_.id, ballot_id, revision, cost, now, entry.hash, votes)


_BALLOTS = Base.metadata.tables[Ballot.__tablename__]
_VOTES = Base.metadata.tables[BallotVote.__tablename__]
#: A save's statements on the tables, built once: the save runs them through `write`, not the ORM.
_DELETE_VOTES = delete(_VOTES).where(_VOTES.c.ballot_id == bindparam("ballot_id"))
_INSERT_VOTES = insert(_VOTES)
_UPSERT_VALUES = ("credits_spent", "saved_at", "salt", "receipt")
#: The ballot's receipt, set to the hash of its ledger entry, in the append (`append_prepared`'s `also`).
_RECEIPT = (
    update(_BALLOTS).where(_BALLOTS.c.id == bindparam("receipt_ballot_id")).values(receipt=bindparam("entry_hash"))
)


def _ballot_entry(
    context: BallotContext, votes: dict[int, int], cost: int, salt: str | None, revision: int, now: datetime
) -> PreparedEntry:
    data: dict[str, Any] = {"round": context.round_.id, "revision": revision, "credits_spent": cost}
    if salt is None:
        data["votes"] = {str(pid): count for pid, count in sorted(votes.items())}
    else:
        data["commitment"] = commitment(salt, votes)
    return prepare_entry(
        context.head, "ballot.cast", actor=context.user, circle_id=context.round_.circle_id, data=data, at=now
    )


def _upsert_ballot(context: BallotContext, cost: int, salt: str | None, receipt: str, now: datetime) -> tuple[int, int]:
    """Insert the member's ballot, or update it to the next revision: one statement that locks the row either way (a
    concurrent first save waits on the unique (round, member) index, then updates)."""
    parameters = {"round_id": context.round_.id, "user_id": context.user.id, "credits_spent": cost, "saved_at": now,
                  "salt": salt, "receipt": receipt}  # fmt: skip
    row = write(_ballot_upsert(db.session.get_bind().dialect.name), parameters).one()
    return row.id, row.revision


@cache
def _ballot_upsert(dialect: str) -> Any:
    """The ballot's upsert for `dialect`, built once with bind parameters."""
    upsert = postgresql_insert(_BALLOTS) if dialect == "postgresql" else sqlite_insert(_BALLOTS)
    values = {name: bindparam(name, type_=_BALLOTS.c[name].type) for name in _UPSERT_VALUES}
    return (
        upsert.values(round_id=bindparam("round_id"), user_id=bindparam("user_id"), revision=1, **values)
        .on_conflict_do_update(
            index_elements=[_BALLOTS.c.round_id, _BALLOTS.c.user_id],
            set_={"revision": _BALLOTS.c.revision + 1, **{name: upsert.excluded[name] for name in _UPSERT_VALUES}},
        )
        .returning(_BALLOTS.c.id, _BALLOTS.c.revision)
    )


def check_votes(round_: Round | BallotRound, votes: dict[int, int], proposal_ids: set[int]) -> int:
    """Check a whole ballot by the round's ballot type; return what it spends.

    :raises BallotError: for a ballot the ballot type's rules refuse.
    """
    if round_.method == "approval":
        if bad := sorted(pid for pid, value in votes.items() if value != 1):
            raise BallotError(
                N_("An approval is 1 (approve) or 0 (do not approve); proposal %(proposal)s was given %(given)s."),
                proposal=bad[0],
                given=votes[bad[0]],
            )
        return approval.check_ballot(list(votes), proposal_ids=proposal_ids, max_approvals=round_.max_approvals)
    if round_.method == "cumulative":
        return cumulative.check_ballot(votes, points_total=round_.credits, proposal_ids=proposal_ids)
    return quadratic.check_ballot(
        votes, credits=round_.credits, allow_negative=round_.allow_negative, proposal_ids=proposal_ids
    )


#: Why a ballot or answer is left out of a result: its voter no longer holds the "circle" role when it is decided.
NOT_A_MEMBER = "not a circle member when the round was decided"


def circle_members(circle_id: int) -> Select[tuple[int]]:
    """The user ids of the circle's members who decide (role "circle"), now: the people whose ballots and answers
    count, and the quorum's denominator, so that both are always the same set."""
    return holders_of(circle_id, "circle")


def turnout(round_: Round) -> tuple[int, int]:
    """(ballots of current circle members, circle members who may vote). A ballot of someone who left the circle
    counts in neither, so the turnout never exceeds 100 %."""
    members = circle_members(round_.circle_id)
    cast = (
        db.session.scalar(
            select(func.count()).select_from(Ballot).where(Ballot.round_id == round_.id, Ballot.user_id.in_(members))
        )
        or 0
    )
    eligible = db.session.scalar(select(func.count()).select_from(members.subquery())) or 0
    return cast, eligible


@deciders.provide("quadratic")
@deciders.provide("approval")
@deciders.provide("cumulative")
def decide_by_votes(actor: User | None, round_: Round, now: datetime) -> None:
    """Tally and allocate once, by the round's ballot type and allocation rule (fundcircle.voting.rules), store the
    result with the round, publish it in the ledger, and create the payouts of the funded proposals. Called in the
    transaction that moves the round to decided, under the round's lock that the phase change took (so no ballot
    is saved between the count and the result).

    Reads the candidates and the ballots as columns and writes in Core statements, never an ORM object per row, so
    that a decision takes the same number of statements for 5 proposals as for 5,000.

    :raises Conflict: if the round has a result already (the primary key on round_tallies makes sure of it).
    """
    if db.session.scalar(select(RoundTally.round_id).where(RoundTally.round_id == round_.id)) is not None:
        raise Conflict(gettext("This round has its result already; a result never changes."))
    candidates = candidate_versions(round_.id)
    members = set(db.session.scalars(circle_members(round_.circle_id)))
    ballots: dict[int, dict[int, int]] = {}
    left_out: set[int] = set()
    not_counted: list[dict[str, Any]] = []
    # Every ballot with its votes in one read (an empty ballot is a row with no vote: it is cast, and counts).
    for ballot_id, user_id, receipt, proposal_id, votes in db.session.execute(
        select(Ballot.id, Ballot.user_id, Ballot.receipt, BallotVote.proposal_id, BallotVote.votes)
        .outerjoin(BallotVote, BallotVote.ballot_id == Ballot.id)
        .where(Ballot.round_id == round_.id)
        .order_by(Ballot.id, BallotVote.proposal_id)
    ):
        if user_id in members:
            ballot = ballots.setdefault(ballot_id, {})
            if proposal_id is not None:
                ballot[proposal_id] = votes
        elif ballot_id not in left_out:
            left_out.add(ballot_id)
            # Named by receipt, so that the published result still adds up from the ledger's ballot entries.
            not_counted.append({"receipt": receipt, "reason": NOT_A_MEMBER})
    eligible = len(members)
    result = rules.decide(
        round_.method,
        round_.allocation_rule,
        list(ballots.values()),
        [Candidate(c.proposal_id, c.amount_minor, order) for order, c in enumerate(candidates)],
        budget_minor=round_.budget_minor,
        currency=round_.currency,
        eligible_voters=eligible,
        quorum_percent=round_.quorum_percent,
    )
    versions = {candidate.proposal_id: candidate for candidate in candidates}
    store_result(
        actor,
        round_,
        now,
        ballots_cast=result.ballots_cast,
        eligible_voters=eligible,
        quorum_met=result.quorum_met,
        funded_minor=result.funded_minor,
        outcomes=[StoredOutcome(versions[o.proposal_id], o.score, o.funded, o.reason, o.rank) for o in result.outcomes],
        not_counted=not_counted,
    )


@dataclass(frozen=True)
class StoredOutcome:
    version: CandidateVersion
    score: int
    funded: bool
    reason: str
    rank: int


# The tables, not the mapped classes: Core inserts, with none of the ORM's per-row bookkeeping.
_TALLIES = Base.metadata.tables[RoundTally.__tablename__]
_RESULTS = Base.metadata.tables[ProposalResult.__tablename__]


def store_result(
    actor: User | None,
    round_: Round,
    now: datetime,
    *,
    ballots_cast: int,
    eligible_voters: int,
    quorum_met: bool,
    funded_minor: int,
    outcomes: list[StoredOutcome],
    not_counted: list[dict[str, Any]] | None = None,
) -> None:
    """Publish a decided round's result in the ledger, store it with the round for good, and tell the areas above
    which versions are funded (payouts: a payout for each, awaiting approval). Shared by both decision methods.

    In Core statements, as many for thousands of proposals as for one: the result's ledger entry, the tally, one
    batched insert of the proposals' results, then the areas above (the payouts write theirs in bulk too).

    `not_counted` names the ballots (by receipt) or answers (by user) left out, and why: with them the published
    counts add up to what the ledger holds."""
    data = {
        "method": round_.method,
        **({"allocation_rule": round_.allocation_rule} if round_.method in VOTING_METHODS else {}),
        "ballots_cast": ballots_cast,
        "eligible_voters": eligible_voters,
        "quorum_percent": round_.quorum_percent,
        "quorum_met": quorum_met,
        "budget_minor": round_.budget_minor,
        "funded_minor": funded_minor,
        "currency": round_.currency,
        "not_counted": not_counted or [],
        "results": [
            {
                "proposal": o.version.proposal_id,
                "version": o.version.number,
                "score": o.score,
                "amount_minor": o.version.amount_minor,
                "funded": o.funded,
                "reason": o.reason,
            }
            for o in outcomes
        ],
    }
    [(seq, entry_hash)] = append_entries(
        [NewEntry("round.result_published", subject_type_of(round_), round_.id, data)],
        actor=actor,
        circle_id=round_.circle_id,
        at=now,
    )
    db.session.execute(
        insert(_TALLIES).values(
            round_id=round_.id,
            ballots_cast=ballots_cast,
            eligible_voters=eligible_voters,
            quorum_percent=round_.quorum_percent,
            quorum_met=quorum_met,
            budget_minor=round_.budget_minor,
            funded_minor=funded_minor,
            currency=round_.currency,
            decided_at=now,
            checkpoint_seq=seq,
            checkpoint_hash=entry_hash,
        )
    )
    if outcomes:
        db.session.execute(
            insert(_RESULTS),
            [
                {
                    "round_id": round_.id,
                    "proposal_id": o.version.proposal_id,
                    "version": o.version.number,
                    "title": o.version.title,
                    "score": o.score,
                    "amount_minor": o.version.amount_minor,
                    "funded": o.funded,
                    "reason": o.reason,
                    "rank": o.rank,
                }
                for o in outcomes
            ],
        )
    funded = [o.version for o in outcomes if o.funded]
    for receiver in round_funded.receivers():
        receiver(actor, round_, funded, now)
    # A signed checkpoint of the log that holds the result (and the payouts it created), for members to hold.
    checkpoint_circle(round_.circle_id, "result", now)


def not_counted_of(round_: Round) -> list[dict[str, Any]]:
    """What the published result left out, and why, as its ledger entry says (empty before the decision)."""
    data = db.session.scalar(
        select(LedgerEntry.data)
        .where(
            LedgerEntry.action == "round.result_published",
            LedgerEntry.subject_type == "round",
            LedgerEntry.subject_id == round_.id,
        )
        .order_by(LedgerEntry.seq.desc())
        .limit(1)
    )
    items = (data or {}).get("not_counted", [])
    return [item for item in items if isinstance(item, dict)]


def not_counted_receipts(round_: Round) -> set[str]:
    """The receipts of the ballots the published result left out (their voters had left the circle)."""
    return {item["receipt"] for item in not_counted_of(round_) if item.get("receipt")}


def result_of(round_: Round) -> tuple[RoundTally, list[ProposalResult]] | None:
    stored = db.session.get(RoundTally, round_.id)
    if stored is None:
        return None
    results = list(
        db.session.scalars(
            select(ProposalResult).where(ProposalResult.round_id == round_.id).order_by(ProposalResult.rank)
        )
    )
    return stored, results


@dataclass(frozen=True)
class FundedLine:
    """A funded proposal as the budget line draws it."""

    title: str
    amount_minor: int
    funded: bool = True


@dataclass(frozen=True)
class ResultPage:
    """One page of a published result: the table's rows of that page (by rank), the chart's `chart` highest-ranked
    rows, and every funded proposal for the budget line (which shows the whole budget whatever the page)."""

    tally: RoundTally
    window: PageWindow
    rows: list[ProposalResult]
    chart: list[ProposalResult]
    funded: list[FundedLine]


def result_page(round_: Round, *, page: int, per_page: int, chart_rows: int) -> ResultPage | None:
    """Page `page` of the round's published result, `per_page` rows a page (a page past the last gives the last
    page), or None before the result is published. The same five queries whatever the number of proposals: the
    table's page and the chart are read with LIMIT, and the budget line reads two columns of the funded rows.

    :raises ValueError: for `page` or `per_page` below 1.
    """
    stored = db.session.get(RoundTally, round_.id)
    if stored is None:
        return None
    of_round = ProposalResult.round_id == round_.id
    total = db.session.scalar(select(func.count()).select_from(ProposalResult).where(of_round)) or 0
    window = page_window(total, per_page, page)
    by_rank = select(ProposalResult).where(of_round).order_by(ProposalResult.rank)
    rows = list(db.session.scalars(by_rank.limit(per_page).offset(window.offset)))
    chart = list(db.session.scalars(by_rank.limit(chart_rows)))
    funded = [
        FundedLine(title, amount_minor)
        for title, amount_minor in db.session.execute(
            select(ProposalResult.title, ProposalResult.amount_minor)
            .where(of_round, ProposalResult.funded.is_(True))
            .order_by(ProposalResult.rank)
        )
    ]
    return ResultPage(tally=stored, window=window, rows=rows, chart=chart, funded=funded)


def result_titles(round_: Round, proposal_ids: set[int]) -> dict[int, str]:
    """The titles the published result gives `proposal_ids` (those it lists), in one query."""
    if not proposal_ids:
        return {}
    rows = db.session.execute(
        select(ProposalResult.proposal_id, ProposalResult.title).where(
            ProposalResult.round_id == round_.id, ProposalResult.proposal_id.in_(proposal_ids)
        )
    )
    return {proposal_id: title for proposal_id, title in rows}


def open_ballots(round_: Round, *, limit: int | None = None, offset: int = 0) -> list[tuple[str, dict[int, int]]]:
    """Who voted what, for a round whose ballots are open (never for a secret ballot), by the voters' names; `limit`
    ballots from `offset` when given, in a few queries whatever the number of ballots. Ballots the published
    result left out (their voters had left the circle) are not listed: the list adds up to the result."""
    if round_.secret_ballot:
        return []
    page = (
        select(Ballot.id)
        .join(User, User.id == Ballot.user_id)
        .where(Ballot.round_id == round_.id)
        .order_by(User.name, Ballot.id)
    )
    if not_counted := not_counted_receipts(round_):
        page = page.where(Ballot.receipt.not_in(not_counted))
    if limit is not None:
        page = page.limit(limit).offset(offset)
    ballot_ids = list(db.session.scalars(page))
    if not ballot_ids:
        return []
    rows = db.session.execute(
        select(User.name, Ballot.id, BallotVote.proposal_id, BallotVote.votes)
        .join(Ballot, Ballot.user_id == User.id)
        .outerjoin(BallotVote, BallotVote.ballot_id == Ballot.id)
        .where(Ballot.id.in_(ballot_ids))
        .order_by(User.name, Ballot.id, BallotVote.proposal_id)
    )
    ballots: dict[int, tuple[str, dict[int, int]]] = {}
    for name, ballot_id, proposal_id, votes in rows:
        entry = ballots.setdefault(ballot_id, (name, {}))
        if proposal_id is not None:
            entry[1][proposal_id] = votes
    return list(ballots.values())


def replay_of_round(round_: Round) -> Replay:
    """A decided voting round's counted ballots under every allocation rule: what each would have funded. Reads
    only: a replay funds nothing and is never a decision (fundcircle.voting.replay).

    :raises Conflict: for a consent round, or a round that is not decided yet.
    """
    if round_.method not in VOTING_METHODS:
        raise Conflict(gettext("This round decided by consent: it has no ballots to replay under another rule."))
    stored = result_of(round_)
    if stored is None:
        raise Conflict(gettext("The round is not decided yet; a replay shows a decided round under another rule."))
    tally, _ = stored
    rows = db.session.scalars(
        select(ProposalResult)
        .join(Proposal, Proposal.id == ProposalResult.proposal_id)
        .where(ProposalResult.round_id == round_.id)
        .order_by(Proposal.submitted_at, Proposal.id)
    ).all()
    projects = [ReplayProject(row.proposal_id, row.title, row.amount_minor) for row in rows]
    query = select(Ballot.id).where(Ballot.round_id == round_.id)
    if not_counted := not_counted_receipts(round_):
        query = query.where(Ballot.receipt.not_in(not_counted))
    ballots: dict[int, dict[int, int]] = {ballot_id: {} for ballot_id in db.session.scalars(query.order_by(Ballot.id))}
    for ballot_id, proposal_id, votes in db.session.execute(
        select(BallotVote.ballot_id, BallotVote.proposal_id, BallotVote.votes).where(
            BallotVote.ballot_id.in_(list(ballots))
        )
    ):
        ballots[ballot_id][proposal_id] = votes
    return replay(
        round_.title,
        round_.method,
        projects,
        list(ballots.values()),
        budget_minor=tally.budget_minor,
        currency=tally.currency,
    )
