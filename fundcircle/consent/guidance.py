"""What the round page says about where a round stands: the turnout, what is still open, and the "what happens now"
panel for the person looking (member, author, facilitator, treasurer), in every phase and for every method.

It lives in the consent area because this is the highest area that decides rounds: it sees the proposals, the
discussion, the ballots (voting) and the consent rounds, which the round page's own area (rounds) must not import.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import url_for
from flask_babel import gettext, ngettext
from flask_login import current_user
from sqlalchemy import func, select

from fundcircle.access import has_role
from fundcircle.consent import services
from fundcircle.consent.models import ConsentAnswer, ConsentRound
from fundcircle.consent.rules import quorum_count
from fundcircle.deliberation.models import Comment
from fundcircle.extensions import db
from fundcircle.i18n import moment_text
from fundcircle.proposals.authorship import authored_by
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.rounds.models import Round
from fundcircle.rounds.phases import COUNTING
from fundcircle.rounds.views import round_progress
from fundcircle.rounds.words import phase_name, phase_word
from fundcircle.voting.services import ballot_of, circle_members, turnout


@dataclass(frozen=True)
class Step:
    """Something the person can do now: words, and where to do it (None: nothing to click)."""

    text: str
    url: str | None = None
    link: str = ""


@dataclass
class WhatNow:
    """The "what happens now" panel: what I can do (by role), what we are waiting for, when it ends."""

    can: list[Step] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    ends: str = ""


def _quoted(title: str) -> str:
    return gettext("“%(title)s”", title=title)


def _turnout(round_: Round, phase: str) -> dict[str, Any] | None:
    """Who has decided so far, of the circle members who decide: ballots, or members who answered at least one of
    the round's consent rounds. None before deciding, when there is nothing to count."""
    if phase not in ("deciding", COUNTING, "decided", "closed"):
        return None
    members = circle_members(round_.circle_id)
    if round_.method == "consent":
        done = (
            db.session.scalar(
                select(func.count(func.distinct(ConsentAnswer.user_id)))
                .join(ConsentRound, ConsentRound.id == ConsentAnswer.consent_round_id)
                .where(ConsentRound.round_id == round_.id, ConsentAnswer.user_id.in_(members))
            )
            or 0
        )
        eligible = db.session.scalar(select(func.count()).select_from(members.subquery())) or 0
        verb = "answered a consent round"
    else:
        done, eligible = turnout(round_)
        verb = "voted"
    return {
        "done": done,
        "of": eligible,
        "verb": verb,
        "consent": round_.method == "consent",
        "quorum": quorum_count(eligible, round_.quorum_percent),
    }


def _proposal_counts(round_: Round) -> dict[str, int]:
    rows = db.session.execute(
        select(Proposal.status, func.count()).where(Proposal.round_id == round_.id).group_by(Proposal.status)
    ).all()
    return {status: count for status, count in rows}


def _open_questions(round_: Round) -> int:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Comment)
            .join(Proposal, Proposal.id == Comment.proposal_id)
            .where(
                Proposal.round_id == round_.id,
                Proposal.status == "submitted",
                Comment.is_question.is_(True),
                Comment.answered_at.is_(None),
                Comment.deleted_at.is_(None),
                Comment.hidden_at.is_(None),
            )
        )
        or 0
    )


def _my_proposals(round_: Round, user_id: int) -> list[tuple[int, str, str]]:
    """(id, title, status) of the proposals in the round the person authors (co-authors too), not withdrawn."""
    rows = db.session.execute(
        select(Proposal.id, ProposalVersion.title, Proposal.status)
        .join(
            ProposalVersion,
            (ProposalVersion.proposal_id == Proposal.id) & (ProposalVersion.number == Proposal.current_version),
        )
        .where(Proposal.round_id == round_.id, authored_by(user_id), Proposal.status != "withdrawn")
        .order_by(Proposal.id)
    ).all()
    return [(proposal_id, title, status) for proposal_id, title, status in rows]


