"""Use cases for the discussion of proposals: comments, questions and answers, moderation, following.
Services check role and phase, write the ledger, queue notices, flush, and never commit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import format_number, gettext
from sqlalchemy import Select, Subquery, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager

from fundcircle.auth.models import User
from fundcircle.circles.services import membership_of, require_role
from fundcircle.db import compare_and_set, lock
from fundcircle.deliberation.models import Comment, ProposalFollow
from fundcircle.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.hooks import Registry
from fundcircle.i18n import in_language
from fundcircle.ledger.record import record
from fundcircle.mail import external_url
from fundcircle.markdown import render_markdown, too_many_lines
from fundcircle.notices import queue_notice
from fundcircle.proposals.authorship import is_author
from fundcircle.proposals.coauthors import coauthor_accepted, recipient_language
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.proposals.services import deadline_text, phase_word, proposal_created, row_counts
from fundcircle.rounds.phases import is_before

MAX_COMMENT = 10_000
EDIT_WINDOW = timedelta(minutes=15)
DISCUSSION_PHASES = ("proposals", "deliberation")

#: Who may still discuss a proposal while its round is deciding, by decision method: consent keeps the discussion
#: open for the proposal's author and its objectors, so that an objection is talked through in full words and
#: integrated in an amendment. A method with no entry closes every discussion when deciding starts.
discussion_while_deciding: Registry[Callable[[Proposal, User], bool]] = Registry("discussion while deciding")


def may_discuss(actor: User, proposal: Proposal, phase: str) -> bool:
    """Whether `actor` may comment on the proposal in `phase` (the phase the round really is in)."""
    if proposal.status == "withdrawn":
        return False
    if phase in DISCUSSION_PHASES:
        return True
    method = proposal.round.method
    return (
        phase == "deciding"
        and method in discussion_while_deciding
        and discussion_while_deciding[method](proposal, actor)
    )


def _check_body(body: str) -> str:
    text = body.strip()
    if not text:
        raise ValidationFailed(gettext("Write something first."), field="body")
    if len(text) > MAX_COMMENT:
        raise ValidationFailed(
            gettext(
                "Use at most %(most)s characters (this has %(count)s).",
                most=format_number(MAX_COMMENT),
                count=format_number(len(text)),
            ),
            field="body",
        )
    if (problem := too_many_lines(text)) is not None:
        raise ValidationFailed(problem, field="body")
    return text


def _require_open_discussion(proposal: Proposal, now: datetime, actor: User) -> None:
    """Comments while the round really is open for proposals or in deliberation: not after the deliberation
    deadline, though `rounds tick` has not moved the round on yet. While deciding, those the decision method names
    (a consent round's author and objectors) go on discussing.

    Locks the round and then the proposal (the order every writer takes them in, the phase change included) and
    reads both again, so a comment sent as the round moves on is stored before the move or refused after it."""
    round_ = lock(proposal.round)
    lock(proposal)
    if proposal.status == "withdrawn":
        raise Conflict(gettext("This proposal was withdrawn; its discussion is closed."))
    phase = round_.phase_at(now)
    if phase == "deciding" and round_.method in discussion_while_deciding and not may_discuss(actor, proposal, phase):
        raise Conflict(
            gettext(
                "While the circle decides, the discussion stays open only for the proposal's author and those who "
                "objected to it, to work an objection out. Share a short reaction in the consent round instead."
            )
        )
    if phase not in DISCUSSION_PHASES and not may_discuss(actor, proposal, phase):
        closed = round_.passed_deadline("deliberation", now) if is_before("deliberation", phase) else None
        if closed is not None:
            raise Conflict(
                gettext("The discussion is closed: deliberation ended at %(time)s.", time=deadline_text(round_, closed))
            )
        raise Conflict(gettext("The discussion is closed: the round is in %(phase)s.", phase=phase_word(phase)))


def _title_of(proposal: Proposal) -> str:
    title = db.session.scalar(
        select(ProposalVersion.title).where(
            ProposalVersion.proposal_id == proposal.id, ProposalVersion.number == proposal.current_version
        )
    )
    return title or gettext("proposal %(id)s", id=proposal.id)


def _notify_about_comment(actor: User, comment: Comment, parent: Comment | None, answered: bool) -> None:
    """One notice per person: an answer to their question, else a reply to them, else a comment they follow."""
    proposal = comment.proposal
    link = external_url("proposals.view", proposal_id=proposal.id) + f"#comment-{comment.id}"
    excerpt = comment.body if len(comment.body) <= 500 else comment.body[:500] + "…"
    told: set[int] = {actor.id}
    if parent is not None and parent.author_id not in told and parent.deleted_at is None:
        with in_language(recipient_language(parent.author, proposal)):
            title = _title_of(proposal)
            subject = (
                gettext("Your question on “%(title)s” was answered", title=title)
                if answered
                else gettext("%(name)s replied to you on “%(title)s”", name=actor.name, title=title)
            )
            queue_notice(
                parent.author,
                subject,
                gettext("%(name)s wrote:", name=actor.name) + f"\n\n{excerpt}\n\n{link}\n",
                kind="comment.answered" if answered else "comment.replied",
                circle_id=proposal.round.circle_id,
                url=link,
            )
        told.add(parent.author_id)
    followers = db.session.scalars(
        select(User)
        .join(ProposalFollow, ProposalFollow.user_id == User.id)
        .where(ProposalFollow.proposal_id == proposal.id)
    )
    for follower in followers:
        if follower.id not in told:
            with in_language(recipient_language(follower, proposal)):
                queue_notice(
                    follower,
                    gettext("New comment on “%(title)s”", title=_title_of(proposal)),
                    gettext("%(name)s wrote:", name=actor.name) + f"\n\n{excerpt}\n\n{link}\n",
                    kind="comment.followed",
                    circle_id=proposal.round.circle_id,
                    url=link,
                )
            told.add(follower.id)


def add_comment(
    actor: User, proposal: Proposal, body: str, *, parent_id: int | None, question: bool, now: datetime
) -> Comment:
    """A member of the circle comments on a proposal, asks a question, or replies to a comment (one level deep),
    while the round is open for proposals or in deliberation. An author's reply (a co-author's too) to an open
    question answers it.

    :raises PermissionDenied: unless the actor is a member of the circle.
    :raises Conflict: if the discussion is closed (phase, or the proposal was withdrawn).
    :raises ValidationFailed: for an empty or over-long body, or a reply to a reply or to another proposal's comment.
    """
    if membership_of(actor, proposal.round.circle) is None:
        raise PermissionDenied(gettext("Only members of the circle can take part in the discussion."))
    _require_open_discussion(proposal, now, actor)
    text = _check_body(body)
    parent = None
    if parent_id is not None:
        parent = db.session.get(Comment, parent_id)
        if parent is None or parent.proposal_id != proposal.id:
            raise ValidationFailed(gettext("That comment is not in this proposal's discussion."), field="parent_id")
        if parent.parent_id is not None:
            raise ValidationFailed(gettext("Reply to the comment that started the thread."), field="parent_id")
        if question:
            raise ValidationFailed(gettext("A reply cannot be a question; ask it as a new comment."), field="question")
    comment = Comment(
        proposal_id=proposal.id,
        parent_id=parent_id,
        author_id=actor.id,
        version_number=proposal.current_version,
        body=text,
        body_html=render_markdown(text),
        is_question=question,
        created_at=now,
    )
    db.session.add(comment)
    db.session.flush()
    circle_id = proposal.round.circle_id
    record(
        "comment.created",
        actor=actor,
        circle_id=circle_id,
        subject=comment,
        data={
            "proposal": proposal.id,
            "version": comment.version_number,
            "parent": parent_id,
            "question": question,
            "body": text,
        },
        at=now,
    )
    answered = False
    if parent is not None and parent.is_question and parent.answered_at is None and is_author(proposal, actor):
        parent.answered_at = now
        answered = True
        record(
            "comment.question_answered",
            actor=actor,
            circle_id=circle_id,
            subject=parent,
            data={"proposal": proposal.id, "answer": comment.id},
            at=now,
        )
    _notify_about_comment(actor, comment, parent, answered)
    return comment


def get_comment(comment_id: int) -> Comment:
    comment = db.session.get(Comment, comment_id)
    if comment is None or comment.proposal.status == "draft":
        raise NotFound(gettext("There is no such comment."))
    return comment


def edit_comment(actor: User, comment: Comment, body: str, now: datetime) -> Comment:
    """The author corrects their comment within 15 minutes of writing it, while the discussion is open.

    :raises PermissionDenied: unless the actor wrote it.
    :raises Conflict: if it was deleted or hidden, the 15 minutes are over, or the discussion is closed.
    :raises ValidationFailed: for an empty or over-long body.
    """
    if comment.author_id != actor.id:
        raise PermissionDenied(gettext("Only the comment's author can edit it."))
    _require_open_discussion(comment.proposal, now, actor)
    lock(comment)  # an admin hiding it at the same moment: the edit waits, then sees it hidden
    if not comment.visible:
        raise Conflict(gettext("This comment was deleted or hidden and cannot be edited."))
    if now - comment.created_at > EDIT_WINDOW:
        raise Conflict(gettext("A comment can be edited for 15 minutes after it is written; write a new one instead."))
    text = _check_body(body)
    if text == comment.body:
        return comment
    old = comment.body
    comment.body, comment.body_html, comment.edited_at = text, render_markdown(text), now
    record(
        "comment.edited",
        actor=actor,
        circle_id=comment.proposal.round.circle_id,
        subject=comment,
        data={"proposal": comment.proposal_id, "from": old, "to": text},
        at=now,
    )
    return comment


def delete_comment(actor: User, comment: Comment, now: datetime) -> Comment:
    """The author deletes their comment: the page shows it as deleted; the ledger keeps what it said.

    :raises PermissionDenied: unless the actor wrote it.
    :raises Conflict: if it is deleted already.
    """
    if comment.author_id != actor.id:
        raise PermissionDenied(gettext("Only the comment's author can delete it."))
    compare_and_set(
        comment,
        expected=Comment.deleted_at.is_(None),
        values={"deleted_at": now, "body": "", "body_html": ""},
        conflict=Conflict(gettext("This comment is deleted already.")),
    )
    record(
        "comment.deleted",
        actor=actor,
        circle_id=comment.proposal.round.circle_id,
        subject=comment,
        data={"proposal": comment.proposal_id},
        at=now,
    )
    return comment


def hide_comment(actor: User, comment: Comment, reason: str, now: datetime) -> Comment:
    """A circle admin hides a comment, giving a reason that everybody sees and the ledger keeps.

    :raises PermissionDenied: unless the actor is an admin of the circle.
    :raises ValidationFailed: without a reason.
    :raises Conflict: if it is hidden or deleted already.
    """
    require_role(actor, comment.proposal.round.circle, "admin")
    text = reason.strip()
    if not text:
        raise ValidationFailed(
            gettext("Say why the comment is hidden; the circle will see the reason."), field="reason"
        )
    if len(text) > 1000:
        raise ValidationFailed(
            gettext("Keep the reason to %(most)s characters.", most=format_number(1000)), field="reason"
        )
    compare_and_set(
        comment,
        expected=Comment.hidden_at.is_(None) & Comment.deleted_at.is_(None),
        values={"hidden_at": now, "hidden_by_id": actor.id, "hidden_reason": text},
        conflict=Conflict(gettext("This comment is hidden or deleted already.")),
    )
    record(
        "comment.hidden",
        actor=actor,
        circle_id=comment.proposal.round.circle_id,
        subject=comment,
        data={"proposal": comment.proposal_id, "reason": text},
        at=now,
    )
    return comment


def is_following(user: User, proposal: Proposal) -> bool:
    return (
        db.session.scalar(
            select(ProposalFollow.user_id).where(
                ProposalFollow.user_id == user.id, ProposalFollow.proposal_id == proposal.id
            )
        )
        is not None
    )


@proposal_created.connect
def follow_silently(user: User, proposal: Proposal, now: datetime) -> None:
    """Make the author follow their own proposal, as part of creating it (its ledger entry says so)."""
    db.session.add(ProposalFollow(user_id=user.id, proposal_id=proposal.id, created_at=now))


@coauthor_accepted.connect
def coauthor_follows(user: User, proposal: Proposal, now: datetime) -> None:
    """A new co-author follows the proposal's discussion, as its author does, unless they follow it already (the
    co-authorship's ledger entry says they joined; following is part of it)."""
    if is_following(user, proposal):
        return
    try:
        with db.session.begin_nested():
            db.session.add(ProposalFollow(user_id=user.id, proposal_id=proposal.id, created_at=now))
    except IntegrityError:
        pass  # followed at the same moment: following it is what was wanted


