"""The discussion of proposals through its services and pages: comments, replies, questions and answers, editing
within 15 minutes, deleting, moderation, following, the ledger entries of each, and e-mail notices delivered
through a real SMTP server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.deliberation.models import Comment, ProposalFollow
from fundcircle.deliberation.services import (
    add_comment,
    delete_comment,
    edit_comment,
    hide_comment,
    is_following,
    set_following,
    threads_of,
)
from fundcircle.errors import Conflict, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.proposals.models import Proposal
from fundcircle.proposals.services import update_proposal, withdraw_proposal
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.unit_of_work import run_ready_work
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user, sample_proposal
from tests.smtp import Inbox, body_of, deliver_waiting, free_port, running_smtp

# --- helpers ------------------------------------------------------------------------------------------------------


def last_ledger_id() -> int:
    return db.session.scalar(select(func.coalesce(func.max(LedgerEntry.id), 0))) or 0


def actions_after(ledger_id: int) -> list[str]:
    return list(
        db.session.scalars(select(LedgerEntry.action).where(LedgerEntry.id > ledger_id).order_by(LedgerEntry.id))
    )


def committed_actions(change: Callable[[], Any]) -> list[str]:
    """Run one state change as a request would (then commit) and return the ledger actions it appended."""
    before = last_ledger_id()
    change()
    db.session.commit()
    return actions_after(before)


@dataclass
class Discussion:
    round: Round
    proposal: Proposal
    owner: User  # created the circle: admin and member
    author: User  # wrote the proposal
    circle_member: User
    member: User
    treasurer: User
    moderator: User  # admin only
    outsider: User


def open_discussion(phase: str = "proposals", **names: str) -> Discussion:
    """A circle with a person of each role and one submitted proposal, its round in `phase`."""
    owner = make_user(name=names.get("owner", "Owner"))
    circle = make_circle(owner, name="Riverside Circle")
    people: dict[str, User] = {}
    for key, roles in (
        ("author", ["member"]),
        ("circle_member", ["member", "circle"]),
        ("member", ["member"]),
        ("treasurer", ["treasurer"]),
        ("moderator", ["admin"]),
    ):
        people[key] = make_user(name=names.get(key, key.replace("_", " ").title()))
        add_member(circle, people[key], roles, by=owner)
    round_ = make_round(circle, owner)
    advance_round(owner, round_, "proposals", utcnow())
    db.session.commit()
    proposal = make_proposal(round_, people["author"])
    if phase == "deliberation":
        advance_round(owner, round_, "deliberation", utcnow())
        db.session.commit()
    return Discussion(round_, proposal, owner, outsider=make_user(name="Outsider"), **people)


def comment(actor: User, proposal: Proposal, body: str = "Looks good.", **options: Any) -> Comment:
    options.setdefault("parent_id", None)
    options.setdefault("question", False)
    options.setdefault("now", utcnow())
    made = add_comment(actor, proposal, body, **options)
    db.session.commit()
    return made


def verify_ledger_from_cli(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["ledger", "verify"])
    assert result.exit_code == 0, result.output
    assert "The ledger verifies" in result.output


# --- ledger entries, exactly ----------------------------------------------------------------------------------------


def test_each_discussion_change_writes_exactly_its_ledger_entries_and_the_ledger_verifies(ctx: Flask) -> None:
    d = open_discussion()
    now = utcnow()
    made: list[Comment] = []

    assert committed_actions(
        lambda: made.append(
            add_comment(d.circle_member, d.proposal, "Why now?", parent_id=None, question=True, now=now)
        )
    ) == ["comment.created"]
    question = made[0]
    assert committed_actions(
        lambda: made.append(add_comment(d.member, d.proposal, "+1", parent_id=question.id, question=False, now=now))
    ) == ["comment.created"]
    assert question.answered_at is None  # only the author's reply answers
    assert committed_actions(
        lambda: made.append(
            add_comment(d.author, d.proposal, "Because spring.", parent_id=question.id, question=False, now=now)
        )
    ) == ["comment.created", "comment.question_answered"]
    assert question.answered_at is not None
    # A second reply by the author does not answer it again.
    assert committed_actions(
        lambda: add_comment(d.author, d.proposal, "And summer.", parent_id=question.id, question=False, now=now)
    ) == ["comment.created"]
    reply = made[1]
    assert committed_actions(lambda: edit_comment(d.member, reply, "+1, strongly", now + timedelta(minutes=1))) == [
        "comment.edited"
    ]
    assert committed_actions(lambda: edit_comment(d.member, reply, "+1, strongly", now + timedelta(minutes=2))) == []
    assert committed_actions(lambda: delete_comment(d.member, reply, now)) == ["comment.deleted"]
    assert committed_actions(lambda: hide_comment(d.moderator, question, "Off topic", now)) == ["comment.hidden"]
    assert committed_actions(lambda: set_following(d.treasurer, d.proposal, True, now)) == ["proposal.followed"]
    assert committed_actions(lambda: set_following(d.treasurer, d.proposal, True, now)) == []
    assert committed_actions(lambda: set_following(d.treasurer, d.proposal, False, now)) == ["proposal.unfollowed"]
    assert committed_actions(lambda: set_following(d.treasurer, d.proposal, False, now)) == []

    entries = {
        (entry.action, entry.subject_id): entry
        for entry in db.session.scalars(select(LedgerEntry).where(LedgerEntry.action.like("comment.%")))
    }
    answered = entries[("comment.question_answered", question.id)]
    assert answered.actor_id == d.author.id and answered.data == {"proposal": d.proposal.id, "answer": made[2].id}
    edited = entries[("comment.edited", reply.id)]
    assert edited.data == {"proposal": d.proposal.id, "from": "+1", "to": "+1, strongly"}
    hidden = entries[("comment.hidden", question.id)]
    assert hidden.actor_id == d.moderator.id and hidden.data == {"proposal": d.proposal.id, "reason": "Off topic"}
    created = entries[("comment.created", question.id)]
    assert created.data == {
        "proposal": d.proposal.id,
        "version": 1,
        "parent": None,
        "question": True,
        "body": "Why now?",
    }
    verify_ledger_from_cli(ctx)


def test_a_refused_comment_change_writes_no_ledger_entry(ctx: Flask) -> None:
    d = open_discussion()
    first = comment(d.member, d.proposal)
    before = last_ledger_id()
    for refused in (
        lambda: hide_comment(d.member, first, "No", utcnow()),
        lambda: delete_comment(d.circle_member, first, utcnow()),
        lambda: edit_comment(d.circle_member, first, "Mine now", utcnow()),
        lambda: add_comment(d.outsider, d.proposal, "Hi", parent_id=None, question=False, now=utcnow()),
        lambda: set_following(d.outsider, d.proposal, True, utcnow()),
    ):
        with pytest.raises(PermissionDenied):
            refused()
        db.session.rollback()
    assert actions_after(before) == []


# --- comments, replies and questions --------------------------------------------------------------------------------


def test_a_comment_is_written_against_the_current_version(ctx: Flask) -> None:
    d = open_discussion("deliberation")
    early = comment(d.member, d.proposal, "On the first version")
    update_proposal(d.author, d.proposal, sample_proposal(amount_minor=1_000), change_note="Cheaper", now=utcnow())
    db.session.commit()
    late = comment(d.member, d.proposal, "On the amendment")
    assert (early.version_number, late.version_number) == (1, 2)


def test_replies_nest_one_level_only_and_stay_within_their_proposal(ctx: Flask) -> None:
    d = open_discussion()
    top = comment(d.member, d.proposal)
    reply = comment(d.circle_member, d.proposal, "Agreed.", parent_id=top.id)
    with pytest.raises(ValidationFailed) as deeper:
        add_comment(d.author, d.proposal, "Deeper", parent_id=reply.id, question=False, now=utcnow())
    assert deeper.value.fields == {"parent_id": ["Reply to the comment that started the thread."]}
    db.session.rollback()
    other = make_proposal(d.round, d.member, title="Other")
    with pytest.raises(ValidationFailed) as elsewhere:
        add_comment(d.author, other, "Wrong thread", parent_id=top.id, question=False, now=utcnow())
    assert list(elsewhere.value.fields) == ["parent_id"]
    db.session.rollback()
    with pytest.raises(ValidationFailed) as unknown:
        add_comment(d.author, d.proposal, "Nobody", parent_id=10**6, question=False, now=utcnow())
    assert list(unknown.value.fields) == ["parent_id"]
    db.session.rollback()
    with pytest.raises(ValidationFailed) as question_reply:
        add_comment(d.author, d.proposal, "Q?", parent_id=top.id, question=True, now=utcnow())
    assert list(question_reply.value.fields) == ["question"]


@pytest.mark.parametrize(("body", "message"), [("   ", "Write something first."), ("z" * 10_001, "Use at most 10,000")])
def test_an_empty_or_over_long_comment_is_refused_on_its_body(ctx: Flask, body: str, message: str) -> None:
    d = open_discussion()
    with pytest.raises(ValidationFailed) as refused:
        add_comment(d.member, d.proposal, body, parent_id=None, question=False, now=utcnow())
    assert list(refused.value.fields) == ["body"] and refused.value.message.startswith(message)


def test_a_withdrawn_proposals_discussion_is_closed(ctx: Flask) -> None:
    d = open_discussion()
    first = comment(d.member, d.proposal)
    withdraw_proposal(d.author, d.proposal, utcnow())
    db.session.commit()
    with pytest.raises(Conflict, match="withdrawn"):
        add_comment(d.member, d.proposal, "Still here?", parent_id=None, question=False, now=utcnow())
    db.session.rollback()
    with pytest.raises(Conflict):
        edit_comment(d.member, first, "Edited late", utcnow())


def test_open_questions_come_first_then_the_other_threads_oldest_first(ctx: Flask) -> None:
    d = open_discussion()
    plain = comment(d.member, d.proposal, "A remark")
    answered = comment(d.member, d.proposal, "Answered?", question=True)
    comment(d.author, d.proposal, "Yes.", parent_id=answered.id)
    open_one = comment(d.circle_member, d.proposal, "Open?", question=True)
    later = comment(d.treasurer, d.proposal, "Later remark")
    open_two = comment(d.member, d.proposal, "Also open?", question=True)
    hidden_question = comment(d.member, d.proposal, "Rude question?", question=True)
    hide_comment(d.moderator, hidden_question, "Rude", utcnow())
    db.session.commit()
    order = [thread.comment.id for thread in threads_of(d.proposal)]
    assert order == [open_one.id, open_two.id, plain.id, answered.id, later.id, hidden_question.id]
    assert [reply.body for reply, _ in threads_of(d.proposal)[3].replies] == ["Yes."]


# --- editing, deleting, hiding ----------------------------------------------------------------------------------------


def test_a_comment_can_be_edited_within_15_minutes_only(ctx: Flask) -> None:
    d = open_discussion()
    written = utcnow()
    mine = comment(d.member, d.proposal, "Frist!", now=written)
    edit_comment(d.member, mine, "First!", written + timedelta(minutes=14, seconds=59))
    db.session.commit()
    assert (mine.body, mine.body_html) == ("First!", "<p>First!</p>\n")
    assert mine.edited_at == written + timedelta(minutes=14, seconds=59)
    with pytest.raises(Conflict, match="15 minutes"):
        edit_comment(d.member, mine, "Third!", written + timedelta(minutes=15, seconds=1))
    db.session.rollback()
    assert mine.body == "First!"


def test_only_its_author_edits_or_deletes_a_comment(ctx: Flask) -> None:
    d = open_discussion()
    mine = comment(d.member, d.proposal)
    for other in (d.author, d.owner, d.moderator, d.circle_member):
        with pytest.raises(PermissionDenied):
            edit_comment(other, mine, "Changed by someone else", utcnow())
        with pytest.raises(PermissionDenied):
            delete_comment(other, mine, utcnow())
        db.session.rollback()


def test_a_deleted_comment_loses_its_text_but_the_ledger_keeps_it(ctx: Flask) -> None:
    d = open_discussion()
    mine = comment(d.member, d.proposal, "Something I regret")
    delete_comment(d.member, mine, utcnow())
    db.session.commit()
    stored = db.session.get(Comment, mine.id)
    assert stored is not None and stored.deleted_at is not None
    assert (stored.body, stored.body_html) == ("", "")
    created = db.session.scalars(
        select(LedgerEntry).where(LedgerEntry.action == "comment.created", LedgerEntry.subject_id == mine.id)
    ).one()
    assert created.data["body"] == "Something I regret"
    with pytest.raises(Conflict, match="deleted already"):
        delete_comment(d.member, mine, utcnow())
    db.session.rollback()
    with pytest.raises(Conflict):
        edit_comment(d.member, mine, "Back", utcnow())
    db.session.rollback()
    with pytest.raises(Conflict):
        hide_comment(d.owner, mine, "Too late", utcnow())


@pytest.mark.parametrize("who", ["author", "circle_member", "member", "treasurer", "outsider"])
def test_only_circle_admins_can_hide_a_comment(ctx: Flask, who: str) -> None:
    d = open_discussion()
    target = comment(d.member, d.proposal, "Borderline")
    with pytest.raises(PermissionDenied):
        hide_comment(getattr(d, who), target, "Because", utcnow())


@pytest.mark.parametrize("who", ["owner", "moderator"])
def test_a_circle_admin_hides_a_comment_with_a_reason(ctx: Flask, who: str) -> None:
    d = open_discussion()
    target = comment(d.member, d.proposal, "Borderline")
    with pytest.raises(ValidationFailed) as no_reason:
        hide_comment(getattr(d, who), target, "  ", utcnow())
    assert list(no_reason.value.fields) == ["reason"]
    db.session.rollback()
    hide_comment(getattr(d, who), target, "Personal attack", utcnow())
    db.session.commit()
    assert (target.hidden_reason, target.hidden_by_id) == ("Personal attack", getattr(d, who).id)
    assert target.body == "Borderline"  # kept, only not shown
    with pytest.raises(Conflict):
        hide_comment(getattr(d, who), target, "Again", utcnow())
    db.session.rollback()
    with pytest.raises(Conflict):
        edit_comment(d.member, target, "Softer now", utcnow())


# --- following ----------------------------------------------------------------------------------------------------


def test_an_author_follows_their_proposal_and_members_can_follow_and_unfollow(ctx: Flask) -> None:
    d = open_discussion()
    assert is_following(d.author, d.proposal)
    assert not is_following(d.member, d.proposal)
    assert set_following(d.member, d.proposal, True, utcnow()) is True
    db.session.commit()
    assert is_following(d.member, d.proposal)
    assert set_following(d.member, d.proposal, False, utcnow()) is True
    db.session.commit()
    assert not is_following(d.member, d.proposal)
    assert db.session.scalar(select(func.count()).select_from(ProposalFollow)) == 1


# --- e-mail notices ---------------------------------------------------------------------------------------------------

BASE_URL = "https://fund.example.org"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with running_smtp() as server:
        yield server


@pytest.fixture
def mail_app(make_app: Any, smtp: tuple[int, Inbox]) -> Flask:
    port, _ = smtp
    app: Flask = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, BASE_URL=BASE_URL)
    return app


@pytest.fixture
def inbox(smtp: tuple[int, Inbox]) -> Inbox:
    return smtp[1]


@dataclass
class Ids:
    round: int
    proposal: int
    emails: dict[str, str]


def ids_of(d: Discussion) -> Ids:
    emails = {
        key: getattr(d, key).email
        for key in ("owner", "author", "circle_member", "member", "treasurer", "moderator", "outsider")
    }
    return Ids(d.round.id, d.proposal.id, emails)


def logged_in(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def post_comment(client: Client, proposal_id: int, body: str, **fields: str) -> int:
    response = client.post_form(f"/proposals/{proposal_id}/comments", {"body": body, **fields})
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.location.rsplit("#comment-", 1)[1])


def test_a_new_comment_notifies_the_author_and_followers_but_not_the_commenter(
    app: Flask, mail_app: Flask, inbox: Inbox
) -> None:
    with app.app_context():
        d = open_discussion(author="Ana", circle_member="Bea")
        set_following(d.treasurer, d.proposal, True, utcnow())
        set_following(d.circle_member, d.proposal, True, utcnow())
        db.session.commit()
        ids = ids_of(d)
    client = logged_in(mail_app, ids.emails["circle_member"])
    deliver_waiting(mail_app)
    inbox.clear()
    comment_id = post_comment(client, ids.proposal, "Who keeps the **seeds** dry?")
    assert inbox.recipients() == sorted([ids.emails["author"], ids.emails["treasurer"]])
    for message in inbox.messages:
        assert message["Subject"] == "New comment on “Seed library”"
        body = body_of(message)
        assert "Bea wrote:" in body and "Who keeps the **seeds** dry?" in body
        assert f"{BASE_URL}/proposals/{ids.proposal}#comment-{comment_id}" in body


def test_a_reply_notifies_the_parent_comments_author_once(app: Flask, mail_app: Flask, inbox: Inbox) -> None:
    with app.app_context():
        d = open_discussion(member="Mo", circle_member="Bea")
        set_following(d.member, d.proposal, True, utcnow())  # also a follower: still one e-mail
        parent = comment(d.member, d.proposal, "I like it.")
        ids, parent_id = ids_of(d), parent.id
    client = logged_in(mail_app, ids.emails["circle_member"])
    deliver_waiting(mail_app)
    inbox.clear()
    post_comment(client, ids.proposal, "Me too.", parent_id=str(parent_id))
    assert inbox.subjects_to(ids.emails["member"]) == ["Bea replied to you on “Seed library”"]
    assert inbox.subjects_to(ids.emails["author"]) == ["New comment on “Seed library”"]
    assert inbox.to(ids.emails["circle_member"]) == []
    assert len(inbox.messages) == 2


def test_the_authors_reply_answers_an_open_question_and_tells_who_asked(
    app: Flask, mail_app: Flask, inbox: Inbox
) -> None:
    with app.app_context():
        d = open_discussion(author="Ana", member="Mo")
        question = comment(d.member, d.proposal, "How much are the shelves?", question=True)
        ids, question_id = ids_of(d), question.id
    client = logged_in(mail_app, ids.emails["author"])
    deliver_waiting(mail_app)
    inbox.clear()
    post_comment(client, ids.proposal, "About 80 EUR.", parent_id=str(question_id))
    assert inbox.subjects_to(ids.emails["member"]) == ["Your question on “Seed library” was answered"]
    assert "Ana wrote:" in body_of(inbox.to(ids.emails["member"])[0])
    assert inbox.to(ids.emails["author"]) == []
    assert len(inbox.messages) == 1
    with mail_app.app_context():
        stored = db.session.get(Comment, question_id)
        assert stored is not None and stored.answered_at is not None
        assert db.session.scalar(select(LedgerEntry.action).order_by(LedgerEntry.id.desc()).limit(1)) == (
            "comment.question_answered"
        )


def test_a_phase_change_notifies_circle_members_and_authors_of_submitted_proposals(
    app: Flask, mail_app: Flask, inbox: Inbox
) -> None:
    """The circle member and the proposal's author hear of it; the community member without a proposal, the
    treasurer, the admin-only moderator and the outsider do not."""
    with app.app_context():
        ids = ids_of(open_discussion())
    client = logged_in(mail_app, ids.emails["owner"])
    deliver_waiting(mail_app)
    inbox.clear()
    response = client.post_form(f"/rounds/{ids.round}/advance", {"to": "deliberation"})
    assert response.status_code == 302
    assert inbox.recipients() == sorted([ids.emails["circle_member"], ids.emails["author"]])
    for message in inbox.messages:
        assert message["Subject"] == "Spring micro-grants: now deliberation"
        body = body_of(message)
        assert "is now: Deliberation" in body and f"{BASE_URL}/rounds/{ids.round}" in body


def _due_discussion(app: Flask) -> Ids:
    with app.app_context():
        d = open_discussion()
        d.round.proposals_close_at = utcnow() - timedelta(minutes=1)
        db.session.commit()
        return ids_of(d)


def test_rounds_tick_e_mails_the_phase_changes_it_makes(app: Flask, make_app: Any, smtp: tuple[int, Inbox]) -> None:
    port, inbox = smtp
    ids = _due_discussion(app)
    mail_app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    deliver_waiting(mail_app)
    inbox.clear()
    result = mail_app.test_cli_runner().invoke(args=["rounds", "tick"])
    assert result.exit_code == 0, result.output
    assert inbox.recipients() == sorted([ids.emails["circle_member"], ids.emails["author"]])
    assert {message["Subject"] for message in inbox.messages} == {"Spring micro-grants: now deliberation"}
    assert f"/rounds/{ids.round}" in body_of(inbox.messages[0])


def test_rounds_tick_with_a_base_url_links_the_round_under_that_address(
    app: Flask, mail_app: Flask, inbox: Inbox
) -> None:
    """Behind a proxy BASE_URL is set; the command has no request to build links from."""
    ids = _due_discussion(app)
    deliver_waiting(mail_app)
    inbox.clear()
    result = mail_app.test_cli_runner().invoke(args=["rounds", "tick"])
    assert result.exit_code == 0, result.output
    assert result.output.endswith("1 round(s) moved on.\n")
    assert inbox.recipients() == sorted([ids.emails["circle_member"], ids.emails["author"]])
    assert f"{BASE_URL}/rounds/{ids.round}" in body_of(inbox.messages[0])


def test_a_page_request_after_a_deadline_e_mails_nobody_and_the_next_rounds_tick_tells_the_circle(
    app: Flask, mail_app: Flask, inbox: Inbox
) -> None:
    """The phase change is the tick's: a page only shows the phase the deadline put the round in."""
    ids = _due_discussion(app)
    client = logged_in(mail_app, ids.emails["member"])
    deliver_waiting(mail_app)
    inbox.clear()
    page = client.get(f"/rounds/{ids.round}")
    assert page.status_code == 200 and "Now: Deliberation" in page.get_data(as_text=True)
    assert inbox.messages == []
    result = mail_app.test_cli_runner().invoke(args=["rounds", "tick"])
    assert result.exit_code == 0, result.output
    assert inbox.recipients() == sorted([ids.emails["circle_member"], ids.emails["author"]])


