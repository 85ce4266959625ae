"""A circle whose every text field shown back holds an XSS payload, and the pages that show them."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser

from fundcircle.consent.services import add_reaction, answer_consent, open_consent_round
from fundcircle.db import utcnow
from fundcircle.deliberation.services import add_comment, hide_comment
from fundcircle.extensions import db
from fundcircle.proposals.services import update_proposal
from fundcircle.rounds.services import advance_round
from fundcircle.voting.services import cast_ballot
from tests.factories import (
    add_member,
    make_circle,
    make_proposal,
    make_round,
    make_token,
    make_user,
    sample_proposal,
)


def payload(field: str) -> str:
    """Markup that would run script or add an element if it were not escaped; `field` names where it went."""
    return (
        f'<img src=x onerror=alert(1) data-xss="{field}">'
        f'"><script data-xss="{field}">alert(2)</script><svg onload=alert(3) data-xss="{field}">'
    )


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.injected: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "data-xss" or name.startswith("on") and tag in ("img", "svg"):
                self.injected.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.injected.append(f"<{tag} {name}={value!r}>")


def injected_elements(html: str) -> list[str]:
    """Elements that came from a payload (they carry data-xss or an event handler) and javascript: links."""
    parser = _Elements()
    parser.feed(html)
    return parser.injected


@dataclass
class XssWorld:
    emails: dict[str, str]
    pages: dict[str, list[str]]  # who -> the pages to look at


def build_xss_world() -> XssWorld:
    admin = make_user(name=payload("admin")[:80], email="admin@example.org")
    author = make_user(name=payload("author")[:80], email="author@example.org")
    voter = make_user(name=payload("voter")[:80], email="voter@example.org")
    circle = make_circle(admin, name=payload("circle")[:80], description=payload("circle description"))
    add_member(circle, author, ["member"], by=admin)
    add_member(circle, voter, ["member", "circle"], by=admin)
    make_token(admin, payload("token")[:80])
    now = utcnow()

    # A quadratic round, decided, so that the results, the chart and the budget line show the title.
    quadratic = make_round(circle, admin, title=payload("round")[:80], description=payload("round text"))
    advance_round(admin, quadratic, "proposals", now)
    title = payload("title")[:80]
    proposal = make_proposal(
        quadratic, author, title=title, summary=payload("summary")[:80], body=payload("body") + "\n\n"
        "[a link](javascript:alert('link'))", payee_slug=None, payee_name=payload("payee")[:80],
        payee_email="payee@example.org",
    )  # fmt: skip
    comment = add_comment(voter, proposal, payload("comment"), parent_id=None, question=True, now=now)
    add_comment(author, proposal, payload("answer"), parent_id=comment.id, question=False, now=now)
    hidden = add_comment(voter, proposal, "to be hidden", parent_id=None, question=False, now=now)
    hide_comment(admin, hidden, payload("hidden reason"), now)
    advance_round(admin, quadratic, "deliberation", now)
    data = sample_proposal(title=title, body=payload("body v2"), payee_slug=None, payee_name="Payee",
                           payee_email="payee@example.org")  # fmt: skip
    update_proposal(author, proposal, data, change_note=payload("change note"), now=now)
    advance_round(admin, quadratic, "deciding", now)
    cast_ballot(voter, quadratic, {proposal.id: 3}, now)
    advance_round(admin, quadratic, "decided", now)

    # A consent round with an objection and a reaction.
    consent = make_round(circle, admin, title="Consent", method="consent")
    advance_round(admin, consent, "proposals", now)
    consent_proposal = make_proposal(consent, author, title=payload("ctitle")[:80])
    advance_round(admin, consent, "deliberation", now)
    advance_round(admin, consent, "deciding", now)
    consent_round = open_consent_round(admin, consent_proposal, now)
    answer_consent(voter, consent_round, "objection", payload("objection"), now)
    add_reaction(voter, consent_round, payload("reaction")[:80], now)
    db.session.commit()

    c, q, p, cr = circle.id, quadratic.id, proposal.id, consent_round.id
    shared = [f"/circles/{c}", f"/rounds/{q}", f"/proposals/{p}", f"/proposals/{p}/diff?from=1&to=2",
              f"/rounds/{q}/results", f"/consent-rounds/{cr}", f"/proposals/{consent_proposal.id}",
              f"/rounds/{consent.id}", f"/circles/{c}/ledger", "/"]  # fmt: skip
    return XssWorld(
        emails={"admin": admin.email, "author": author.email, "voter": voter.email},
        pages={
            "admin": [*shared, f"/circles/{c}/members", f"/circles/{c}/settings", f"/rounds/{q}/edit", "/profile"],
            "author": [*shared, "/profile"],
            "voter": [*shared, f"/rounds/{q}/ballot"],
        },
    )
