"""Use cases for circles, members, roles and invitations. Services flush and never commit."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext, ngettext
from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from fundcircle.auth.models import User
from fundcircle.auth.services import check_display_name, create_user, find_user_by_email, normalise_email, sha256_hex
from fundcircle.circles.models import ROLES, Circle, Invitation, Membership, MembershipRole
from fundcircle.db import compare_and_set, lock, utcnow
from fundcircle.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.hooks import Hook
from fundcircle.i18n import check_language, current_language, lazy_gettext, translated
from fundcircle.ledger.record import create_chain, record
from fundcircle.mail import external_url
from fundcircle.money import MoneyError, check_currency
from fundcircle.notices import queue_notices
from fundcircle.outbox import digest_headings
from fundcircle.phrases import N_, PhrasedError
from fundcircle.timezones import DEFAULT_TIME_ZONE, TimeZoneError, check_time_zone

#: The refusal for someone without the role: a whole sentence per role (the holders' word differs by language).
ROLE_REFUSALS = {
    "member": lazy_gettext("Only the circle's members can do this."),
    "circle": lazy_gettext("Only the circle's deciding members can do this."),
    "admin": lazy_gettext("Only the circle's admins can do this."),
    "treasurer": lazy_gettext("Only the circle's treasurers can do this."),
}

SLUG_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")

#: What the areas above do when a person stops being a circle member (loses the "circle" role, or leaves): consent
#: lapses their open objections. Called with (actor, circle, user id, now) in the same transaction.
circle_role_lost: Hook[Callable[[User | None, Circle, int, datetime], None]] = Hook("after someone leaves the circle")


def membership_of(user: User | None, circle: Circle) -> Membership | None:
    if user is None or not user.is_authenticated:
        return None
    return db.session.scalar(select(Membership).where(Membership.circle_id == circle.id, Membership.user_id == user.id))


def require_role(actor: User, circle: Circle, role: str) -> Membership:
    """:raises PermissionDenied: unless the actor holds `role` in the circle."""
    membership = membership_of(actor, circle)
    if membership is None or role not in membership.roles:
        refusal = ROLE_REFUSALS.get(role)
        raise PermissionDenied(
            str(refusal) if refusal is not None else gettext("Only the circle's %(role)ss can do this.", role=role)
        )
    return membership


def said(error: ValueError) -> str:
    """A pure rule's refusal in the reader's language (a rule not yet phrased says it in English)."""
    return translated(error) if isinstance(error, PhrasedError) else str(error)


def queue_notices_in_their_language(
    people: Iterable[User],
    circle: Circle,
    compose: Callable[[], tuple[str, str]],
    *,
    kind: str,
    url: str | None,
    round_id: int | None = None,
) -> None:
    """The same notice about `circle` to each of `people`, each in their own language and zone (fundcircle.notices
    writes it once per language and zone among them): `compose` gives (subject, body) in the language in force."""
    queue_notices(
        people,
        lambda: compose()[0],
        lambda: compose()[1],
        kind=kind,
        circle_id=circle.id,
        url=url,
        round_id=round_id,
    )


def check_roles(roles: Iterable[str], *, field: str = "roles", allow_empty: bool = False) -> list[str]:
    """Return the roles in their canonical order.

    :raises ValidationFailed: on `field` for an unknown role, or for none at all unless `allow_empty`.
    """
    given = list(roles)
    unknown = sorted(set(given) - set(ROLES))
    if unknown:
        raise ValidationFailed(
            gettext(
                "Unknown role %(unknown)s; roles are %(roles)s.", unknown=", ".join(unknown), roles=", ".join(ROLES)
            ),
            field=field,
        )
    if not given and not allow_empty:
        raise ValidationFailed(gettext("Choose at least one role."), field=field)
    return [role for role in ROLES if role in given]


@dataclass(frozen=True)
class CircleInput:
    name: str
    slug: str
    currency: str
    public: bool
    description: str = ""
    #: The IANA zone its deadlines are typed and shown in.
    time_zone: str = DEFAULT_TIME_ZONE
    #: Its default language (fundcircle.i18n.LANGUAGES); None: each person's own, or their browser's.
    language: str | None = None


def create_circle(actor: User, data: CircleInput) -> Circle:
    """A superuser creates a circle and becomes its admin (and a member); the circle gets its own ledger chain.

    :raises PermissionDenied: unless the actor is a superuser.
    :raises ValidationFailed: for a bad name, slug, currency, time zone or language.
    :raises Conflict: on `slug` if another circle has it.
    """
    if not actor.is_superuser:
        raise PermissionDenied(gettext("Only a site administrator (superuser) can create circles."))
    name = check_display_name(data.name)
    slug = data.slug.strip().lower()
    if not SLUG_PATTERN.match(slug) or len(slug) > 60:
        raise ValidationFailed(
            gettext("Use lower-case letters, digits and single hyphens (for example riverside-learning), at most 60."),
            field="slug",
        )
    try:
        currency = check_currency(data.currency)
    except MoneyError as error:
        raise ValidationFailed(said(error), field="currency") from None
    if len(data.description) > 5000:
        raise ValidationFailed(gettext("Use at most 5,000 characters."), field="description")
    try:
        time_zone = check_time_zone(data.time_zone)
    except TimeZoneError as error:
        raise ValidationFailed(said(error), field="time_zone") from None
    language = _checked_language(data.language)
    if db.session.scalar(select(Circle.id).where(Circle.slug == slug)) is not None:
        raise Conflict(gettext("Another circle uses this address already."), field="slug")
    circle = Circle(
        name=name,
        slug=slug,
        currency=currency,
        public=data.public,
        description=data.description.strip(),
        created_by_id=actor.id,
        time_zone=time_zone,
        language=language,
    )
    try:
        # As for the check above, two circles created with one address at once: the unique slug decides, clearly.
        with db.session.begin_nested():
            db.session.add(circle)
    except IntegrityError:
        raise Conflict(gettext("Another circle uses this address already."), field="slug") from None
    create_chain(circle.id)
    created: dict[str, Any] = {"name": name, "slug": slug, "currency": currency, "public": data.public}
    # Only what differs from a circle made before zones and languages, so that such entries read as they did.
    if time_zone != DEFAULT_TIME_ZONE:
        created["time_zone"] = time_zone
    if language is not None:
        created["language"] = language
    record("circle.created", actor=actor, circle_id=circle.id, subject=circle, data=created)
    _add_membership(actor, circle, actor, ["member", "admin"])
    return circle


#: "Keep what is set" for an optional setting, as distinct from None (which clears it).
KEEP: Any = object()


def _checked_language(code: str | None, field: str = "language") -> str | None:
    """A circle's default language: a code Fund Circle speaks, or None (an empty choice) for none.

    :raises ValidationFailed: on `field` for a language Fund Circle does not speak.
    """
    if code is None or not code.strip():
        return None
    try:
        return check_language(code.strip())
    except PhrasedError as error:
        raise ValidationFailed(translated(error), field=field) from None


def update_circle_settings(
    actor: User,
    circle: Circle,
    *,
    name: str,
    description: str,
    public: bool,
    approvals_required: int | None = None,
    two_approvals_from_minor: int | None = KEEP,
    time_zone: str | None = None,
    language: str | None = KEEP,
) -> Circle:
    """An admin changes the circle's name, description, visibility, time zone, default language (None: each
    person's own, or their browser's), or how many treasurer approvals a payout needs (and from which amount two).
    The currency never changes. A new time zone changes how deadlines are typed and shown, not the instants stored:
    a deadline keeps its moment in UTC.

    :raises PermissionDenied: unless the actor is the circle's admin.
    :raises ValidationFailed: for a bad name, description, time zone, language or approval setting.
    """
    require_role(actor, circle, "admin")
    new: dict[str, Any] = {"name": check_display_name(name), "description": description.strip(), "public": public}
    if len(new["description"]) > 5000:
        raise ValidationFailed(gettext("Use at most 5,000 characters."), field="description")
    if approvals_required is not None:
        if not 1 <= approvals_required <= 5:
            raise ValidationFailed(
                gettext("A payout needs between 1 and 5 treasurer approvals."), field="approvals_required"
            )
        new["approvals_required"] = approvals_required
    if two_approvals_from_minor is not KEEP:
        if two_approvals_from_minor is not None and not 0 < two_approvals_from_minor <= 2**53:
            raise ValidationFailed(
                gettext("Give an amount above zero, or leave it empty."), field="two_approvals_from_minor"
            )
        new["two_approvals_from_minor"] = two_approvals_from_minor
    if time_zone is not None:
        try:
            new["time_zone"] = check_time_zone(time_zone)
        except TimeZoneError as error:
            raise ValidationFailed(said(error), field="time_zone") from error
    if language is not KEEP:
        new["language"] = _checked_language(language)
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
    now = utcnow()
    membership = Membership(circle_id=circle.id, user_id=user.id, joined_at=now)
    membership.role_rows = [MembershipRole(role=role, granted_at=now) for role in roles]
    db.session.add(membership)
    db.session.flush()
    record(
        "member.added",
        actor=actor,
        circle_id=circle.id,
        subject=membership,
        data={"user": user.id, "name": user.name, "roles": roles},
    )
    if "treasurer" in roles:
        _treasurer_granted(actor, circle, membership, user, now)
    return membership


def _set_roles(membership: Membership, roles: Iterable[str], now: datetime) -> None:
    """Give the membership exactly `roles`, keeping when each kept role was granted (a treasurer stays as senior as
    they were) and stamping the new ones with `now`."""
    wanted = set(roles)
    kept = [row for row in membership.role_rows if row.role in wanted]
    held = {row.role for row in kept}
    added = [MembershipRole(role=role, granted_at=now) for role in ROLES if role in wanted and role not in held]
    membership.role_rows = kept + added


def _treasurer_granted(
    actor: User,
    circle: Circle,
    membership: Membership,
    user: User,
    now: datetime,
    *,
    invitation: Invitation | None = None,
) -> None:
    """Making someone treasurer lets them approve payouts: it gets a ledger entry of its own, and every treasurer
    and admin of the circle is told by e-mail (after the commit), so that a grant nobody expected is seen at once.
    With an `invitation`, the person granting is the admin who invited, and the actor the one who accepted.

    The new treasurer cannot be the only approver of a payout created before now (payouts/services.py)."""
    granted_by = db.session.get(User, invitation.created_by_id) if invitation is not None else actor
    data: dict[str, Any] = {"user": user.id, "name": user.name, "granted_at": now.isoformat()}
    if granted_by is not None:
        data["by"] = granted_by.id
    if invitation is not None:
        data["invitation"] = invitation.id
    record("member.treasurer_granted", actor=actor, circle_id=circle.id, subject=membership, data=data, at=now)
    db.session.flush()
    url = external_url("circles.members", circle_id=circle.id)

    def compose() -> tuple[str, str]:
        names = {"name": user.name, "circle": circle.name}
        if granted_by is None or granted_by.id == user.id:
            made = gettext(
                "%(name)s was made a treasurer of “%(circle)s” (by themselves), and can now approve payouts.", **names
            )
        elif invitation is not None:
            made = gettext(
                "%(name)s was made a treasurer of “%(circle)s” (by %(by)s, who invited them), and can now approve "
                "payouts.",
                by=granted_by.name,
                **names,
            )
        else:
            made = gettext(
                "%(name)s was made a treasurer of “%(circle)s” (by %(by)s), and can now approve payouts.",
                by=granted_by.name,
                **names,
            )
        body = (
            f"{made}\n\n"
            + gettext(
                "Payouts created before this moment still need an approval from a treasurer who held the role already."
            )
            + "\n"
            + gettext("If you did not expect this, check the circle's members and its ledger:")
            + f"\n\n{url}\n"
        )
        return gettext("%(name)s is now a treasurer of “%(circle)s”", **names), body

    queue_notices_in_their_language(
        people_holding(circle.id, "treasurer", "admin"), circle, compose, kind="member.treasurer_granted", url=url
    )


def holders_of(circle_id: int, *roles: str) -> Select[tuple[int]]:
    """The user ids of the circle's members who hold any of `roles` now (a subquery: each person once)."""
    return (
        select(Membership.user_id)
        .join(MembershipRole, MembershipRole.membership_id == Membership.id)
        .where(Membership.circle_id == circle_id, MembershipRole.role.in_(roles))
    )


