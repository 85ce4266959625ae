"""Fuzz the JSON API from its own OpenAPI document with schemathesis (RELIABILITY.md test design 8, issue 7).

An app on its own SQLite file is seeded through tests/factories.py with a world in which every operation can reach
its handler: a private circle whose admin holds every role, with a plain member, a decider and a treasurer; a public
circle; a private circle of somebody else; quadratic rounds in every phase, drafts and submitted proposals, comments
with a question and its answer, ballots, decided rounds with results, a consent round open (with the admin's
objection) and one closed. Path parameters are mostly seeded ids (or ids just past what the databases store), now
and then the generated ones; some bodies and queries get realistic fields, so that success paths are reached too.

Each operation is fuzzed as the admin (a superuser too), as a plain member, and with no token, for EXAMPLES examples
each. Every response must: not be a 5xx; match the status codes, content types and schemas the document declares
(schemathesis' checks, `ignored_auth` and `negative_data_rejection` included); and succeed only where the caller may
(`only_the_right_people_succeed`, from PRODUCT.md "Interfaces" and "People and roles"). Without a token only
GET /api/v1/openapi.json and the reads of a public circle succeed.

The database file is put back as seeded before any example that follows a write, so examples are independent
(Hypothesis can replay a failure) and the file does not grow across examples.

Left out on purpose: the `positive_data_acceptance` check, because the API's schemas check types only and the
services refuse schema-valid content with 409 or 422 by design (fundcircle/proposals/schemas.py); and schemathesis'
examples and coverage phases, whose number of cases `max_examples` does not bound.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import flask_migrate
import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import CheckContext
from schemathesis.core.parameters import ParameterLocation
from schemathesis.specs.openapi.checks import positive_data_acceptance
from sqlalchemy import select

from fundcircle import create_app
from fundcircle.attachments.models import Attachment
from fundcircle.attachments.services import Upload, attach_file
from fundcircle.auth.models import ApiToken, User
from fundcircle.circles.joining import ask_to_join, set_accepts_join_requests
from fundcircle.circles.models import ROLES, JoinRequest
from fundcircle.circles.services import membership_of, set_member_roles
from fundcircle.consent.models import ConsentAnswer, ConsentRound
from fundcircle.consent.services import answer_consent, close_consent_round, open_consent_round
from fundcircle.db import utcnow
from fundcircle.deliberation.models import Comment
from fundcircle.deliberation.services import add_comment
from fundcircle.extensions import db
from fundcircle.payouts.models import Payout
from fundcircle.proposals.models import Proposal
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting.services import cast_ballot
from tests.conftest import test_config
from tests.factories import add_member, make_circle, make_proposal, make_round, make_token, make_user

API = "/api/v1"

#: Examples per operation and caller. With 41 operations x 3 callers that is about 2,500 requests: some 50 s on a
#: 2-core machine when every check passes (less while failures end operations early).
EXAMPLES = 20

FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # No explicit examples or coverage cases (unbounded by max_examples); replay saved failures first.
    phases=[Phase.reuse, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)

#: Who may use each operation: "signed_in", "superuser", "public_read" (members, or anyone if the circle is public),
#: "member" (any member of the circle), or the circle role needed. From PRODUCT.md "Interfaces"; an operation missing
#: here fails the test, so a new operation gets its row.
POLICY = {
    "GET /me": "signed_in",
    "POST /circles": "superuser",
    "GET /circles/{circle_id}": "public_read",
    "PATCH /circles/{circle_id}": "admin",
    "GET /circles/{circle_id}/members": "member",
    "POST /circles/{circle_id}/members": "admin",
    "PUT /circles/{circle_id}/members/{user_id}": "admin",
    "POST /circles/{circle_id}/rounds": "admin",
    "GET /rounds/{round_id}": "member",
    "PATCH /rounds/{round_id}": "admin",
    "POST /rounds/{round_id}/advance": "admin",
    "GET /rounds/{round_id}/retrospective": "member",
    "PUT /rounds/{round_id}/retrospective": "member",
    "GET /rounds/{round_id}/proposals": "member",
    "POST /rounds/{round_id}/proposals": "member",
    "GET /proposals/{proposal_id}": "member",
    "PATCH /proposals/{proposal_id}": "member",
    "POST /proposals/{proposal_id}/submit": "member",
    "POST /proposals/{proposal_id}/withdraw": "member",
    "GET /proposals/{proposal_id}/versions": "member",
    "GET /proposals/{proposal_id}/comments": "member",
    "POST /proposals/{proposal_id}/comments": "member",
    "PATCH /comments/{comment_id}": "member",
    "DELETE /comments/{comment_id}": "member",
    "POST /comments/{comment_id}/hide": "admin",
    "PUT /proposals/{proposal_id}/follow": "member",
    "GET /me/tokens": "signed_in",
    "POST /me/tokens": "signed_in",
    "DELETE /me/tokens/{token_id}": "signed_in",
    "PUT /me/notices": "signed_in",
    "GET /me/notifications": "signed_in",
    "POST /me/notifications/read": "signed_in",
    "GET /me/notice-preferences": "signed_in",
    "PUT /me/notice-preferences": "signed_in",
    "POST /invitations/{token}/accept": "signed_in",
    "GET /rounds/{round_id}/ballot": "circle",
    "PUT /rounds/{round_id}/ballot": "circle",
    "GET /rounds/{round_id}/results": "public_read",
    "GET /rounds/{round_id}/results.csv": "public_read",
    "GET /rounds/{round_id}/results.pb": "public_read",
    "GET /rounds/{round_id}/replay": "member",
    "GET /circles/{circle_id}/ledger": "public_read",
    "GET /circles/{circle_id}/ledger/checkpoint": "public_read",
    "GET /circles/{circle_id}/ledger/proof/inclusion": "public_read",
    "GET /circles/{circle_id}/ledger/proof/consistency": "public_read",
    "GET /ledger/verify": "signed_in",
    "POST /proposals/{proposal_id}/consent-rounds": "admin",
    "GET /consent-rounds/{consent_round_id}": "member",
    "PUT /consent-rounds/{consent_round_id}/answer": "circle",
    "POST /consent-rounds/{consent_round_id}/answer/withdraw-objection": "circle",
    "POST /consent-rounds/{consent_round_id}/close": "admin",
    "POST /consent-rounds/{consent_round_id}/reactions": "member",
    "GET /circles/{circle_id}/opencollective": "treasurer",
    "PUT /circles/{circle_id}/opencollective": "treasurer",
    "GET /circles/{circle_id}/rotation": "member",
    "POST /circles/{circle_id}/rotation/calls": "admin",
    "POST /circles/{circle_id}/rotation/volunteers": "member",
    "DELETE /circles/{circle_id}/rotation/volunteers/me": "member",
    "POST /circles/{circle_id}/rotation/draws": "admin",
    "GET /me/invitations": "signed_in",
    "POST /me/invitations/{invitation_id}/accept": "signed_in",
    "POST /me/invitations/{invitation_id}/decline": "signed_in",
    "PATCH /me/account": "signed_in",
    "PUT /me/password": "signed_in",
    "POST /me/email": "signed_in",
    "POST /email-changes/{email_token}": "signed_in",
    # Anyone: asking for a reset link (the same answer for every address) and using the token from the e-mail.
    "POST /password-resets": "anyone",
    "POST /password-resets/{reset_token}": "anyone",
    "POST /me/totp": "signed_in",
    "POST /me/totp/confirm": "signed_in",
    "GET /circles/{circle_id}/payouts": "treasurer",
    "GET /payouts/{payout_id}": "treasurer",
    "POST /payouts/{payout_id}/approve": "treasurer",
    # Several of the circle's payouts with one code: its treasurers alone, as for one.
    "POST /circles/{circle_id}/payouts/approvals": "treasurer",
    "POST /payouts/{payout_id}/cancel": "treasurer",
    "POST /payouts/{payout_id}/retry": "treasurer",
    # Joining by request: a signed-in person asks a circle they can see (a public one that takes requests); its
    # admins answer. A visitor is refused (401) although the policy lets them see a public circle.
    "PUT /circles/{circle_id}/join-settings": "admin",
    "GET /circles/{circle_id}/join-requests": "admin",
    "POST /circles/{circle_id}/join-requests": "public_read",
    "GET /circles/{circle_id}/join-requests/mine": "public_read",
    "POST /circles/{circle_id}/join-requests/mine/withdraw": "public_read",
    "POST /circles/{circle_id}/join-requests/{join_request_id}/accept": "admin",
    "POST /circles/{circle_id}/join-requests/{join_request_id}/decline": "admin",
    # Co-authors: any member who sees the proposal lists them and answers their own invitation (nobody here has
    # one, so accepting, declining and leaving succeed for no one); the author alone invites and takes back.
    "GET /proposals/{proposal_id}/coauthors": "member",
    "POST /proposals/{proposal_id}/coauthors": "member",
    "POST /proposals/{proposal_id}/coauthors/accept": "member",
    "POST /proposals/{proposal_id}/coauthors/decline": "member",
    "POST /proposals/{proposal_id}/coauthors/leave": "member",
    "DELETE /proposals/{proposal_id}/coauthors/{user_id}": "member",
    "POST /attachments/{owner_kind}/{owner_id}": "member",
    "GET /attachments/{owner_kind}/{owner_id}": "public_read",
    "GET /attachments/{attachment_id}/content": "public_read",
    "DELETE /attachments/{attachment_id}": "member",
    # Learning reports: a public circle's reports (and, for those signed in, their comments) are anyone's to read;
    # members see what a proposal owes and comment; its authors write (author only); the circle marks received.
    "GET /circles/{circle_id}/reports": "public_read",
    "GET /proposals/{proposal_id}/reports": "member",
    "PUT /proposals/{proposal_id}/reports/{kind}": "member",
    "GET /reports/{report_id}": "public_read",
    "POST /reports/{report_id}/received": "circle",
    "GET /reports/{report_id}/comments": "public_read",
    "POST /reports/{report_id}/comments": "member",
}
#: Operations only the proposal's author may use.
AUTHOR_ONLY = {
    "PATCH /proposals/{proposal_id}",
    "POST /proposals/{proposal_id}/submit",
    "POST /proposals/{proposal_id}/withdraw",
    "POST /proposals/{proposal_id}/coauthors",
    "DELETE /proposals/{proposal_id}/coauthors/{user_id}",
    "PUT /proposals/{proposal_id}/reports/{kind}",
}
#: Operations only the comment's author may use.
COMMENT_AUTHOR_ONLY = {"PATCH /comments/{comment_id}", "DELETE /comments/{comment_id}"}
#: Path parameters in the order that finds the circle a request acts in.
CIRCLE_KEYS = ("circle_id", "round_id", "proposal_id", "comment_id", "consent_round_id", "payout_id", "attachment_id")
#: Attachments name what they are on by kind and id: {owner_kind}/{owner_id} stands for {proposal_id} or {comment_id}.
OWNER_KINDS = {"proposal": "proposal_id", "comment": "comment_id"}
ANONYMOUS = "anonymous"
#: Consent positions of both rule sets.
POSITIONS = ("consent", "concern", "objection", "agree", "stand_aside", "block")


@dataclass
class World:
    tokens: dict[str, str]
    user_ids: dict[str, int]
    superusers: set[str]
    #: caller -> circle id -> roles there
    roles: dict[str, dict[int, frozenset[str]]]
    public_circles: set[int]
    #: path parameter name -> seeded id -> the circle it belongs to
    circle_of: dict[str, dict[int, int]]
    #: path parameter name -> ids to draw from
    pools: dict[str, list[int]]
    authors: dict[int, int]
    drafts: set[int]
    emails: list[str]
    comment_authors: dict[int, int]
    token_owners: dict[int, int]
    #: (consent round id, user id) with an open objection
    objections: set[tuple[int, int]] = field(default_factory=set)
    #: attachment id -> the user who attached it
    uploaders: dict[int, int] = field(default_factory=dict)

    def circle_for(self, path_parameters: dict[str, Any]) -> int | None:
        for key in CIRCLE_KEYS:
            if key in path_parameters:
                value = path_parameters[key]
                if not isinstance(value, int) or isinstance(value, bool):
                    return None
                return self.circle_of[key].get(value)
        return None

    def refusal(self, caller: str, operation: str, path_parameters: dict[str, Any]) -> str | None:
        """Why `caller` must not succeed at this request, or None if they may."""
        rule = POLICY[operation]
        kind = path_parameters.get("owner_kind")
        if "owner_id" in path_parameters:
            if kind not in OWNER_KINDS:
                return f"nothing of the kind {kind!r} takes attachments"
            path_parameters = {**path_parameters, OWNER_KINDS[kind]: path_parameters["owner_id"]}
        user_id = self.user_ids.get(caller)
        if rule == "anyone":
            return None
        if rule == "signed_in":
            if user_id is None:
                return "it needs a signed-in user"
        elif rule == "superuser":
            if caller not in self.superusers:
                return "only superusers may"
        else:
            circle_id = self.circle_for(path_parameters)
            if circle_id is None:
                return f"the path {path_parameters} names nothing that exists"
            roles = self.roles.get(caller, {}).get(circle_id, frozenset())
            if rule == "public_read":
                allowed = bool(roles) or circle_id in self.public_circles
            elif rule == "member":
                allowed = bool(roles)
            else:
                allowed = rule in roles
            if not allowed:
                held = ", ".join(sorted(roles)) or "no role"
                return f"{caller} holds {held} in circle {circle_id}, and the operation needs {rule}"
        proposal_id = path_parameters.get("proposal_id")
        if proposal_id in self.drafts and self.authors[proposal_id] != user_id:
            return f"proposal {proposal_id} is a draft of user {self.authors[proposal_id]}, visible to them alone"
        if operation in AUTHOR_ONLY and self.authors.get(proposal_id) != user_id:
            return f"only the author (user {self.authors.get(proposal_id)}) may"
        comment_id = path_parameters.get("comment_id")
        if operation in COMMENT_AUTHOR_ONLY and self.comment_authors.get(comment_id) != user_id:
            return f"only the comment's author (user {self.comment_authors.get(comment_id)}) may"
        if operation == "POST /attachments/{owner_kind}/{owner_id}":
            owner_id = path_parameters["owner_id"]
            author = (self.authors if kind == "proposal" else self.comment_authors).get(owner_id)
            if author != user_id:
                return f"only the author of the {kind} (user {author}) may attach files to it"
        attachment_id = path_parameters.get("attachment_id")
        if operation == "DELETE /attachments/{attachment_id}":
            circle_roles = self.roles.get(caller, {}).get(self.circle_of["attachment_id"].get(attachment_id, -1), set())
            if self.uploaders.get(attachment_id) != user_id and "admin" not in circle_roles:
                return f"only the uploader (user {self.uploaders.get(attachment_id)}) or an admin may remove it"
        token_id = path_parameters.get("token_id")
        if "token_id" in path_parameters and self.token_owners.get(token_id) != user_id:
            return f"token {token_id} is not {caller}'s (it is user {self.token_owners.get(token_id)}'s)"
        if operation.endswith("/withdraw-objection"):
            if (path_parameters["consent_round_id"], user_id) not in self.objections:
                return f"{caller} has no open objection in this consent round"
        return None


# --- the world ------------------------------------------------------------------------------------------------


def _advance(admin: User, round_: Round, *phases: str) -> Round:
    for phase in phases:
        round_ = db.session.get(Round, round_.id)
        advance_round(admin, round_, phase, utcnow())
        db.session.commit()
    return db.session.get(Round, round_.id)


def _seed() -> World:
    """The world, through the services; call inside an app context."""
    now = utcnow()
    admin = make_user(name="Ada Admin", superuser=True)
    member = make_user(name="Mo Member")
    decider = make_user(name="Dee Decider")
    treasurer = make_user(name="Tess Treasurer")
    stranger = make_user(name="Stan Stranger")

    # Nobody gives themselves roles: a founding admin gives Ada hers, then leaves the circle to her.
    founder = make_user(name="Fay Founder")
    home = make_circle(founder, name="Home", slug="home")
    add_member(home, admin, ["member", "circle", "treasurer", "admin"], by=founder)
    set_member_roles(admin, home, founder.id, [])
    db.session.commit()
    add_member(home, member, ["member"], by=admin)
    add_member(home, decider, ["member", "circle"], by=admin)
    add_member(home, treasurer, ["member", "treasurer"], by=admin)
    public = make_circle(admin, name="Open", slug="open", public=True)
    add_member(public, member, ["member"], by=admin)
    add_member(public, decider, ["member", "circle"], by=admin)
    elsewhere = make_circle(stranger, name="Elsewhere", slug="elsewhere")
    add_member(elsewhere, decider, ["member", "circle"], by=stranger)

    # Home, quadratic: a round in every phase.
    make_round(home, admin, title="Draft round")
    open_round = _advance(admin, make_round(home, admin, title="Open for proposals"), "proposals")
    make_proposal(open_round, member, submit=False, title="Member's draft")
    make_proposal(
        open_round, member, title="Member's proposal", payee_slug=None, payee_name="Mo", payee_email="mo@example.org"
    )
    make_proposal(open_round, admin, submit=False, title="Admin's draft")
    make_proposal(open_round, decider, title="Decider's proposal")

    talking = _advance(admin, make_round(home, admin, title="Deliberation"), "proposals")
    asked = make_proposal(talking, member, title="Repair café")
    other = make_proposal(talking, decider, title="Tool shed")
    talking = _advance(admin, talking, "deliberation")
    question = add_comment(decider, asked, "How many **repairs** a month?", parent_id=None, question=True, now=now)
    db.session.commit()
    add_comment(member, asked, "About forty.", parent_id=question.id, question=False, now=now)
    add_comment(admin, other, "Looks good.", parent_id=None, question=False, now=now)
    db.session.commit()

    voting = _advance(admin, make_round(home, admin, title="Deciding"), "proposals")
    first = make_proposal(voting, member, title="Bike repair")
    second = make_proposal(voting, decider, title="Seed swap")
    voting = _advance(admin, voting, "deliberation", "deciding")
    cast_ballot(decider, voting, {first.id: 3, second.id: 2}, now)
    cast_ballot(admin, voting, {first.id: 1}, now)
    db.session.commit()

    decided = _advance(admin, make_round(home, admin, title="Decided"), "proposals")
    winner = make_proposal(decided, member, title="Community fridge")
    decided = _advance(admin, decided, "deliberation", "deciding")
    cast_ballot(decider, decided, {winner.id: 5}, now)
    db.session.commit()
    _advance(admin, decided, "decided")
    _advance(admin, make_round(home, admin, title="Cancelled"), "proposals", "cancelled")

    # Home, consent: one consent round open with the admin's objection, one closed, one proposal without any.
    consent = make_round(home, admin, title="Consent", method="consent")
    consent = _advance(admin, consent, "proposals")
    objected = make_proposal(consent, member, title="Mural")
    consented = make_proposal(consent, decider, title="Benches", amount_minor=10_000)
    make_proposal(consent, admin, title="Planters", amount_minor=5_000)
    consent = _advance(admin, consent, "deliberation", "deciding")
    open_one = open_consent_round(admin, db.session.get(Proposal, objected.id), now)
    db.session.flush()
    answer_consent(admin, open_one, "objection", "The wall belongs to the council.", now)
    answer_consent(decider, open_one, "consent", "", now)
    closed_one = open_consent_round(admin, db.session.get(Proposal, consented.id), now)
    db.session.flush()
    answer_consent(decider, closed_one, "consent", "", now)
    close_consent_round(admin, closed_one, now)
    db.session.commit()

    # The public circle: a decided round and one open for proposals.
    shown = _advance(admin, make_round(public, admin, title="Public decided"), "proposals")
    funded = make_proposal(shown, member, title="Street library")
    shown = _advance(admin, shown, "deliberation", "deciding")
    cast_ballot(decider, shown, {funded.id: 4}, now)
    db.session.commit()
    _advance(admin, shown, "decided")
    public_open = _advance(admin, make_round(public, admin, title="Public open"), "proposals")
    make_proposal(public_open, member, title="Bird boxes")

    # The public circle takes requests to join, and one from the stranger waits for its admin's answer.
    set_accepts_join_requests(admin, public, True)
    ask_to_join(stranger, public, "I live nearby.", now)
    db.session.commit()

    # Somebody else's private circle, which the admin and the member are not in.
    theirs = _advance(stranger, make_round(elsewhere, stranger, title="Theirs"), "proposals")
    their_proposal = make_proposal(theirs, stranger, title="Their garden")
    _advance(stranger, theirs, "deliberation")
    add_comment(stranger, their_proposal, "Private talk.", parent_id=None, question=False, now=now)
    db.session.commit()
    # Files: the member's on their proposal, the decider's on a question, the stranger's in their own circle.
    attach_file(member, "proposal", asked.id, Upload("quote.pdf", b"%PDF-1.4\n"), now=now)
    attach_file(decider, "comment", question.id, Upload("notes.txt", b"Forty repairs.\n"), now=now)
    attach_file(stranger, "proposal", their_proposal.id, Upload("plan.txt", b"A plan.\n"), now=now)
    db.session.commit()
    their_consent = make_round(elsewhere, stranger, title="Their consent", method="consent")
    their_consent = _advance(stranger, their_consent, "proposals")
    their_consent_proposal = make_proposal(their_consent, stranger, title="Their shed")
    _advance(stranger, their_consent, "deliberation", "deciding")
    open_consent_round(stranger, db.session.get(Proposal, their_consent_proposal.id), now)
    db.session.commit()

    callers = {"admin": admin, "member": member}
    circles = {home.id, public.id, elsewhere.id}
    roles: dict[str, dict[int, frozenset[str]]] = {}
    for name, user in callers.items():
        roles[name] = {}
        for circle in (home, public, elsewhere):
            membership = membership_of(user, circle)
            if membership is not None:
                roles[name][circle.id] = membership.roles

    rounds = {r.id: r.circle_id for r in db.session.scalars(select(Round))}
    proposals = list(db.session.scalars(select(Proposal)))
    consent_rounds = {c.id: rounds[c.round_id] for c in db.session.scalars(select(ConsentRound))}
    circle_of_proposal = {p.id: rounds[p.round_id] for p in proposals}
    objections = {
        (a.consent_round_id, a.user_id)
        for a in db.session.scalars(select(ConsentAnswer))
        if a.position in ("objection", "block") and a.withdrawn_at is None
    }
    users = list(db.session.scalars(select(User)))
    tokens = {name: make_token(user, "fuzz") for name, user in callers.items()}
    make_token(admin, "spare")
    make_token(stranger, "theirs")
    comments = list(db.session.scalars(select(Comment)))
    token_owners = {token.id: token.user_id for token in db.session.scalars(select(ApiToken))}
    payouts = {payout.id: payout.circle_id for payout in db.session.scalars(select(Payout))}
    attachments = list(db.session.scalars(select(Attachment)))
    assert payouts, "the decided rounds fund something, so there are payouts to try"
    return World(
        tokens=tokens,
        user_ids={name: user.id for name, user in callers.items()},
        superusers={"admin"},
        roles=roles,
        public_circles={public.id},
        circle_of={
            "circle_id": {circle_id: circle_id for circle_id in circles},
            "round_id": rounds,
            "proposal_id": circle_of_proposal,
            "comment_id": {c.id: circle_of_proposal[c.proposal_id] for c in comments},
            "consent_round_id": consent_rounds,
            "payout_id": payouts,
            "attachment_id": {a.id: a.circle_id for a in attachments},
        },
        pools={
            "circle_id": sorted(circles),
            "round_id": sorted(rounds),
            "proposal_id": sorted(p.id for p in proposals),
            "consent_round_id": sorted(consent_rounds),
            "user_id": sorted(user.id for user in users),
            "comment_id": sorted(c.id for c in comments),
            "token_id": sorted(token_owners),
            "payout_id": sorted(payouts),
            "join_request_id": sorted(db.session.scalars(select(JoinRequest.id))),
            "attachment_id": sorted(a.id for a in attachments),
            "owner_id": sorted({*(p.id for p in proposals), *(c.id for c in comments)}),
            "owner_kind": sorted(OWNER_KINDS),
        },
        authors={p.id: p.author_id for p in proposals},
        drafts={p.id for p in proposals if p.status == "draft"},
        emails=sorted(user.email for user in users),
        comment_authors={c.id: c.author_id for c in comments},
        token_owners=token_owners,
        objections=objections,
        uploaders={a.id: a.uploaded_by_id for a in attachments},
    )


@dataclass
class Fuzzed:
    app: Flask
    world: World
    restore: Callable[[], None]


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fuzzed]:
    """The app on a seeded SQLite file, and a way to put the file back as seeded."""
    folder = tmp_path_factory.mktemp("fuzz")
    live, seeded = folder / "fuzz.sqlite", folder / "seeded.sqlite"
    # Open Collective never answers here (closed ports, unresolvable names): fail fast rather than wait.
    app = create_app(
        test_config(
            f"sqlite:///{live}",
            OPENCOLLECTIVE_CONNECT_TIMEOUT=0.5,
            OPENCOLLECTIVE_READ_TIMEOUT=0.5,
            OPENCOLLECTIVE_READ_BACKOFF_SECONDS=0.01,
        )
    )
    with app.app_context():
        flask_migrate.upgrade()
        world = _seed()
        db.session.remove()
        db.engine.dispose()
    shutil.copyfile(live, seeded)

    def restore() -> None:
        with app.app_context():
            db.engine.dispose()
        for suffix in ("-wal", "-shm"):
            Path(f"{live}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(seeded, live)

    yield Fuzzed(app, world, restore)
    with app.app_context():
        db.engine.dispose()


#: Ids just past what the databases store: PostgreSQL's `integer` ends at 2**31 - 1, SQLite's at 2**63 - 1. A
#: request naming one must get a 404 or a 422, like any id that does not exist.
BOUNDARY_IDS = [2**31, 2**63]
#: What str.isdigit accepts beyond ASCII: superscripts, subscripts and circled digits ("²", "₀", "③"), which int()
#: refuses, and the decimal digits of other scripts ("١", "৪"), which int() reads.
_DIGITS = [chr(code) for code in range(0x80, 0x20000) if chr(code).isdigit()]
DIGITS_NOT_DECIMAL = [c for c in _DIGITS if not c.isdecimal()]
DECIMALS_NOT_ASCII = [c for c in _DIGITS if c.isdecimal()]


def _realistic_inputs(world: World) -> dict[str, dict[ParameterLocation, st.SearchStrategy[dict[str, Any]]]]:
    """Schema-valid fields that the services also accept now and then, so that success paths are reached (random
    strings are rarely a consent position, nor random keys a proposal id), and ids at the databases' limits."""
    words = st.text(alphabet="abcdefghij klmnop*_#", min_size=1, max_size=40)
    proposal_fields = {
        "title": words,
        "summary": words,
        "body": words,
        "amount_minor": st.integers(1, 45_000),
        "category": st.sampled_from([None, "Tools", "Learning"]),
        "payee": st.sampled_from([{"slug": "seed-library"}, {"name": "Pat Payee", "email": "pat@example.org"}]),
    }
    # Cost lines: without an amount they ask for their total; beside one they must add up to it.
    cost_lines = st.lists(
        st.fixed_dictionaries({"description": words, "amount_minor": st.integers(1, 20_000)}), max_size=3
    )
    required_fields = {key: value for key, value in proposal_fields.items() if key != "amount_minor"}
    # Proposal ids as the ballot's keys, and other keys that the schema's check (str.isdigit) lets through.
    digits = st.text(st.one_of(st.sampled_from(DIGITS_NOT_DECIMAL), st.sampled_from(DECIMALS_NOT_ASCII)), max_size=3)
    ballot_keys = st.one_of(st.sampled_from([str(i) for i in world.pools["proposal_id"]]), digits.filter(bool))
    roles = st.lists(st.sampled_from(ROLES), max_size=len(ROLES), unique=True)
    ids = st.one_of(
        st.sampled_from([*world.pools["proposal_id"], *world.pools["user_id"]]), st.sampled_from(BOUNDARY_IDS)
    )
    body, query = ParameterLocation.BODY, ParameterLocation.QUERY
    return {
        "POST /rounds/{round_id}/proposals": {
            body: st.fixed_dictionaries(
                required_fields,
                optional={
                    "amount_minor": proposal_fields["amount_minor"],
                    "cost_lines": cost_lines,
                    "submit": st.booleans(),
                },
            )
        },
        "PATCH /proposals/{proposal_id}": {
            body: st.fixed_dictionaries(
                {}, optional={**proposal_fields, "cost_lines": cost_lines, "change_note": words}
            )
        },
        "PUT /rounds/{round_id}/ballot": {
            body: st.fixed_dictionaries(
                {"votes": st.dictionaries(ballot_keys, st.integers(-3, 6), min_size=1, max_size=4)}
            )
        },
        "PUT /consent-rounds/{consent_round_id}/answer": {
            body: st.fixed_dictionaries({"position": st.sampled_from(POSITIONS)}, optional={"argument": words})
        },
        "POST /circles/{circle_id}/members": {
            body: st.fixed_dictionaries(
                {"email": st.sampled_from([*world.emails, "new.person@example.org"]), "roles": roles.filter(bool)}
            )
        },
        "PUT /circles/{circle_id}/members/{user_id}": {body: st.fixed_dictionaries({"roles": roles})},
        "POST /proposals/{proposal_id}/comments": {
            body: st.fixed_dictionaries(
                {"body": words},
                optional={
                    "question": st.booleans(),
                    "parent_id": st.sampled_from([*world.pools["comment_id"], *BOUNDARY_IDS]),
                },
            )
        },
        "GET /circles/{circle_id}/ledger": {
            query: st.fixed_dictionaries({"after": ids}, optional={"actor": ids, "proposal": ids})
        },
        "GET /circles/{circle_id}/ledger/proof/inclusion": {
            query: st.fixed_dictionaries({"seq": st.integers(-1, 40), "size": st.integers(-1, 40)})
        },
        "GET /circles/{circle_id}/ledger/proof/consistency": {
            query: st.fixed_dictionaries({"from": st.integers(-1, 40), "to": st.integers(-1, 40)})
        },
        "GET /ledger/verify": {
            query: st.fixed_dictionaries({"circle_id": st.sampled_from([*world.pools["circle_id"], *BOUNDARY_IDS])})
        },
        # Addresses that answer at once: a closed local port, and a host name this machine cannot resolve.
        "PUT /circles/{circle_id}/opencollective": {
            body: st.fixed_dictionaries(
                {
                    "api_url": st.sampled_from(["http://127.0.0.1:9/graphql/v2", "https://oc.invalid/graphql/v2"]),
                    "slug": st.sampled_from(["riverside-fund", "Not A Slug"]),
                    "token": words,
                },
                optional={"expense_type": st.sampled_from(["GRANT", "INVOICE"])},
            )
        },
        "POST /payouts/{payout_id}/approve": {body: st.fixed_dictionaries({"totp": st.from_regex(r"\A\d{6}\Z")})},
        "POST /payouts/{payout_id}/cancel": {body: st.fixed_dictionaries({"reason": words})},
        "POST /circles/{circle_id}/payouts/approvals": {
            body: st.fixed_dictionaries(
                {
                    "payout_ids": st.lists(st.sampled_from(world.pools["payout_id"]), min_size=1, max_size=3),
                    "totp": st.from_regex(r"\A\d{6}\Z"),
                }
            )
        },
    }