def _open_items(
    round_: Round, phase: str, counts: dict[str, int], statuses: list[services.ProposalConsentStatus]
) -> list[str]:
    """What is still open in the phase, and what moving on does to it, in sentences for the facilitator."""
    items: list[str] = []
    submitted, drafts = counts.get("submitted", 0), counts.get("draft", 0)
    if phase in ("draft", "proposals", "deliberation"):
        items.append(
            gettext("No proposal is submitted yet.")
            if submitted == 0
            else ngettext("%(num)d proposal submitted.", "%(num)d proposals submitted.", submitted)
        )
    if phase in ("proposals", "deliberation") and drafts:
        items.append(
            ngettext(
                "%(num)d proposal is still a draft: a draft that is not submitted takes no part in the decision.",
                "%(num)d proposals are still a draft: a draft that is not submitted takes no part in the decision.",
                drafts,
            )
        )
    if phase == "deliberation" and (questions := _open_questions(round_)):
        items.append(
            ngettext(
                "%(num)d question to an author still unanswered.",
                "%(num)d questions to an author still unanswered.",
                questions,
            )
        )
    if phase in ("deciding", COUNTING) and round_.method != "consent":
        cast, eligible = turnout(round_)
        if eligible - cast:
            missing = eligible - cast
            items.append(
                ngettext(
                    "%(num)d circle member has not voted yet.", "%(num)d circle members have not voted yet.", missing
                )
            )
    for status in statuses if phase in ("deciding", COUNTING) else []:
        title = _quoted(status.title)
        if status.state == "not_opened":
            items.append(
                gettext("%(title)s has had no consent round: unless one is held, it is not funded.", title=title)
            )
        elif status.state == "open":
            items.append(
                gettext(
                    "The consent round on %(title)s is open: %(answered)s. Moving on closes it with the answers it "
                    "has.",
                    title=title,
                    answered=_answered_words(status),
                )
            )
        elif status.state == "amended":
            items.append(
                gettext(
                    "%(title)s was amended (version %(version)s) and waits for a new consent round.",
                    title=title,
                    version=status.current_version,
                )
            )
        elif status.awaits_amendment:
            items.append(
                gettext(
                    "%(title)s is not consented (%(reason)s): the author may amend it for a new consent round.",
                    title=title,
                    reason=status.reason,
                )
            )
    return items


def _answered_words(status: services.ProposalConsentStatus) -> str:
    """ "nobody has answered yet, 0 of 3" rather than "waiting for 2 of 3" while nobody has answered."""
    if status.answered == 0:
        return gettext("nobody has answered yet, 0 of %(size)s", size=status.circle_size)
    return gettext("%(answered)s of %(size)s answered", answered=status.answered, size=status.circle_size)


def _ends(round_: Round, phase: str) -> str:
    deadline = round_.deadline_of(phase)
    if phase in ("proposals", "deliberation", "deciding"):
        if deadline is not None:
            return gettext(
                "%(phase)s ends %(time)s.", phase=phase_name(phase), time=moment_text(deadline, round_.circle.time_zone)
            )
        return gettext(
            "%(phase)s has no deadline: it ends when the facilitator moves the round on.", phase=phase_name(phase)
        )
    return {
        "draft": gettext("The round starts when the facilitator opens it for proposals."),
        COUNTING: gettext("The result is published when the round is counted."),
        "decided": gettext("The round closes once every payout is paid, rejected or cancelled."),
        "closed": gettext("The round is over."),
        "cancelled": gettext("The round was cancelled."),
    }.get(phase, "")