def people_holding(circle_id: int, *roles: str) -> list[User]:
    """The circle's members who hold any of `roles` now, each once, by id: whom a notice to a role goes to."""
    return list(db.session.scalars(select(User).where(User.id.in_(holders_of(circle_id, *roles))).order_by(User.id)))


@dataclass(frozen=True)
class InviteOutcome:
    """The invitation made, and the token of its one-time link (for the e-mail, and for the admin to pass on)."""

    invitation: Invitation
    token: str


def invite_member(
    actor: User, circle: Circle, *, email: str, roles: Iterable[str], now: datetime, valid_days: int
) -> InviteOutcome:
    """An admin invites a person by address. Whether or not the address has an account, the answer is the same: an
    invitation that the person accepts or declines, so that the admin learns nothing about the address (not whether
    it has an account, nor the person's name) and nobody joins a circle without being asked.

    :raises PermissionDenied: unless the actor is the circle's admin.
    :raises ValidationFailed: for a malformed address or bad roles.
    :raises Conflict: on `email` if a member of this circle has that address (the admin sees its members anyway).
    """
    # The circle's row first: of two admins adding the same person at once, the second sees the first's membership
    # (a clear "is a member already", not a unique violation).
    lock(circle)
    require_role(actor, circle, "admin")
    email = normalise_email(email)
    checked_roles = check_roles(roles)
    user = find_user_by_email(email)
    if user is not None and membership_of(user, circle) is not None:
        raise Conflict(gettext("A member of this circle has this address: change their roles instead."), field="email")
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