def set_following(actor: User, proposal: Proposal, follow: bool, now: datetime) -> bool:
    """A member follows a proposal's discussion (e-mail notices of new comments), or stops following it.
    Returns whether anything changed.

    :raises PermissionDenied: unless the actor is a member of the circle.
    """
    if membership_of(actor, proposal.round.circle) is None:
        raise PermissionDenied(gettext("Only members of the circle can follow proposals."))
    if follow == is_following(actor, proposal):
        return False
    # The look-up above takes no lock: the write itself decides, so that a double click records one change, not two
    # (nor a unique violation).
    if follow:
        try:
            with db.session.begin_nested():
                db.session.add(ProposalFollow(user_id=actor.id, proposal_id=proposal.id, created_at=now))
        except IntegrityError:
            return False  # the same member's other click got there first
    elif not db.session.execute(
        delete(ProposalFollow).where(ProposalFollow.user_id == actor.id, ProposalFollow.proposal_id == proposal.id)
    ).rowcount:
        return False
    record(
        "proposal.followed" if follow else "proposal.unfollowed",
        actor=actor,
        circle_id=proposal.round.circle_id,
        subject=proposal,
        data={},
        at=now,
    )
    return True


@dataclass(frozen=True)
class Thread:
    """A top-level comment and its replies, as the proposal page shows them."""

    comment: Comment
    author_name: str
    replies: list[tuple[Comment, str]]


