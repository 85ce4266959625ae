"""Who may use which route: every view declares a policy with `requires`, which also enforces it.

A test walks the app's URL map and fails for any route without a policy, then tries every route as every role.
Outsiders asking for a private circle's things get 404, so ids of other circles reveal nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, Literal, TypeVar, cast

from flask import abort, g
from flask_login import current_user

from fundcircle.circles.models import Circle, Membership
from fundcircle.circles.services import membership_of
from fundcircle.errors import is_api_request
from fundcircle.extensions import db, login_manager
from fundcircle.rounds.models import Round

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Policy:
    kind: Literal["public", "signed_in", "superuser", "circle"]
    #: For "circle": any one of these roles is enough; empty means any member of the circle.
    roles: frozenset[str] = frozenset()
    #: For "circle": visitors may also use the route when the circle is public.
    public_read: bool = False

    def describe(self) -> str:
        if self.kind != "circle":
            return self.kind
        who = " or ".join(sorted(self.roles)) if self.roles else "any member"
        return f"circle: {who}" + (" (or anyone, if public)" if self.public_read else "")


PUBLIC = Policy("public")
SIGNED_IN = Policy("signed_in")
SUPERUSER = Policy("superuser")


def circle_role(*roles: str, public_read: bool = False) -> Policy:
    return Policy("circle", frozenset(roles), public_read)


ANY_MEMBER = circle_role()

#: Routes registered by Flask and extensions rather than our views.
FRAMEWORK_ENDPOINTS: dict[str, Policy] = {"static": PUBLIC, "api-docs.openapi_json": PUBLIC}


def _circle_of_round(round_id: int) -> Circle | None:
    round_ = db.session.get(Round, round_id)
    return round_.circle if round_ is not None else None


def _circle_of(**view_args: Any) -> Circle | None:
    round_ = round_of(**view_args)
    return round_.circle if round_ is not None else None


def _circle_of_proposal(proposal_id: int) -> Circle | None:
    round_ = round_of(proposal_id=proposal_id)
    return round_.circle if round_ is not None else None


def _circle_of_comment(comment_id: int) -> Circle | None:
    round_ = round_of(comment_id=comment_id)
    return round_.circle if round_ is not None else None


def _circle_of_payout(payout_id: int) -> Circle | None:
    from fundcircle.payouts.models import Payout

    payout = db.session.get(Payout, payout_id)
    return db.session.get(Circle, payout.circle_id) if payout is not None else None


def round_of(**view_args: Any) -> Round | None:
    """The round a route acts in, from its URL arguments (round_id, proposal_id or comment_id), if any."""
    from fundcircle.deliberation.models import Comment
    from fundcircle.proposals.models import Proposal

    if "round_id" in view_args:
        return db.session.get(Round, view_args["round_id"])
    if "proposal_id" in view_args:
        proposal = db.session.get(Proposal, view_args["proposal_id"])
        return proposal.round if proposal is not None else None
    if "comment_id" in view_args:
        comment = db.session.get(Comment, view_args["comment_id"])
        return comment.proposal.round if comment is not None else None
    if "consent_round_id" in view_args:
        from fundcircle.voting.models import ConsentRound

        consent_round = db.session.get(ConsentRound, view_args["consent_round_id"])
        return db.session.get(Round, consent_round.round_id) if consent_round is not None else None
    return None


#: How to find the circle a route acts in, from its URL arguments, in order of preference.
CIRCLE_RESOLVERS: dict[str, Callable[[int], Circle | None]] = {
    "circle_id": lambda circle_id: db.session.get(Circle, circle_id),
    "round_id": _circle_of_round,
    "proposal_id": _circle_of_proposal,
    "comment_id": _circle_of_comment,
    "consent_round_id": lambda consent_round_id: _circle_of(consent_round_id=consent_round_id),
    "payout_id": lambda payout_id: _circle_of_payout(payout_id),
}


def _unauthenticated() -> Any:
    if is_api_request():
        abort(401)
    return login_manager.unauthorized()


def _resolve_circle(view_args: dict[str, Any]) -> Circle:
    for name, resolve in CIRCLE_RESOLVERS.items():
        if name in view_args:
            circle = resolve(view_args[name])
            if circle is None:
                abort(404)
            return circle
    raise LookupError(f"no circle can be found from the route's arguments {sorted(view_args)}")


def _hide_draft_rounds(view_args: dict[str, Any], membership: Membership | None) -> None:
    """A round in draft is its admins' work in progress: to everybody else it does not exist yet."""
    if "round_id" not in view_args:
        return
    round_ = db.session.get(Round, view_args["round_id"])
    if round_ is not None and round_.phase == "draft" and (membership is None or "admin" not in membership.roles):
        abort(404)


def enforce(policy: Policy, view_args: dict[str, Any]) -> Any:
    """Check the policy for the current user; return a response to send instead of the view's, or None."""
    if policy.kind == "public":
        return None
    if policy.kind == "circle":
        circle = _resolve_circle(view_args)
        membership = membership_of(current_user, circle)
        g.circle, g.membership = circle, membership
        if membership is None:
            if policy.public_read and circle.public:
                _hide_draft_rounds(view_args, None)
                return None
            if not current_user.is_authenticated:
                return _unauthenticated()
            abort(404)
        if policy.roles and not (policy.roles & membership.roles):
            abort(403)
        _hide_draft_rounds(view_args, membership)
        return None
    if not current_user.is_authenticated:
        return _unauthenticated()
    if policy.kind == "superuser" and not current_user.is_superuser:
        abort(403)
    return None


def requires(policy: Policy) -> Callable[[F], F]:
    """Declare and enforce who may use a view."""

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            refused = enforce(policy, kwargs)
            if refused is not None:
                return refused
            return view(*args, **kwargs)

        wrapper.access_policy = policy  # type: ignore[attr-defined]
        return cast(F, wrapper)

    return decorate


def current_membership() -> Membership | None:
    """The signed-in user's membership in the circle the current route acts in (set by `requires`)."""
    return cast(Membership | None, g.get("membership"))


def has_role(role: str) -> bool:
    membership = current_membership()
    return membership is not None and role in membership.roles
