"""Two private circles, each with a person in every role and something of every kind, for the attack tests.

`build_world()` (inside an app context) returns the two circles' ids, people and tokens; `url_for_rule` fills a URL
rule with one circle's ids; `snapshot()` counts every table's rows and reads every ledger chain's head, so that a
test can say "nothing changed".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask

from fundcircle import create_app
from fundcircle.attachments.services import Upload, attach_file
from fundcircle.auth.models import ApiToken
from fundcircle.auth.services import request_email_change, request_password_reset
from fundcircle.circles import rotation
from fundcircle.circles.joining import ask_to_join, set_accepts_join_requests
from fundcircle.circles.services import invite_member, update_circle_settings
from fundcircle.consent.services import answer_consent, open_consent_round
from fundcircle.db import utcnow
from fundcircle.deliberation.services import add_comment
from fundcircle.extensions import db
from fundcircle.learning.services import add_comment as add_report_comment
from fundcircle.learning.services import write_report
from fundcircle.payouts.models import Payout
from fundcircle.proposals.services import create_proposal
from fundcircle.rounds.services import advance_round
from fundcircle.voting.services import cast_ballot
from tests.attachment_files import PDF
from tests.conftest import TEST_PASSWORD, test_config
from tests.factories import add_member, make_circle, make_round, make_token, make_user, sample_proposal

ROLES_OF = {
    "admin": ["member", "admin"],
    "treasurer": ["member", "treasurer"],
    "circle": ["member", "circle"],
    "member": ["member"],
}


@dataclass
class CircleWorld:
    """One private circle: a quadratic round with a proposal and a comment, a consent round being decided."""

    label: str
    circle_id: int
    round_id: int
    proposal_id: int
    comment_id: int
    consent_round_id: int
    payout_id: int
    invitation_token: str
    invitation_id: int
    join_request_id: int
    reset_token: str
    email_token: str
    user_ids: dict[str, int]
    emails: dict[str, str]
    tokens: dict[str, str]
    token_ids: dict[str, int]
    #: Texts that only this circle's pages and answers contain.
    markers: tuple[str, ...]
    #: A drawn call for volunteers (rotation), for the page that tells how to check its draw.
    call_id: int = 0
    #: A paid proposal's learning report (written by the member), with a comment.
    report_id: int = 0
    #: A document the member attached to the proposal.
    attachment_id: int = 0

    def ids(self, actor: str) -> dict[str, Any]:
        return {
            "circle_id": self.circle_id,
            "round_id": self.round_id,
            "proposal_id": self.proposal_id,
            "comment_id": self.comment_id,
            "consent_round_id": self.consent_round_id,
            "payout_id": self.payout_id,
            "user_id": self.user_ids["member"],
            "token": self.invitation_token,
            "invitation_id": self.invitation_id,
            "join_request_id": self.join_request_id,
            "reset_token": self.reset_token,
            "email_token": self.email_token,
            "token_id": self.token_ids.get(actor, 1),
            "filename": "css/app.css",
            "call_id": self.call_id,
            "report_id": self.report_id,
            "kind": "final",
            "attachment_id": self.attachment_id,
            "owner_kind": "proposal",
            "owner_id": self.proposal_id,
        }


def build_circle(label: str, language: str | None = None) -> CircleWorld:
    """The world; with `language`, a circle that speaks it (its default language), so its notices are written in it."""
    people = {"admin": make_user(name=f"Admin of {label}", email=f"admin.{label}@example.org")}
    circle = make_circle(people["admin"], name=f"Circle {label} secret", public=False)
    circle.language = language
    for actor, roles in ROLES_OF.items():
        if actor != "admin":
            people[actor] = make_user(name=f"{actor.title()} of {label}", email=f"{actor}.{label}@example.org")
            add_member(circle, people[actor], roles, by=people["admin"])
    admin, author = people["admin"], people["member"]
    round_ = make_round(circle, admin, title=f"Round {label} secret")
    advance_round(admin, round_, "proposals", utcnow())
    proposal = create_proposal(
        author, round_, sample_proposal(title=f"Proposal {label} secret"), submit=True, now=utcnow()
    )
    comment = add_comment(author, proposal, f"Comment {label} secret", parent_id=None, question=True, now=utcnow())
    consent = make_round(circle, admin, method="consent", title=f"Consent {label} secret")
    advance_round(admin, consent, "proposals", utcnow())
    consent_proposal = create_proposal(
        author, consent, sample_proposal(title=f"Consent proposal {label} secret"), submit=True, now=utcnow()
    )
    advance_round(admin, consent, "deliberation", utcnow())
    advance_round(admin, consent, "deciding", utcnow())
    consent_round = open_consent_round(admin, consent_proposal, utcnow())
    answer_consent(people["circle"], consent_round, "concern", f"Concern {label} secret", utcnow())
    # A decided round, so that there is a payout awaiting approval.
    decided = make_round(circle, admin, title=f"Decided {label} secret")
    advance_round(admin, decided, "proposals", utcnow())
    funded_input = sample_proposal(title=f"Funded {label} secret")
    funded = create_proposal(author, decided, funded_input, submit=True, now=utcnow())
    advance_round(admin, decided, "deliberation", utcnow())
    advance_round(admin, decided, "deciding", utcnow())
    cast_ballot(people["circle"], decided, {funded.id: 2}, utcnow())
    advance_round(admin, decided, "decided", utcnow())
    db.session.commit()
    payout_id = db.session.scalars(sa.select(Payout.id).where(Payout.proposal_id == funded.id)).one()
    # A second funded proposal, paid, whose learning report the member wrote and the circle member commented on.
    reported_round = make_round(circle, admin, title=f"Learned {label} secret")
    advance_round(admin, reported_round, "proposals", utcnow())
    reported = create_proposal(
        author, reported_round, sample_proposal(title=f"Reported {label} secret"), submit=True, now=utcnow()
    )
    advance_round(admin, reported_round, "deliberation", utcnow())
    advance_round(admin, reported_round, "deciding", utcnow())
    cast_ballot(people["circle"], reported_round, {reported.id: 2}, utcnow())
    advance_round(admin, reported_round, "decided", utcnow())
    db.session.execute(
        sa.update(Payout).where(Payout.proposal_id == reported.id).values(status="paid", status_changed_at=utcnow())
    )
    report = write_report(author, reported, "final", [f"Report {label} secret", "", "", ""], utcnow())
    add_report_comment(people["circle"], report, f"Report comment {label} secret", utcnow())
    attachment = attach_file(author, "proposal", proposal.id, Upload(f"plan-{label}.pdf", PDF, "Plan"), now=utcnow())
    db.session.commit()
    outcome = invite_member(
        admin, circle, email=f"new.{label}@example.org", roles=["member"], now=utcnow(), valid_days=7
    )
    # A request to join waiting for the admin's answer: asked while the circle was public and took requests (a
    # private circle takes none), for the routes that answer one.
    asker = make_user(name=f"Asker of {label}", email=f"asker.{label}@example.org")
    update_circle_settings(admin, circle, name=circle.name, description=circle.description, public=True)
    set_accepts_join_requests(admin, circle, True)
    join_request = ask_to_join(asker, circle, f"Note {label} secret", utcnow())
    update_circle_settings(admin, circle, name=circle.name, description=circle.description, public=False)
    # The member's password reset link and address change waiting for its link, for the routes that take them.
    reset_token = request_password_reset(author.email, utcnow())
    email_change = request_email_change(
        author, new_email=f"member.{label}.new@example.org", password=TEST_PASSWORD, client_address="x", now=utcnow()
    )
    # A call for volunteers the deciding member answered, drawn an hour after it closed.
    hour = timedelta(hours=1)
    call = rotation.CallInput(seats=1, term_days=30, closes_at=utcnow() + hour)
    rotation.open_volunteer_call(admin, circle, call, utcnow())
    rotation.volunteer(people["circle"], circle, utcnow())  # already deciding: the draw changes no role
    drawn_call = rotation.draw_call(admin, circle, utcnow() + 2 * hour)
    db.session.commit()
    assert outcome.token is not None and reset_token is not None
    tokens = {actor: make_token(user, f"token of {actor}") for actor, user in people.items()}
    token_ids = {
        actor: db.session.scalars(sa.select(ApiToken.id).where(ApiToken.user_id == user.id)).one()
        for actor, user in people.items()
    }
    return CircleWorld(
        label=label,
        circle_id=circle.id,
        round_id=round_.id,
        proposal_id=proposal.id,
        comment_id=comment.id,
        consent_round_id=consent_round.id,
        payout_id=payout_id,
        invitation_token=outcome.token,
        invitation_id=outcome.invitation.id,
        join_request_id=join_request.id,
        reset_token=reset_token,
        email_token=email_change.token,
        user_ids={actor: user.id for actor, user in people.items()},
        emails={actor: user.email for actor, user in people.items()},
        tokens=tokens,
        token_ids=token_ids,
        markers=(f"{label} secret", f"admin.{label}@", f"member.{label}@"),
        call_id=drawn_call.id,
        report_id=report.id,
        attachment_id=attachment.id,
    )


def url_for_rule(rule: str, values: dict[str, Any]) -> str:
    url = rule
    for name, value in values.items():
        for converter in ("int:", "path:", ""):
            url = url.replace(f"<{converter}{name}>", str(value))
    assert "<" not in url, f"no sample value for {rule}"
    return url


def all_routes() -> list[tuple[str, str, str]]:
    app = create_app(test_config("sqlite://"))
    routes = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            routes.append((rule.endpoint, rule.rule, method))
    return sorted(routes)


def snapshot(app: Flask) -> dict[str, Any]:
    """Every table's row count and every ledger chain's head (sessions and the log-in counters excepted: reading a
    page may touch them)."""
    with app.app_context():
        counts: dict[str, Any] = {}
        for table in db.metadata.sorted_tables:
            if table.name in {"auth_sessions", "throttle_events"}:
                continue
            counts[table.name] = db.session.scalar(sa.select(sa.func.count()).select_from(table))
        counts["chains"] = db.session.execute(
            sa.text("SELECT circle_id, head_seq, head_hash FROM ledger_chains ORDER BY circle_id")
        ).all()
        return counts
