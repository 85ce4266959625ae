"""Every area's models, imported together so that the metadata (and so migrations) sees all tables."""

from fundcircle.auth.models import ApiToken, AuthSession, ThrottleEvent, User
from fundcircle.circles.models import Circle, Invitation, Membership, MembershipRole
from fundcircle.deliberation.models import Comment, ProposalFollow
from fundcircle.ledger.models import LedgerChain, LedgerEntry
from fundcircle.payouts.models import OpenCollectiveConnection, Payout, PayoutApproval
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.rounds.models import Round
from fundcircle.voting.models import (
    Ballot,
    BallotVote,
    ConsentAnswer,
    ConsentReaction,
    ConsentRound,
    ProposalResult,
    RoundTally,
)

__all__ = [
    "ApiToken", "AuthSession", "Circle", "Comment", "Invitation", "LedgerChain", "LedgerEntry", "Membership",
    "MembershipRole", "OpenCollectiveConnection", "Payout", "PayoutApproval", "Proposal", "ProposalFollow",
    "ProposalVersion", "Round", "ThrottleEvent", "User",
    "Ballot", "BallotVote", "ConsentAnswer", "ConsentReaction", "ConsentRound", "ProposalResult", "RoundTally",
]  # fmt: skip
