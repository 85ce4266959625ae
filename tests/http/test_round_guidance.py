"""The round page says what to do next (issue 17, points 1 and 3): the consent phase proposal by proposal, the
"what happens now" panel for each role and phase, the consent round's story, and an empty state on every list.
Pages are read with the test client, as each kind of person."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from flask import Flask

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.proposals.models import Proposal
from fundcircle.proposals.services import update_proposal
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting.services import cast_ballot
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user, sample_proposal


def _client(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def _text(response: object) -> str:
    """The page's words as a reader sees them: tags dropped, entities decoded, whitespace collapsed."""
    page = response.get_data(as_text=True)  # type: ignore[attr-defined]
    page = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", page, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def _section(text: str, start: str, end: str) -> str:
    """The words between two headings."""
    assert start in text, f"{start!r} is not on the page"
    after = text.split(start, 1)[1]
    return after.split(end, 1)[0] if end in after else after


@dataclass
class ConsentWorld:
    round_id: int
    fridge: int
    tools: int
    emails: dict[str, str]


def _consent_world(app: Flask) -> ConsentWorld:
    """Eli (a member) wrote the fridge, Bea the tool library; Bea, Chidi and Dana decide; Ana facilitates; Tom is
    treasurer. The round is deciding, with no consent round yet."""
    with app.app_context():
        ana = make_user(name="Ana Admin", email="ana@example.org")
        circle = make_circle(ana, name="Riverside Learning Circle")
        people = {"ana": ana}
        for key, name, roles in (
            ("eli", "Eli Member", ["member"]),
            ("bea", "Bea Circle", ["member", "circle"]),
            ("chidi", "Chidi Circle", ["member", "circle"]),
            ("dana", "Dana Circle", ["member", "circle"]),
            ("tom", "Tom Treasurer", ["member", "treasurer"]),
        ):
            people[key] = make_user(name=name, email=f"{key}@example.org")
            add_member(circle, people[key], roles, by=ana)
        round_ = make_round(circle, ana, title="Summer fund", method="consent", categories=[])
        advance_round(ana, round_, "proposals", utcnow())
        db.session.commit()
        fridge = make_proposal(round_, people["eli"], title="Community fridge", amount_minor=30_000, category=None)
        tools = make_proposal(round_, people["bea"], title="Tool library", amount_minor=20_000, category=None)
        round_ = db.session.get(Round, round_.id)
        advance_round(ana, round_, "deliberation", utcnow())
        advance_round(ana, round_, "deciding", utcnow())
        db.session.commit()
        return ConsentWorld(round_.id, fridge.id, tools.id, {key: person.email for key, person in people.items()})


def _open(admin: Client, proposal_id: int) -> int:
    response = admin.post_form(f"/proposals/{proposal_id}/consent-rounds")
    assert response.status_code == 302, response.get_data(as_text=True)
    match = re.search(r"/consent-rounds/(\d+)$", response.headers["Location"])
    assert match is not None
    return int(match.group(1))


def _answer(client: Client, consent_round_id: int, position: str, argument: str = "") -> None:
    response = client.post_form(
        f"/consent-rounds/{consent_round_id}/answer", {"position": position, "argument": argument}
    )
    assert response.status_code == 302, response.get_data(as_text=True)


OBJECTION = "Nobody is named to keep the fridge clean; spoiled food would cost us the venue."