def test_a_person_who_turned_notices_off_gets_no_e_mail(app: Flask, mail_app: Flask, inbox: Inbox) -> None:
    with app.app_context():
        d = open_discussion()
        for person in (d.circle_member, d.member):
            person.email_notices = False
        question = comment(d.member, d.proposal, "Why?", question=True)
        ids, question_id = ids_of(d), question.id
    author = logged_in(mail_app, ids.emails["author"])
    assert author.post_form("/profile/notices", {}).status_code == 302  # the box unticked: notices off
    owner = logged_in(mail_app, ids.emails["owner"])
    deliver_waiting(mail_app)
    inbox.clear()
    post_comment(author, ids.proposal, "Because.", parent_id=str(question_id))  # answers the member's question
    post_comment(owner, ids.proposal, "Noted.")  # the author follows
    assert owner.post_form(f"/rounds/{ids.round}/advance", {"to": "deliberation"}).status_code == 302
    assert inbox.messages == []


def test_a_failing_mail_server_never_fails_the_request(make_app: Any) -> None:
    app: Flask = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())  # nothing listens there
    with app.app_context():
        d = open_discussion()
        question = comment(d.member, d.proposal, "Why?", question=True)
        ids, question_id = ids_of(d), question.id
    member = logged_in(app, ids.emails["circle_member"])
    comment_id = post_comment(member, ids.proposal, "A comment that the author should hear about.")
    author = logged_in(app, ids.emails["author"])
    post_comment(author, ids.proposal, "Because.", parent_id=str(question_id))
    owner = logged_in(app, ids.emails["owner"])
    assert owner.post_form(f"/rounds/{ids.round}/advance", {"to": "deliberation"}).status_code == 302
    with app.app_context():
        assert db.session.get(Comment, comment_id) is not None
        stored_question = db.session.get(Comment, question_id)
        assert stored_question is not None and stored_question.answered_at is not None
        round_ = db.session.get(Round, ids.round)
        assert round_ is not None and round_.phase == "deliberation"
    page = member.get(f"/proposals/{ids.proposal}")
    assert page.status_code == 200 and "A comment that the author should hear about." in page.get_data(as_text=True)