@pytest.fixture(scope="module")
def api_schema(fuzzed: Fuzzed) -> Any:
    schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", fuzzed.app)
    # The caller's token is set per test; generating (or leaving out) the Authorization header would fight it.
    schema.config.generation.update(with_security_parameters=False)
    pools = {name: [*ids, *BOUNDARY_IDS] for name, ids in fuzzed.world.pools.items()}
    realistic = _realistic_inputs(fuzzed.world)

    def flatmap_case(context: schemathesis.HookContext, case: schemathesis.Case) -> st.SearchStrategy[Any]:
        """Mostly seeded (or boundary) ids in the path, sometimes the generated ones; now and then realistic fields
        in the body or the query. Parts generated to be invalid (negative mode) are left alone."""

        def negative(location: ParameterLocation) -> bool:
            return case.meta is not None and case.meta.is_negative_at(location)

        names = [] if negative(ParameterLocation.PATH) else [n for n in case.path_parameters or {} if n in pools]
        hints = {
            location: hint
            for location, hint in realistic.get(_operation(case), {}).items()
            if not negative(location) and isinstance(_container(case, location) or {}, dict)
        }
        if not names and not hints:
            return st.just(case)

        def pick(name: str) -> st.SearchStrategy[Any]:
            generated = case.path_parameters[name]
            # The generated id about one time in six (Hypothesis draws the low end often, so that is not 1).
            return st.integers(1, 4).flatmap(lambda k: st.just(generated) if k == 4 else st.sampled_from(pools[name]))

        def place(drawn: tuple[tuple[Any, ...], dict[ParameterLocation, dict[str, Any] | None]]) -> schemathesis.Case:
            values, fields = drawn
            case.path_parameters = {**case.path_parameters, **dict(zip(names, values, strict=True))}
            if fields.get(ParameterLocation.BODY) is not None:
                case.body = {**case.body, **fields[ParameterLocation.BODY]}
            if fields.get(ParameterLocation.QUERY) is not None:
                case.query = {**(case.query or {}), **fields[ParameterLocation.QUERY]}
            return case

        fields = st.fixed_dictionaries({location: st.one_of(hint, st.none()) for location, hint in hints.items()})
        return st.tuples(st.tuples(*(pick(name) for name in names)), fields).map(place)

    schema.hook(flatmap_case)
    return schema