def invitation_language(circle: Circle, email: str) -> str:
    """The language an invitation to `email` is written in: the invited person's own if they have an account and
    chose one, else the circle's, else the inviting admin's (the page's). The admin sees none of it."""
    invited = find_user_by_email(email)
    return (invited.language if invited is not None else None) or circle.language or current_language()


def invitation_mail(circle: Circle, inviter: User, link: str, valid_days: int) -> tuple[str, str]:
    """The subject and body of an invitation e-mail: the same for an address with an account and one without (in
    the language in force: see `invitation_language`)."""
    names = {"circle": circle.name}
    return (
        gettext("You are invited to %(circle)s on Fund Circle", **names),
        gettext("%(name)s invites you to %(circle)s.", name=inviter.name, **names)
        + "\n\n"
        + ngettext(
            "Open this link to accept or decline (it works once, for %(num)d day):",
            "Open this link to accept or decline (it works once, for %(num)d days):",
            valid_days,
        )
        + f"\n{link}\n\n"
        + gettext("If you have a Fund Circle account with this address, the invitation is also on your home page.")
        + "\n",
    )


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
        raise PermissionDenied(gettext("Only a circle's admins can do this."))
    new_roles = check_roles(roles, allow_empty=True)
    membership = db.session.scalar(
        select(Membership)
        .where(Membership.circle_id == circle.id, Membership.user_id == user_id)
        .execution_options(populate_existing=True)
    )
    if membership is None:
        raise NotFound(gettext("This person is not a member of the circle."))
    old_roles = check_roles(_roles_now(circle, user_id), allow_empty=True)
    if old_roles == new_roles:
        return membership
    if "admin" in old_roles and "admin" not in new_roles and _admin_count(circle) <= 1:
        raise ValidationFailed(
            gettext("A circle needs at least one admin: make somebody else admin first."), field="roles"
        )
    if user_id == actor.id:
        # Roles are given by somebody else, so that no one alone makes themselves treasurer (and approves payouts)
        # or removes themselves from the record of who holds which role.
        raise PermissionDenied(
            gettext("You cannot change your own roles: ask another admin of the circle to change them."), field="roles"
        )
    now = utcnow()
    data = {"user": user_id, "name": membership.user.name, "from": old_roles, "to": new_roles}
    left_circle = "circle" in old_roles and "circle" not in new_roles
    if not new_roles:
        db.session.delete(membership)
        record("member.removed", actor=actor, circle_id=circle.id, subject=membership, data=data, at=now)
        result: Membership | None = None
    else:
        _set_roles(membership, new_roles, now)
        if "treasurer" in new_roles and "treasurer" not in old_roles:
            _treasurer_granted(actor, circle, membership, membership.user, now)
        record("member.roles_changed", actor=actor, circle_id=circle.id, subject=membership, data=data, at=now)
        result = membership
    if left_circle:
        for receiver in circle_role_lost.receivers():
            receiver(actor, circle, user_id, now)
    return result


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


