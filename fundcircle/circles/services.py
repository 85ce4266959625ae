"""Use cases for circles, members, roles and invitations. Services flush and never commit."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from fundcircle.auth.models import User
from fundcircle.auth.services import create_user, find_user_by_email, normalise_email, sha256_hex
from fundcircle.circles.models import ROLES, Circle, Invitation, Membership, MembershipRole
from fundcircle.db import compare_and_set, lock
from fundcircle.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.record import create_chain, record
from fundcircle.money import MoneyError, check_currency

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def membership_of(user: User | None, circle: Circle) -> Membership | None:
    if user is None or not user.is_authenticated:
        return None
    return db.session.scalar(select(Membership).where(Membership.circle_id == circle.id, Membership.user_id == user.id))


def require_role(actor: User, circle: Circle, role: str) -> Membership:
    """:raises PermissionDenied: unless the actor holds `role` in the circle."""
    membership = membership_of(actor, circle)
    if membership is None or role not in membership.roles:
        raise PermissionDenied(f"Only a circle's {role}s can do this.")
    return membership


def check_roles(roles: Iterable[str], *, field: str = "roles", allow_empty: bool = False) -> list[str]:
    """Return the roles in their canonical order.

    :raises ValidationFailed: on `field` for an unknown role, or for none at all unless `allow_empty`.
    """
    given = list(roles)
    unknown = sorted(set(given) - set(ROLES))
    if unknown:
        raise ValidationFailed(f"Unknown role {', '.join(unknown)}; roles are {', '.join(ROLES)}.", field=field)
    if not given and not allow_empty:
        raise ValidationFailed("Choose at least one role.", field=field)
    return [role for role in ROLES if role in given]


@dataclass(frozen=True)
class CircleInput:
    name: str
    slug: str
    currency: str
    public: bool
    description: str = ""


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise ValidationFailed("Enter a name.", field="name")
    if len(name) > 80:
        raise ValidationFailed("Use at most 80 characters.", field="name")
    return name


def create_circle(actor: User, data: CircleInput) -> Circle:
    """A superuser creates a circle and becomes its admin (and a member); the circle gets its own ledger chain.

    :raises PermissionDenied: unless the actor is a superuser.
    :raises ValidationFailed: for a bad name, slug or currency.
    :raises Conflict: on `slug` if another circle has it.
    """
    if not actor.is_superuser:
        raise PermissionDenied("Only a site administrator (superuser) can create circles.")
    name = _check_name(data.name)
    slug = data.slug.strip().lower()
    if not SLUG_PATTERN.match(slug) or len(slug) > 60:
        raise ValidationFailed(
            "Use lower-case letters, digits and single hyphens (for example riverside-learning), at most 60.",
            field="slug",
        )
    try:
        currency = check_currency(data.currency)
    except MoneyError as error:
        raise ValidationFailed(str(error), field="currency") from None
    if len(data.description) > 5000:
        raise ValidationFailed("Use at most 5,000 characters.", field="description")
    if db.session.scalar(select(Circle.id).where(Circle.slug == slug)) is not None:
        raise Conflict("Another circle uses this address already.", field="slug")
    circle = Circle(
        name=name,
        slug=slug,
        currency=currency,
        public=data.public,
        description=data.description.strip(),
        created_by_id=actor.id,
    )
    try:
        # As for the check above, two circles created with one address at once: the unique slug decides, clearly.
        with db.session.begin_nested():
            db.session.add(circle)
    except IntegrityError:
        raise Conflict("Another circle uses this address already.", field="slug") from None
    create_chain(circle.id)
    record(
        "circle.created",
        actor=actor,
        circle_id=circle.id,
        subject=circle,
        data={"name": name, "slug": slug, "currency": currency, "public": data.public},
    )
    _add_membership(actor, circle, actor, ["member", "admin"])
    return circle


#: "Keep what is set" for an optional setting, as distinct from None (which clears it).
KEEP: Any = object()


def update_circle_settings(
    actor: User,
    circle: Circle,
    *,
    name: str,
    description: str,
    public: bool,
    approvals_required: int | None = None,
    two_approvals_from_minor: int | None = KEEP,
) -> Circle:
    """An admin changes the circle's name, description, visibility, or how many treasurer approvals a payout needs
    (and from which amount two). The currency never changes.

    :raises PermissionDenied: unless the actor is the circle's admin.
    :raises ValidationFailed: for a bad name, description or approval setting.
    """
    require_role(actor, circle, "admin")
    new: dict[str, Any] = {"name": _check_name(name), "description": description.strip(), "public": public}
    if len(new["description"]) > 5000:
        raise ValidationFailed("Use at most 5,000 characters.", field="description")
    if approvals_required is not None:
        if not 1 <= approvals_required <= 5:
            raise ValidationFailed("A payout needs between 1 and 5 treasurer approvals.", field="approvals_required")
        new["approvals_required"] = approvals_required
    if two_approvals_from_minor is not KEEP:
        if two_approvals_from_minor is not None and not 0 < two_approvals_from_minor <= 2**53:
            raise ValidationFailed("Give an amount above zero, or leave it empty.", field="two_approvals_from_minor")
        new["two_approvals_from_minor"] = two_approvals_from_minor
    changes = {
        field: {"from": getattr(circle, field), "to": value}
        for field, value in new.items()
        if getattr(circle, field) != value
    }
    if not changes:
        return circle
    for field, value in new.items():
        setattr(circle, field, value)
    record("circle.settings_changed", actor=actor, circle_id=circle.id, subject=circle, data={"changes": changes})
    return circle


def _add_membership(actor: User, circle: Circle, user: User, roles: list[str]) -> Membership:
    membership = Membership(circle_id=circle.id, user_id=user.id)
    membership.role_rows = [MembershipRole(role=role) for role in roles]
    db.session.add(membership)
    db.session.flush()
    record(
        "member.added",
        actor=actor,
        circle_id=circle.id,
        subject=membership,
        data={"user": user.id, "name": user.name, "roles": roles},
    )
    return membership


@dataclass(frozen=True)
class InviteOutcome:
    """Either the existing user was added (`membership`), or an invitation link was made (`invitation`, `token`)."""

    membership: Membership | None = None
    invitation: Invitation | None = None
    token: str | None = None


def invite_member(
    actor: User, circle: Circle, *, email: str, roles: Iterable[str], now: datetime, valid_days: int
) -> InviteOutcome:
    """An admin adds a person: an existing account joins at once; anybody else gets a one-time invitation link.

    :raises PermissionDenied: unless the actor is the circle's admin.
    :raises ValidationFailed: for a malformed address or bad roles.
    :raises Conflict: on `email` if that person is a member already.
    """
    # The circle's row first: of two admins adding the same person at once, the second sees the first's membership
    # (a clear "is a member already", not a unique violation).
    lock(circle)
    require_role(actor, circle, "admin")
    email = normalise_email(email)
    checked_roles = check_roles(roles)
    user = find_user_by_email(email)
    if user is not None:
        if membership_of(user, circle) is not None:
            raise Conflict(f"{user.name} is a member already: change their roles instead.", field="email")
        return InviteOutcome(membership=_add_membership(actor, circle, user, checked_roles))
    token = secrets.token_urlsafe(32)
    invitation = Invitation(
        circle_id=circle.id,
        email=email,
        roles=checked_roles,
        token_hash=sha256_hex(token),
        created_by_id=actor.id,
        created_at=now,
        expires_at=now + timedelta(days=valid_days),
    )
    db.session.add(invitation)
    # The address stays out of the circle's ledger, which a public circle shows to everyone.
    record(
        "invitation.created",
        actor=actor,
        circle_id=circle.id,
        subject=invitation,
        data={"roles": checked_roles, "expires_at": invitation.expires_at.isoformat()},
    )
    return InviteOutcome(invitation=invitation, token=token)


def _admin_count(circle: Circle) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(MembershipRole)
            .join(Membership, Membership.id == MembershipRole.membership_id)
            .where(Membership.circle_id == circle.id, MembershipRole.role == "admin")
        )
        or 0
    )


def _roles_now(circle: Circle, user_id: int) -> set[str]:
    """The person's roles as stored now: a fresh query, not a membership loaded earlier in the request."""
    return set(
        db.session.scalars(
            select(MembershipRole.role)
            .join(Membership, Membership.id == MembershipRole.membership_id)
            .where(Membership.circle_id == circle.id, Membership.user_id == user_id)
        )
    )