def what_happens_now(
    round_: Round, phase: str, counts: dict[str, int], statuses: list[services.ProposalConsentStatus]
) -> WhatNow:
    """The panel for the person looking, by the roles they hold in the circle and the phase."""
    panel = WhatNow(ends=_ends(round_, phase))
    admin, decider, treasurer = has_role("admin"), has_role("circle"), has_role("treasurer")
    member = decider or has_role("member")
    user_id = getattr(current_user, "id", None)
    mine = _my_proposals(round_, user_id) if user_id is not None else []
    round_url = url_for("rounds.view", round_id=round_.id)

    def proposal_url(proposal_id: int) -> str:
        return url_for("proposals.view", proposal_id=proposal_id)

    if phase == "draft":
        if admin:
            panel.can.append(
                Step(
                    gettext("Check the settings."), url_for("rounds.edit", round_id=round_.id), gettext("Edit settings")
                )
            )
            panel.can.append(
                Step(
                    gettext("Open the round when it is ready: members can then write proposals."),
                    url_for("rounds.advance", round_id=round_.id, to="proposals"),
                    gettext("Open for proposals"),
                )
            )
        panel.waiting.append(gettext("The facilitator opens the round for proposals."))
    elif phase == "proposals":
        if member and len(mine) < round_.max_proposals_per_member:
            panel.can.append(
                Step(
                    gettext("Write a proposal."),
                    url_for("proposals.create", round_id=round_.id),
                    gettext("Write a proposal"),
                )
            )
        for proposal_id, title, status in mine:
            if status == "draft":
                panel.can.append(
                    Step(
                        gettext("Your draft %(title)s is not submitted yet: submit it.", title=_quoted(title)),
                        proposal_url(proposal_id),
                        gettext("Open your draft"),
                    )
                )
            else:
                panel.can.append(
                    Step(
                        gettext("You can still edit %(title)s.", title=_quoted(title)),
                        proposal_url(proposal_id),
                        gettext("Your proposal"),
                    )
                )
        if member:
            panel.can.append(
                Step(gettext("Read the others' proposals and comment."), round_url + "#proposals", gettext("Proposals"))
            )
        panel.waiting.append(gettext("Members write and submit their proposals."))
    elif phase == "deliberation":
        if member:
            panel.can.append(
                Step(
                    gettext("Ask questions and comment on the proposals."),
                    round_url + "#proposals",
                    gettext("Proposals"),
                )
            )
        for proposal_id, title, _ in mine:
            panel.can.append(
                Step(
                    gettext("Answer questions on %(title)s, and amend it if that helps.", title=_quoted(title)),
                    proposal_url(proposal_id),
                    gettext("Your proposal"),
                )
            )
        panel.waiting.append(gettext("The circle talks the proposals through; then deciding starts."))
    elif phase == "deciding" and round_.method != "consent":
        if decider:
            voted = user_id is not None and ballot_of(current_user, round_) is not None
            panel.can.append(
                Step(
                    gettext("Voting is open. You have voted; you can change your ballot until voting closes.")
                    if voted
                    else gettext("Voting is open. Fill in your ballot: it takes a few minutes."),
                    url_for("voting.ballot", round_id=round_.id),
                    gettext("Change your ballot") if voted else gettext("Fill in your ballot"),
                )
            )
        cast, eligible = turnout(round_)
        panel.waiting.append(
            gettext("Circle members vote: %(cast)s of %(eligible)s have voted so far.", cast=cast, eligible=eligible)
        )
    elif phase == "deciding":
        _consent_steps(panel, statuses, decider=decider, admin=admin, user_id=user_id)
    elif phase == COUNTING:
        panel.waiting.append(gettext("Deciding has closed; the result is counted and published next."))
    elif phase in ("decided", "closed"):
        panel.can.append(
            Step(
                gettext("See how the round was decided."),
                url_for("voting.results", round_id=round_.id),
                gettext("See the results"),
            )
        )
        if phase == "decided":
            if treasurer:
                panel.can.append(
                    Step(
                        gettext("Approve the payouts of the funded proposals."),
                        url_for("payouts.treasury", circle_id=round_.circle_id),
                        gettext("Open the treasury"),
                    )
                )
            panel.waiting.append(gettext("Treasurers approve the payouts; the round closes once every one is settled."))
    if admin and phase in ("proposals", "deliberation", "deciding", COUNTING, "decided"):
        next_phase = {"proposals": "deliberation", "deliberation": "deciding", "deciding": "decided",
                      COUNTING: "decided", "decided": "closed"}[phase]  # fmt: skip
        panel.can.append(
            Step(
                gettext(
                    "As facilitator, move the round on to %(phase)s when it is time: the move asks first, with the "
                    "turnout and what is still open.",
                    phase=phase_word(next_phase),
                ),
                round_url + "#facilitate",
                gettext("Facilitate"),
            )
        )
    if treasurer and phase not in ("decided", "closed", "cancelled"):
        panel.can.append(Step(gettext("Nothing for a treasurer yet: payouts come once the round is decided.")))
    if not panel.can:
        panel.can.append(Step(gettext("Nothing for you to do in this phase; you can read everything here.")))
    return panel