def _usable(now: datetime) -> Any:
    return Invitation.accepted_at.is_(None) & Invitation.declined_at.is_(None) & (Invitation.expires_at > now)


GONE = N_(
    "This invitation does not work any more: it was used, declined, or it expired. "
    "Ask the circle's admin for a new one."
)


def find_invitation(token: str, now: datetime) -> Invitation:
    """:raises NotFound: if the link is unknown, used, declined or expired (one message: the link no longer works)."""
    invitation = db.session.scalar(select(Invitation).where(Invitation.token_hash == sha256_hex(token), _usable(now)))
    if invitation is None:
        raise NotFound(gettext(GONE))
    return invitation


def pending_invitations_for(user: User, now: datetime) -> list[Invitation]:
    """The invitations waiting for the user's address, newest first, with their circles (for the home page)."""
    return list(
        db.session.scalars(
            select(Invitation)
            .join(Circle, Circle.id == Invitation.circle_id)
            .options(contains_eager(Invitation.circle))
            .where(Invitation.email == user.email, _usable(now))
            .order_by(Invitation.created_at.desc(), Invitation.id.desc())
        )
    )


def _own_invitation(user: User, invitation_id: int, now: datetime) -> Invitation:
    """:raises NotFound: unless the invitation is usable and for the user's address (another's gives no hint)."""
    invitation = db.session.get(Invitation, invitation_id)
    if invitation is None or invitation.email != user.email:
        raise NotFound(gettext(GONE))
    if invitation.accepted_at is not None or invitation.declined_at is not None or invitation.expires_at <= now:
        raise NotFound(gettext(GONE))
    return invitation