def test_the_consent_phase_is_followed_proposal_by_proposal_from_the_round_page(app: Flask) -> None:
    world = _consent_world(app)
    ana, bea = _client(app, world.emails["ana"]), _client(app, world.emails["bea"])
    round_url = f"/rounds/{world.round_id}"

    # Nothing opened yet: the facilitator is told to open a consent round on each proposal.
    page = _text(ana.get(round_url))
    status = _section(page, "Consent, proposal by proposal", "Turnout and open items")
    assert status.count("Not opened") == 2
    panel = _section(page, "What happens now", "Consent, proposal by proposal")
    assert "Open a consent round on “Community fridge” (version 1)" in panel
    assert "Open a consent round on “Tool library” (version 1)" in panel
    assert "Turnout: 0 of 3 circle members have answered a consent round" in page
    assert "“Tool library” has had no consent round: unless one is held, it is not funded." in page

    first = _open(ana, world.fridge)
    # Open, and nobody has answered: "0 of 3", never "waiting for 2 of 3"; Bea is asked to answer now.
    page = _text(bea.get(round_url))
    status = _section(page, "Consent, proposal by proposal", "Budget")
    assert "Community fridge Open Nobody has answered yet, 0 of 3." in status
    assert not re.search(r"waiting for \d", page)
    assert f'href="/consent-rounds/{first}">Answer now' in bea.get(round_url).get_data(as_text=True)
    assert "Answer the consent round on “Community fridge”." in _section(page, "What happens now", "Consent,")
    consent_page = _text(bea.get(f"/consent-rounds/{first}"))
    assert "nobody has answered yet, 0 of 3" in consent_page and not re.search(r"waiting for \d", consent_page)
    assert "You have not answered yet. Answer now" in consent_page
    assert "Nobody has answered yet, 0 of 3. Each circle member's answer and explanation appear here" in consent_page

    _answer(bea, first, "consent")
    page = _text(bea.get(round_url))
    assert "Community fridge Open 1 of 3 answered." in page  # and Bea is no longer asked
    assert "Answer the consent round on “Community fridge”" not in page
    assert "Answer now" in _text(_client(app, world.emails["dana"]).get(round_url))
    chidi = _client(app, world.emails["chidi"])
    _answer(chidi, first, "objection", OBJECTION)
    _answer(_client(app, world.emails["dana"]), first, "concern", "The timeline is tight.")
    assert ana.post_form(f"/consent-rounds/{first}/close").status_code == 302

    # The objection closed it: the author is told to amend, the facilitator to reopen after the amendment.
    eli = _client(app, world.emails["eli"])
    author_page = _text(eli.get(round_url))
    assert "Community fridge Objection raised 1 objection open." in author_page
    assert "The author amends the proposal, then the facilitator reopens it with a new consent round." in author_page
    assert "amend it to integrate the objection" in _section(author_page, "What happens now", "Consent,")
    assert f'href="/proposals/{world.fridge}/edit">Amend your proposal' in eli.get(round_url).get_data(as_text=True)
    admin_page = _text(ana.get(round_url))
    assert "The author of “Community fridge” amends it; then you reopen it with a new consent round." in admin_page

    # The closed consent round tells the story: who answered what, why, a positions chart and the outcome.
    story = _text(ana.get(f"/consent-rounds/{first}"))
    assert "How it was decided 3 of 3 circle members answered: 1 consent, 1 concern, 1 objection." in story
    assert "Outcome: version 1 was not consented: 1 objection open." in story
    assert OBJECTION in story and "The timeline is tight." in story
    raw = ana.get(f"/consent-rounds/{first}").get_data(as_text=True)
    assert re.search(r'<meter min="0" max="3" value="1" aria-label="Objection: 1 of 3">', raw)
    assert re.search(r'<meter min="0" max="3" value="1" aria-label="Consent: 1 of 3">', raw)
    author_story = _text(eli.get(f"/consent-rounds/{first}"))
    assert "What happens next: amend your proposal to integrate what was said" in author_story

    # Amended: the facilitator is told to reopen it.
    with app.app_context():
        proposal = db.session.get(Proposal, world.fridge)
        assert proposal is not None
        update_proposal(
            _user(world.emails["eli"]),
            proposal,
            sample_proposal(title="Community fridge", amount_minor=25_000, category=None),
            change_note="Bea and Dana keep it clean.",
            now=utcnow(),
        )
        db.session.commit()
    admin_page = _text(ana.get(round_url))
    assert "Community fridge Amended, reopen Version 2 answers the objection" in admin_page
    assert "Open a consent round on “Community fridge” (version 2)." in admin_page