def set_member_roles(actor: User, circle: Circle, user_id: int, roles: Iterable[str]) -> Membership | None:
    """An admin sets another member's roles; no roles at all removes the person from the circle (returns None).
    Nobody changes their own roles (an admin cannot make themselves treasurer): another admin does.

    Every change of roles locks the circle's row first and then reads the roles again, so the count of admins stays
    true until the change is stored: two admins removing each other at the same moment leave one of them admin (the
    second finds they are no longer admin).

    :raises PermissionDenied: unless the actor is the circle's admin, or for the actor's own roles.
    :raises NotFound: if the user is not a member of this circle.
    :raises ValidationFailed: for an unknown role, or if this would leave the circle without an admin.
    """
    lock(circle)
    if "admin" not in _roles_now(circle, actor.id):
        raise PermissionDenied("Only a circle's admins can do this.")
    new_roles = check_roles(roles, allow_empty=True)
    membership = db.session.scalar(
        select(Membership)
        .where(Membership.circle_id == circle.id, Membership.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    if membership is None:
        raise NotFound("This person is not a member of the circle.")
    old_roles = check_roles(_roles_now(circle, user_id), allow_empty=True)
    if old_roles == new_roles:
        return membership
    if "admin" in old_roles and "admin" not in new_roles and _admin_count(circle) <= 1:
        raise ValidationFailed("A circle needs at least one admin: make somebody else admin first.", field="roles")
    if user_id == actor.id:
        # Roles are given by somebody else, so that no one alone makes themselves treasurer (and approves payouts)
        # or removes themselves from the record of who holds which role.
        raise PermissionDenied(
            "You cannot change your own roles: ask another admin of the circle to change them.", field="roles"
        )
    data = {"user": user_id, "name": membership.user.name, "from": old_roles, "to": new_roles}
    if not new_roles:
        db.session.delete(membership)
        record("member.removed", actor=actor, circle_id=circle.id, subject=membership, data=data)
        return None
    membership.role_rows = [MembershipRole(role=role) for role in new_roles]
    record("member.roles_changed", actor=actor, circle_id=circle.id, subject=membership, data=data)
    return membership


def list_members(circle: Circle) -> list[Membership]:
    return list(
        db.session.scalars(
            select(Membership)
            .join(User, User.id == Membership.user_id)
            .options(contains_eager(Membership.user))  # the names come along: no query per member
            .where(Membership.circle_id == circle.id)
            .order_by(func.lower(User.name), User.id)
        )
    )


def member_names(circle: Circle) -> list[tuple[int, str]]:
    """(user id, name) of every member, by name, in one query (no roles: for choosing a person in a filter)."""
    rows = db.session.execute(
        select(User.id, User.name)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.circle_id == circle.id)
        .order_by(func.lower(User.name), User.id)
    )
    return [(user_id, name) for user_id, name in rows]


def members_page(circle: Circle, *, after: int, limit: int) -> list[Membership]:
    """A keyset page of the circle's members in user id order."""
    return list(
        db.session.scalars(
            select(Membership)
            .where(Membership.circle_id == circle.id, Membership.user_id > after)
            .order_by(Membership.user_id)
            .limit(limit)
        )
    )


def find_invitation(token: str, now: datetime) -> Invitation:
    """:raises NotFound: if the link is unknown, used or expired (one message: the link no longer works)."""
    invitation = db.session.scalar(select(Invitation).where(Invitation.token_hash == sha256_hex(token)))
    if invitation is None or invitation.accepted_at is not None or invitation.expires_at <= now:
        raise NotFound(
            "This invitation link does not work any more: it was used, or it expired. "
            "Ask the circle's admin for a new one."
        )
    return invitation


def accept_invitation(
    token: str, *, user: User | None, now: datetime, name: str = "", password: str = ""
) -> tuple[User, Membership]:
    """Use an invitation once: sign up (when `user` is None) or join as the signed-in user, whose address must be
    the invited one. A person who is a member already gains the invited roles.

    :raises NotFound: if the link is unknown, used or expired.
    :raises PermissionDenied: if the signed-in user is not the invited address.
    :raises ValidationFailed: for a bad name or password on sign-up.
    :raises Conflict: if the link was used meanwhile, or an account with the address exists (log in instead).
    """
    invitation = find_invitation(token, now)
    if user is not None and user.email != invitation.email:
        raise PermissionDenied(f"This invitation is for {invitation.email}, and you are signed in as {user.email}.")
    compare_and_set(
        invitation,
        expected=Invitation.accepted_at.is_(None) & (Invitation.expires_at > now),
        values={"accepted_at": now},
        conflict=Conflict("This invitation was used a moment ago."),
    )
    # As every change of a circle's memberships does: one person accepting two invitations to the circle at once
    # gets one membership with both sets of roles, not a unique violation.
    circle = lock(invitation.circle)
    if user is None:
        if find_user_by_email(invitation.email) is not None:
            raise Conflict(
                "An account with this address exists: log in first, then open the link again.", field="email"
            )
        user = create_user(None, email=invitation.email, name=name, password=password, via="invitation")
    invitation.accepted_by_id = user.id
    membership = membership_of(user, circle)
    if membership is None:
        membership = Membership(circle_id=circle.id, user_id=user.id)
        membership.role_rows = [MembershipRole(role=role) for role in invitation.roles]
        db.session.add(membership)
        action = "member.joined"
        data = {
            "user": user.id,
            "name": user.name,
            "roles": list(invitation.roles),
            "invitation": invitation.id,
        }
    else:
        old_roles = membership.sorted_roles()
        merged = check_roles(set(old_roles) | set(invitation.roles))
        membership.role_rows = [MembershipRole(role=role) for role in merged]
        action = "member.roles_changed"
        data = {
            "user": user.id,
            "name": user.name,
            "from": old_roles,
            "to": merged,
            "invitation": invitation.id,
        }
    record(action, actor=user, circle_id=circle.id, subject=membership, data=data)
    return user, membership


def circles_of(user: User) -> list[tuple[Circle, Membership]]:
    rows = db.session.execute(
        select(Circle, Membership)
        .join(Membership, Membership.circle_id == Circle.id)
        .where(Membership.user_id == user.id)
        .order_by(func.lower(Circle.name))
    ).all()
    return [(circle, membership) for circle, membership in rows]


def public_circles() -> list[Circle]:
    return list(db.session.scalars(select(Circle).where(Circle.public.is_(True)).order_by(func.lower(Circle.name))))


def get_circle(circle_id: int) -> Circle:
    circle = db.session.get(Circle, circle_id)
    if circle is None:
        raise NotFound("There is no such circle.")
    return circle