def _claim(invitation: Invitation, now: datetime, values: dict[str, Any]) -> None:
    compare_and_set(
        invitation,
        expected=_usable(now),
        values=values,
        conflict=Conflict(gettext("This invitation was answered a moment ago.")),
    )


def accept_invitation(
    token: str, *, user: User | None, now: datetime, name: str = "", password: str = ""
) -> tuple[User, Membership]:
    """Use an invitation once: sign up (when `user` is None) or join as the signed-in user, whose address must be
    the invited one. A person who is a member already gains the invited roles.

    :raises NotFound: if the link is unknown, used, declined or expired.
    :raises PermissionDenied: if the signed-in user is not the invited address.
    :raises ValidationFailed: for a bad name or password on sign-up.
    :raises Conflict: if the link was used meanwhile, or an account with the address exists (log in instead).
    """
    invitation = find_invitation(token, now)
    if user is not None and user.email != invitation.email:
        raise PermissionDenied(
            gettext(
                "This invitation is for %(invited)s, and you are signed in as %(email)s.",
                invited=invitation.email,
                email=user.email,
            )
        )
    _claim(invitation, now, {"accepted_at": now})
    if user is None:
        if find_user_by_email(invitation.email) is not None:
            raise Conflict(
                gettext("An account with this address exists: log in first, then open the link again."), field="email"
            )
        user = create_user(None, email=invitation.email, name=name, password=password, via="invitation")
    return user, _join(invitation, user, now)