def _container(case: schemathesis.Case, location: ParameterLocation) -> Any:
    return case.body if location == ParameterLocation.BODY else case.query


schema = schemathesis.pytest.from_fixture("api_schema")


# --- the checks -----------------------------------------------------------------------------------------------


def _operation(case: schemathesis.Case) -> str:
    return f"{case.method.upper()} {case.operation.path.removeprefix(API)}"


def _only_the_right_people_succeed(world: World, caller: str) -> Callable[..., None]:
    def only_the_right_people_succeed(ctx: CheckContext, response: Any, case: schemathesis.Case) -> None:
        operation = _operation(case)
        assert operation in POLICY, f"{operation} has no row in POLICY: say who may use it"
        if 200 <= response.status_code < 300:
            reason = world.refusal(caller, operation, case.path_parameters or {})
            assert reason is None, f"{operation} succeeded ({response.status_code}) for {caller}, but {reason}"

    return only_the_right_people_succeed


def _fuzz(fuzzed: Fuzzed, case: schemathesis.Case, caller: str, dirty: list[bool]) -> None:
    if dirty and dirty[0]:
        fuzzed.restore()
    headers = {}
    if caller == ANONYMOUS:
        if case.headers:
            case.headers.pop("Authorization", None)
    else:
        headers["Authorization"] = f"Bearer {fuzzed.world.tokens[caller]}"
    dirty[:] = [case.method.upper() not in ("GET", "HEAD")]
    case.call_and_validate(
        headers=headers,
        additional_checks=[_only_the_right_people_succeed(fuzzed.world, caller)],
        excluded_checks=[positive_data_acceptance],
    )