def test_a_rolled_back_change_sends_nothing_and_a_committed_one_sends_after_the_commit(
    app: Flask, make_app: Any, smtp: tuple[int, Inbox]
) -> None:
    port, inbox = smtp
    with app.app_context():
        ids = ids_of(open_discussion())
    mail_app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    deliver_waiting(mail_app)
    inbox.clear()
    with mail_app.app_context():
        proposal = db.session.get(Proposal, ids.proposal)
        member, treasurer = (
            db.session.scalars(select(User).where(User.email == ids.emails[key])).one()
            for key in ("member", "treasurer")
        )
        assert proposal is not None
        add_comment(member, proposal, "Never happened", parent_id=None, question=False, now=utcnow())
        db.session.rollback()
        set_following(treasurer, proposal, True, utcnow())  # an unrelated change that does commit
        db.session.commit()
        run_ready_work()
        assert inbox.messages == []

        add_comment(member, proposal, "This one happened", parent_id=None, question=False, now=utcnow())
        assert inbox.messages == []  # nothing before the commit
        db.session.commit()
        run_ready_work()
        assert len(inbox.messages) == 2
        assert inbox.recipients() == sorted([ids.emails["author"], ids.emails["treasurer"]])
        assert all("This one happened" in body_of(message) for message in inbox.messages)


def test_a_refused_comment_through_the_page_sends_nothing(app: Flask, mail_app: Flask, inbox: Inbox) -> None:
    with app.app_context():
        d = open_discussion()
        top = comment(d.member, d.proposal, "Top")
        reply = comment(d.circle_member, d.proposal, "Reply", parent_id=top.id)
        ids, reply_id = ids_of(d), reply.id
    client = logged_in(mail_app, ids.emails["treasurer"])
    deliver_waiting(mail_app)
    inbox.clear()
    response = client.post_form(f"/proposals/{ids.proposal}/comments", {"body": "Too deep", "parent_id": str(reply_id)})
    assert response.status_code == 422
    assert inbox.messages == []