def accept_invitation_by_id(user: User, invitation_id: int, now: datetime) -> Membership:
    """The signed-in user accepts an invitation made for their address (from their home page, no link needed).

    :raises NotFound: if there is no such usable invitation for the user's address.
    :raises Conflict: if it was answered at the same moment.
    """
    invitation = _own_invitation(user, invitation_id, now)
    _claim(invitation, now, {"accepted_at": now})
    return _join(invitation, user, now)


def decline_invitation(user: User, invitation_id: int, now: datetime) -> Invitation:
    """The signed-in user declines an invitation made for their address; the circle's ledger says so (without the
    address), and its link stops working.

    :raises NotFound: if there is no such usable invitation for the user's address.
    :raises Conflict: if it was answered at the same moment.
    """
    invitation = _own_invitation(user, invitation_id, now)
    _claim(invitation, now, {"declined_at": now})
    record("invitation.declined", actor=user, circle_id=invitation.circle_id, subject=invitation, data={}, at=now)
    return invitation


def _join(invitation: Invitation, user: User, now: datetime) -> Membership:
    # As every change of a circle's memberships does: one person accepting two invitations to the circle at once
    # gets one membership with both sets of roles, not a unique violation.
    circle = lock(invitation.circle)
    invitation.accepted_by_id = user.id
    return join_with_roles(
        circle,
        user,
        list(invitation.roles),
        now,
        actor=user,
        origin={"invitation": invitation.id},
        invitation=invitation,
    )


def join_with_roles(
    circle: Circle,
    user: User,
    roles: list[str],
    now: datetime,
    *,
    actor: User,
    origin: dict[str, Any],
    invitation: Invitation | None = None,
) -> Membership:
    """`user` joins the (locked) circle with `roles`, or gains them if a member already: the one way in, by an
    accepted invitation or an accepted request to join (circles/joining.py). `origin` names what let them in, in
    the ledger entry; `actor` is who acted (the person accepting an invitation, the admin accepting a request)."""
    membership = membership_of(user, circle)
    old_roles = membership.sorted_roles() if membership is not None else []
    if membership is None:
        membership = Membership(circle_id=circle.id, user_id=user.id, joined_at=now)
        membership.role_rows = [MembershipRole(role=role, granted_at=now) for role in roles]
        db.session.add(membership)
        action = "member.joined"
        data = {"user": user.id, "name": user.name, "roles": list(roles), **origin}
    else:
        merged = check_roles(set(old_roles) | set(roles))
        _set_roles(membership, merged, now)
        action = "member.roles_changed"
        data = {"user": user.id, "name": user.name, "from": old_roles, "to": merged, **origin}
    db.session.flush()
    if "treasurer" in roles and "treasurer" not in old_roles:
        # Before the entry that carries it, as for a roles change: the joining stays the member's last entry.
        _treasurer_granted(actor, circle, membership, user, now, invitation=invitation)
    record(action, actor=actor, circle_id=circle.id, subject=membership, data=data, at=now)
    return membership


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
        raise NotFound(gettext("There is no such circle."))
    return circle


@digest_headings.provide("circle")
def circle_names(circle_ids: set[int]) -> dict[int, str]:
    """Circles' names by id, for the headings of a notice digest."""
    rows = db.session.execute(select(Circle.id, Circle.name).where(Circle.id.in_(circle_ids)))
    return {row_id: text for row_id, text in rows}