def test_the_author_and_the_objector_discuss_in_full_comments_while_in_consent(app: Flask) -> None:
    world = _consent_world(app)
    ana = _client(app, world.emails["ana"])
    first = _open(ana, world.fridge)
    chidi, dana, eli = (_client(app, world.emails[key]) for key in ("chidi", "dana", "eli"))
    _answer(chidi, first, "objection", OBJECTION)
    _answer(dana, first, "consent")
    proposal_url = f"/proposals/{world.fridge}"

    # The objector and the author may comment; the proposal page says why the discussion is open for them.
    assert "While the circle decides by consent, the discussion stays open" in _text(chidi.get(proposal_url))
    answered = chidi.post_form(f"{proposal_url}/comments", {"body": "Who would clean it every week?"})
    assert answered.status_code == 302, answered.get_data(as_text=True)
    replied = eli.post_form(f"{proposal_url}/comments", {"body": "Bea and Dana offered to, on Mondays."})
    assert replied.status_code == 302
    page = _text(eli.get(proposal_url))
    assert "Who would clean it every week?" in page and "Bea and Dana offered to, on Mondays." in page

    # Anybody else shares a short reaction instead, and is told so, with nothing written.
    refused = dana.post_form(f"{proposal_url}/comments", {"body": "I agree with Chidi."})
    assert refused.status_code == 409
    assert "the discussion stays open only for the proposal's author and those who objected" in _text(refused)
    assert "I agree with Chidi." not in _text(eli.get(proposal_url))
    assert "Add to the discussion" not in _text(dana.get(proposal_url))

    # On the other proposal, with no consent round, nobody comments while deciding.
    closed = _client(app, world.emails["bea"]).post_form(f"/proposals/{world.tools}/comments", {"body": "Hello"})
    assert closed.status_code == 409


def _quadratic_world(app: Flask, *, with_proposal: bool = True) -> dict[str, object]:
    with app.app_context():
        ana = make_user(name="Ana Admin", email="ana@example.org")
        circle = make_circle(ana, name="Riverside Learning Circle")
        people = {"ana": ana}
        for key, roles in (
            ("eli", ["member"]),
            ("bea", ["member", "circle"]),
            ("chidi", ["member", "circle"]),
            ("tom", ["member", "treasurer"]),
        ):
            people[key] = make_user(name=key.title(), email=f"{key}@example.org")
            add_member(circle, people[key], roles, by=ana)
        round_ = make_round(circle, ana, title="Spring fund")
        db.session.commit()
        proposal_id = None
        if with_proposal:
            advance_round(ana, round_, "proposals", utcnow())
            db.session.commit()
            proposal_id = make_proposal(round_, people["eli"], title="Seed library").id
        return {"round_id": round_.id, "proposal_id": proposal_id, **{k: p.email for k, p in people.items()}}


def _panel(client: Client, round_id: object) -> str:
    return _section(_text(client.get(f"/rounds/{round_id}")), "What happens now", "Budget")