def _consent_steps(
    panel: WhatNow, statuses: list[services.ProposalConsentStatus], *, decider: bool, admin: bool, user_id: int | None
) -> None:
    """The consent phase's steps: answer what is open, amend what an objection stopped, open what has no round."""

    def consent_url(status: services.ProposalConsentStatus) -> str:
        return url_for("consent.view", consent_round_id=status.consent_round_id)

    if not statuses:
        panel.waiting.append(gettext("There is no submitted proposal to decide."))
    for status in statuses:
        title = _quoted(status.title)
        if status.state == "open" and decider and not status.answered_by_me:
            panel.can.append(
                Step(
                    gettext("Answer the consent round on %(title)s.", title=title),
                    consent_url(status),
                    gettext("Answer now"),
                )
            )
        if status.awaits_amendment and user_id in status.author_ids:
            panel.can.append(
                Step(
                    gettext(
                        "%(title)s is not consented (%(reason)s): amend it to integrate the objection, with a note "
                        "on how; the facilitator then opens a new consent round.",
                        title=title,
                        reason=status.reason,
                    ),
                    url_for("proposals.edit", proposal_id=status.proposal_id),
                    gettext("Amend your proposal"),
                )
            )
        if admin and status.state in ("not_opened", "amended"):
            panel.can.append(
                Step(
                    gettext(
                        "Open a consent round on %(title)s (version %(version)s).",
                        title=title,
                        version=status.current_version,
                    ),
                    url_for("proposals.view", proposal_id=status.proposal_id) + "#consent",
                    gettext("Open a consent round"),
                )
            )
        if admin and status.state == "open":
            panel.can.append(
                Step(
                    gettext(
                        "Close the consent round on %(title)s once everyone has answered (%(answered)s).",
                        title=title,
                        answered=_answered_words(status),
                    ),
                    consent_url(status),
                    gettext("The consent round"),
                )
            )
        if admin and status.state == "objection":
            panel.waiting.append(
                gettext("The author of %(title)s amends it; then you reopen it with a new consent round.", title=title)
            )
        if status.state == "open":
            panel.waiting.append(
                gettext("Answers on %(title)s: %(answered)s.", title=title, answered=_answered_words(status))
            )
    if statuses and all(status.state == "consented" for status in statuses):
        panel.waiting.append(gettext("Every proposal is consented; the facilitator can move the round on to decided."))


@round_progress.part
def progress_of_round(round_: Round, phase: str) -> dict[str, Any]:
    """The turnout, the open items and the "what happens now" panel, for the round page and the confirmation."""
    statuses = (
        services.consent_statuses(round_, current_user)
        if round_.method == "consent" and phase in ("deciding", COUNTING, "decided", "closed")
        else []
    )
    counts = _proposal_counts(round_)
    return {
        "turnout": _turnout(round_, phase),
        "open_items": _open_items(round_, phase, counts, statuses),
        "what_now": what_happens_now(round_, phase, counts, statuses),
        "consent_statuses": statuses,
    }