#: Whether the last example wrote, so the next one starts from the seeded database (one flag per module).
_DIRTY = [True]


@pytest.mark.slow
@schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_the_admin(case: schemathesis.Case, fuzzed: Fuzzed) -> None:
    _fuzz(fuzzed, case, "admin", _DIRTY)


@pytest.mark.slow
@schema.parametrize()
@FUZZ_SETTINGS
def test_api_as_a_plain_member(case: schemathesis.Case, fuzzed: Fuzzed) -> None:
    _fuzz(fuzzed, case, "member", _DIRTY)


@pytest.mark.slow
@schema.parametrize()
@FUZZ_SETTINGS
def test_api_without_a_token(case: schemathesis.Case, fuzzed: Fuzzed) -> None:
    _fuzz(fuzzed, case, ANONYMOUS, _DIRTY)


def test_the_document_is_public_and_every_operation_has_a_policy(fuzzed: Fuzzed) -> None:
    response = fuzzed.app.test_client().get(f"{API}/openapi.json")
    assert response.status_code == 200 and response.is_json
    paths = response.get_json()["paths"]
    documented = {
        f"{method.upper()} {path.removeprefix(API)}"
        for path, item in paths.items()
        for method in item
        if method != "parameters"
    }
    assert documented <= set(POLICY), f"say in POLICY who may use {sorted(documented - set(POLICY))}"