def threads_of(proposal: Proposal) -> list[Thread]:
    """The discussion in one query: open questions first, then the other threads, oldest first; replies in order."""
    rows = db.session.execute(
        select(Comment, User.name)
        .join(User, User.id == Comment.author_id)
        .where(Comment.proposal_id == proposal.id)
        .order_by(Comment.id)
    ).all()
    tops: dict[int, Thread] = {}
    replies: list[tuple[Comment, str]] = []
    for comment, name in rows:
        if comment.parent_id is None:
            tops[comment.id] = Thread(comment, name, [])
        else:
            replies.append((comment, name))
    for reply, name in replies:
        if reply.parent_id in tops:
            tops[reply.parent_id].replies.append((reply, name))

    def open_question_first(thread: Thread) -> tuple[int, int]:
        open_question = thread.comment.is_question and thread.comment.answered_at is None and thread.comment.visible
        return (0 if open_question else 1, thread.comment.id)

    return sorted(tops.values(), key=open_question_first)


def comments_page(proposal: Proposal, *, after: int, limit: int) -> list[Comment]:
    """A keyset page of a proposal's comments in id order, with their authors, in one query."""
    return list(
        db.session.scalars(
            select(Comment)
            .join(User, User.id == Comment.author_id)
            .options(contains_eager(Comment.author))
            .where(Comment.proposal_id == proposal.id, Comment.id > after)
            .order_by(Comment.id)
            .limit(limit)
        )
    )


@row_counts.connect
def comment_counts(proposal_ids: Select[Any]) -> Subquery:
    """Each listed proposal's visible comments (only those proposals' comments are counted)."""
    return (
        select(Comment.proposal_id, func.count().label("comments"))
        .where(Comment.deleted_at.is_(None), Comment.hidden_at.is_(None))
        .where(Comment.proposal_id.in_(proposal_ids))
        .group_by(Comment.proposal_id)
        .subquery()
    )