def test_what_happens_now_says_for_each_role_and_phase_what_to_do_and_when_it_ends(app: Flask) -> None:
    world = _quadratic_world(app)
    round_id = world["round_id"]
    clients = {key: _client(app, str(world[key])) for key in ("ana", "eli", "bea", "tom")}

    # Open for proposals: members write, the author can still edit, the facilitator moves it on later.
    assert "Write a proposal." in _panel(clients["bea"], round_id)
    author = _panel(clients["eli"], round_id)
    assert "You can still edit “Seed library”." in author and "Open for proposals ends" in author
    admin = _panel(clients["ana"], round_id)
    assert "As facilitator, move the round on to deliberation when it is time" in admin
    assert "Nothing for a treasurer yet: payouts come once the round is decided." in _panel(clients["tom"], round_id)

    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        advance_round(_user(str(world["ana"])), round_, "deliberation", utcnow())
        db.session.commit()
    assert "Answer questions on “Seed library”, and amend it if that helps." in _panel(clients["eli"], round_id)
    assert "Deliberation ends" in _panel(clients["eli"], round_id)

    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        advance_round(_user(str(world["ana"])), round_, "deciding", utcnow())
        db.session.commit()
    decider = _panel(clients["bea"], round_id)
    assert "Voting is open. Fill in your ballot" in decider and "0 of 2 have voted so far" in decider
    assert "Deciding ends" in decider
    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        cast_ballot(_user(str(world["bea"])), round_, {int(str(world["proposal_id"])): 3}, utcnow())
        db.session.commit()
    assert "You have voted; you can change your ballot until voting closes." in _panel(clients["bea"], round_id)
    assert "1 of 2 have voted so far" in _panel(clients["eli"], round_id)
    # The admin's round page shows the turnout, so voting is not closed before anyone voted.
    assert "Turnout: 1 of 2 circle members have voted (50%)." in _text(clients["ana"].get(f"/rounds/{round_id}"))
    assert "Turnout:" not in _text(clients["bea"].get(f"/rounds/{round_id}"))

    with app.app_context():
        round_ = db.session.get(Round, round_id)
        assert round_ is not None
        advance_round(_user(str(world["ana"])), round_, "decided", utcnow())
        db.session.commit()
    treasurer = _panel(clients["tom"], round_id)
    assert "Approve the payouts of the funded proposals." in treasurer and "Open the treasury" in treasurer
    assert "See how the round was decided." in _panel(clients["bea"], round_id)


def _user(email: str) -> User:
    user = db.session.scalar(db.select(User).where(User.email == email))
    assert user is not None
    return user


def test_a_draft_round_tells_its_admin_how_to_start_it(app: Flask) -> None:
    world = _quadratic_world(app, with_proposal=False)
    panel = _panel(_client(app, str(world["ana"])), world["round_id"])
    assert "Check the settings." in panel and "Open the round when it is ready" in panel
    assert "The round starts when the facilitator opens it for proposals." in panel


def test_every_list_says_how_it_fills_up_when_it_is_empty(app: Flask) -> None:
    world = _quadratic_world(app, with_proposal=False)
    ana = _client(app, str(world["ana"]))
    with app.app_context():
        round_ = db.session.get(Round, world["round_id"])
        assert round_ is not None
        advance_round(_user(str(world["ana"])), round_, "proposals", utcnow())
        db.session.commit()
    page = _text(ana.get(f"/rounds/{world['round_id']}"))
    assert "No proposals yet. They appear here as members submit them: anyone in the circle can write one" in page
    filtered = _text(ana.get(f"/rounds/{world['round_id']}?status=withdrawn"))
    assert 'No proposals match these filters. Choose "All" to see every proposal.' in filtered
    with app.app_context():
        round_ = db.session.get(Round, world["round_id"])
        assert round_ is not None
        proposal_id = make_proposal(round_, _user(str(world["eli"])), title="Seed library").id
    proposal = _text(ana.get(f"/proposals/{proposal_id}"))
    assert "No comments yet. Questions and comments from the circle appear here: be the first below." in proposal
    assert "Only version 1 so far. When the author amends the proposal" in proposal


def test_an_empty_consent_round_says_how_its_answers_and_reactions_fill_up(app: Flask) -> None:
    world = _consent_world(app)
    ana = _client(app, world.emails["ana"])
    first = _open(ana, world.tools)
    page = _text(ana.get(f"/consent-rounds/{first}"))
    assert "Nobody has answered yet, 0 of 3." in page
    assert "No reactions yet. Anyone in the circle can share one while the consent round is open." in page
    # The admin is no circle member: no "answer now" prompt for them.
    assert "You have not answered yet" not in page
