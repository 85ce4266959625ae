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

from fundcircle.errors import is_api_request
from fundcircle.extensions import login_manager
from fundcircle.i18n import language_known

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Policy:
    kind: Literal["public", "signed_in", "superuser", "circle"]
    #: For "circle": any one of these roles is enough; empty means any member of the circle.
    roles: frozenset[str] = frozenset()
    #: For "circle": visitors may also use the route when the circle is public.
    public_read: bool = False
    #: With `public_read`: those outside a public circle must still be signed in (to ask to join it, or to read the
    #: comments on its reports: a person, not an anonymous visitor).
    sign_in_required: bool = False

    def describe(self) -> str:
        if self.kind != "circle":
            return self.kind
        who = " or ".join(sorted(self.roles)) if self.roles else "any member"
        if not self.public_read:
            return f"circle: {who}"
        outsiders = "anyone signed in" if self.sign_in_required else "anyone"
        return f"circle: {who} (or {outsiders}, if public)"


PUBLIC = Policy("public")
SIGNED_IN = Policy("signed_in")
SUPERUSER = Policy("superuser")


def circle_role(*roles: str, public_read: bool = False, sign_in_required: bool = False) -> Policy:
    return Policy("circle", frozenset(roles), public_read, sign_in_required)


ANY_MEMBER = circle_role()

#: Routes registered by Flask and extensions rather than our views.
FRAMEWORK_ENDPOINTS: dict[str, Policy] = {"static": PUBLIC, "api-docs.openapi_json": PUBLIC}


@dataclass(frozen=True)
class Place:
    """Where a route acts: the circle whose roles decide, and whether only its admins may see the thing (a round in
    draft is its admins' work in progress: to everybody else it does not exist yet)."""

    circle: Any
    admins_only: bool = False


#: How to find the place a route acts in from one of its URL arguments, in order of preference. Each area connects
#: the arguments it owns (circles: circle_id; rounds: round_id; ...); a finder answers None for an unknown id.
PLACE_FINDERS: dict[str, Callable[[int], Place | None]] = {}

#: The person's membership of a circle (connected by the circles area), or None.
_membership_lookup: list[Callable[[Any, Any], Any]] = []


def finds_place(argument: str) -> Callable[[Callable[[int], Place | None]], Callable[[int], Place | None]]:
    """Connect a finder for routes with `argument` in their URL (used by the area that owns the argument)."""

    def connect(finder: Callable[[int], Place | None]) -> Callable[[int], Place | None]:
        PLACE_FINDERS[argument] = finder
        return finder

    return connect


def looks_up_memberships(lookup: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """Connect the function that gives a person's membership of a circle (the circles area's)."""
    _membership_lookup[:] = [lookup]
    return lookup


def _unauthenticated() -> Any:
    if is_api_request():
        abort(401)
    return login_manager.unauthorized()


def _resolve_place(view_args: dict[str, Any]) -> Place:
    for name, find in PLACE_FINDERS.items():
        if name in view_args:
            place = find(view_args[name])
            if place is None:
                abort(404)
            return place
    raise LookupError(f"no circle can be found from the route's arguments {sorted(view_args)}")


def enforce(policy: Policy, view_args: dict[str, Any]) -> Any:
    """Check the policy for the current user; return a response to send instead of the view's, or None."""
    if policy.kind == "public":
        return None
    if policy.kind == "circle":
        place = _resolve_place(view_args)
        circle = place.circle
        membership = _membership_lookup[0](current_user, circle)
        g.circle, g.membership = circle, membership
        language_known()  # the circle's default language counts from here (fundcircle/i18n.py)
        if membership is None:
            if policy.public_read and circle.public:
                if place.admins_only:
                    abort(404)
                if policy.sign_in_required and not current_user.is_authenticated:
                    return _unauthenticated()
                return None
            if not current_user.is_authenticated:
                return _unauthenticated()
            abort(404)
        if policy.roles and not (policy.roles & membership.roles):
            abort(403)
        if place.admins_only and "admin" not in membership.roles:
            abort(404)
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


def current_membership() -> Any:
    """The signed-in user's membership (a `circles.models.Membership`) in the circle the current route acts in
    (set by `requires`), or None."""
    return g.get("membership")


def has_role(role: str) -> bool:
    membership = current_membership()
    return membership is not None and role in membership.roles
