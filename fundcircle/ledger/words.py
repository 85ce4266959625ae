"""Ledger entries in words a person reads ("Ana approved the payout of 250.00 EUR for 'Seed library'").
Pure: no Flask, no database; the caller passes the names and titles the words need."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fundcircle.money import CURRENCY_EXPONENTS, format_minor
from fundcircle.rounds.phases import PHASE_LABELS

#: What moved a round, as the phase-change entry's payload says it (`cause`, or the older `by`), beyond a person
#: (the entry's actor) and the deadline: the payouts (payouts/services.py).
CAUSE_PAYOUTS_SETTLED = "payouts_settled"
CAUSE_PAYOUT_REVERSED = "payout_reversed"


@dataclass(frozen=True)
class Names:
    users: Mapping[int, str]
    proposals: Mapping[int, str]
    currency: str | None = None
    rounds: Mapping[int, str] = field(default_factory=dict)


def _phase(name: Any) -> str:
    return PHASE_LABELS.get(str(name), str(name)).lower()


def phase_change_words(
    data: Mapping[str, Any], *, who: str | None, round_title: str, proposal_title: str | None
) -> str:
    """Who or what moved the round (a person, the deadline, the payouts all settled, a payout moved back), and
    which round (`round_title` as in the middle of a sentence: "the round “Spring”"). Entries written before the
    payload said its cause read from `by` (admin, deadline, payouts)."""
    start = round_title[0].upper() + round_title[1:]
    moved = f"from {_phase(data.get('from'))} to {_phase(data.get('to'))}"
    cause = data.get("cause")
    if cause is None and data.get("by") == "payouts":
        cause = CAUSE_PAYOUTS_SETTLED if data.get("to") == "closed" else CAUSE_PAYOUT_REVERSED
    if cause == CAUSE_PAYOUTS_SETTLED:
        return f"{start} closed by itself: every payout was paid, rejected or cancelled"
    if cause == CAUSE_PAYOUT_REVERSED:
        payout = f"the payout for {proposal_title}" if proposal_title else "a settled payout"
        return f"{start} is decided again, no longer closed: {payout} moved back on Open Collective"
    if who is not None:
        return f"{who} moved {round_title} {moved}"
    return f"The deadline passed, so {round_title} moved {moved}"


#: Open Collective's expense statuses in words (its codes, such as SCHEDULED_FOR_PAYMENT, are not for members).
EXPENSE_STATUS_WORDS = {
    "DRAFT": "waiting for the payee to accept an invitation",
    "UNVERIFIED": "waiting to be confirmed",
    "PENDING": "waiting for approval there",
    "INCOMPLETE": "waiting for more details",
    "APPROVED": "approved there",
    "PROCESSING": "being paid",
    "SCHEDULED_FOR_PAYMENT": "scheduled for payment",
    "ERROR": "stuck on a payment error",
    "PAID": "paid",
    "REJECTED": "rejected",
    "CANCELED": "cancelled",
    "SPAM": "marked as spam",
    "INVITE_DECLINED": "declined by the invited payee",
}


def _expense_status(status: Any) -> str:
    return EXPENSE_STATUS_WORDS.get(str(status), str(status).replace("_", " ").lower())


def _money(amount: Any, currency: str | None) -> str:
    if isinstance(amount, int) and currency in CURRENCY_EXPONENTS:
        return format_minor(amount, currency)  # type: ignore[arg-type]
    return str(amount)


def describe(
    action: str,
    data: Mapping[str, Any],
    *,
    actor_id: int | None,
    subject_type: str | None,
    subject_id: int | None,
    names: Names,
) -> str:
    """One sentence for an entry. Unknown actions still read as something sensible."""
    who = names.users.get(actor_id, f"person {actor_id}") if actor_id is not None else "The system"
    proposal_id = data.get("proposal", subject_id if subject_type == "proposal" else None)
    title = names.proposals.get(proposal_id, f"proposal {proposal_id}") if proposal_id is not None else ""
    quoted = f"“{title}”"
    currency = data.get("currency") or names.currency
    person = names.users.get(data.get("user"), data.get("name", "someone")) if "user" in data else ""
    round_id = subject_id if subject_type == "round" else data.get("round")
    round_title = names.rounds.get(round_id) if isinstance(round_id, int) else None
    the_round = f"the round “{round_title}”" if round_title else "the round"
    sentences = {
        "user.created": f"{data.get('name', who)} got an account",
        "user.notices_changed": f"{who} turned e-mail notices {'on' if data.get('email_notices') else 'off'}",
        "user.notice_delivery_changed": f"{who} chose {data.get('delivery')} for notices of {data.get('kind')}",
        "api_token.created": f"{who} created an API token “{data.get('name', '')}”",
        "api_token.revoked": f"{who} revoked the API token “{data.get('name', '')}”",
        "circle.created": f"{who} created the circle “{data.get('name', '')}” ({data.get('currency', '')})",
        "circle.witness_set": f"{who} named {data.get('to') or 'no one'} as the witness of the ledger's checkpoints",
        "circle.settings_changed": f"{who} changed the circle's {', '.join(sorted(data.get('changes', {})))}",
        "member.added": f"{who} added {person} as {', '.join(data.get('roles', []))}",
        "member.joined": f"{person} joined as {', '.join(data.get('roles', []))}",
        "member.roles_changed": f"{who} changed {person}'s roles to {', '.join(data.get('to', [])) or 'none'}",
        "member.removed": f"{who} removed {person} from the circle",
        "member.treasurer_granted": f"{who} made {person} a treasurer (they can approve payouts from now on)",
        "invitation.created": f"{who} invited someone as {', '.join(data.get('roles', []))}",
        "circle.join_requests_set": f"{who} "
        + ("opened the circle to requests to join" if data.get("accepts") else "stopped taking requests to join"),
        "join_request.created": f"{who} asked to join the circle",
        "join_request.withdrawn": f"{who} withdrew their request to join",
        "join_request.accepted": f"{who} accepted a request to join",
        "join_request.declined": f"{who} declined a request to join",
        "round.created": f"{who} created the round “{data.get('title', '')}” "
        f"with a budget of {_money(data.get('budget_minor'), currency)}",
        "round.settings_changed": f"{who} changed the settings of {the_round}: "
        f"{', '.join(sorted(data.get('changes', {})))}",
        "round.phase_changed": phase_change_words(
            data,
            who=who if actor_id is not None else None,
            round_title=the_round,
            proposal_title=quoted if proposal_id is not None else None,
        ),
        "round.deadline_reminder_sent": f"The deadline of {data.get('phase')} was near: "
        f"{data.get('recipients')} people with something left to do were reminded",
        "round.reminder_sent": f"{who} reminded {data.get('recipients')} circle member(s) who had not decided",
        "inbox.marked_read": f"{who} marked {data.get('count')} of their notices read",
        "round.result_published": f"The result of {the_round} was published: "
        f"{_money(data.get('funded_minor'), currency)} funded of {_money(data.get('budget_minor'), currency)}",
        "proposal.created": f"{who} wrote {quoted} asking {_money(data.get('amount_minor'), currency)}",
        "proposal.submitted": f"{who} submitted {quoted}",
        "proposal.draft_edited": f"{who} edited the draft {quoted}",
        "proposal.version_created": f"{who} made version {data.get('version')} of {quoted}",
        "proposal.amended": f"{who} amended {quoted} (version {data.get('version')}): {data.get('change_note', '')}",
        "proposal.withdrawn": f"{who} withdrew {quoted}",
        "proposal.followed": f"{who} followed {quoted}",
        "proposal.unfollowed": f"{who} stopped following {quoted}",
        "proposal.coauthor_invited": f"{who} invited {person} to co-author {quoted}",
        "proposal.coauthor_accepted": f"{who} became a co-author of {quoted}",
        "proposal.coauthor_declined": f"{who} declined to co-author {quoted}",
        "proposal.coauthor_left": f"{who} stopped co-authoring {quoted}",
        "proposal.coauthor_removed": f"{who} "
        + ("took back the invitation of" if data.get("was") == "invited" else "removed the co-author")
        + f" {person} to {quoted}",
        "comment.created": f"{who} {'asked a question on' if data.get('question') else 'commented on'} {quoted}",
        "comment.edited": f"{who} edited a comment on {quoted}",
        "comment.deleted": f"{who} deleted a comment on {quoted}",
        "comment.hidden": f"{who} hid a comment on {quoted}: {data.get('reason', '')}",
        "comment.question_answered": f"{who} answered a question on {quoted}",
        "attachment.added": f"{who} attached {data.get('filename', 'a file')} to "
        + (f"a comment on {quoted}" if data.get("owner_kind") == "comment" else quoted)
        + f" (SHA-256 {str(data.get('sha256', ''))[:12]}…)",
        "attachment.removed": f"{who} removed the attachment {data.get('filename', '')} from "
        + (f"a comment on {quoted}" if data.get("owner_kind") == "comment" else quoted),
        "ballot.cast": f"{who} saved a ballot ({data.get('credits_spent')} credits)"
        + (" — secret" if "commitment" in data else ""),
        "consent_round.opened": f"{who} opened a consent round on {quoted}, version {data.get('version')}",
        "consent_round.closed": f"The consent round on {quoted} (version {data.get('version')}) closed: "
        + ("consented" if data.get("outcome") == "consented" else f"not consented, {data.get('reason', '')}"),
        "consent.answered": f"{who} answered {data.get('position', '')} on {quoted}",
        "consent.answer_changed": f"{who} changed their answer on {quoted} to {data.get('position', '')}",
        "consent.objection_withdrawn": f"{who} withdrew their objection to {quoted}",
        "consent.objection_lapsed": f"The {data.get('position', 'objection')} of {person} to {quoted} lapsed: "
        "they are no longer a circle member",
        "consent.reaction_added": f"{who} reacted to the consent round on {quoted}",
        "consent.reservation_released": f"{_money(data.get('amount_minor'), currency)} reserved for {quoted} "
        "went back to the pot when it was withdrawn",
        "payout.created": f"A payout of {_money(data.get('amount_minor'), currency)} for {quoted} awaits approval",
        "payout.approval_given": f"{who} approved the payout of {_money(data.get('amount_minor'), currency)} for "
        f"{quoted} ({data.get('approvals')} of {data.get('needed')} approvals)",
        "payout.approved": f"The payout for {quoted} is fully approved and goes to Open Collective",
        "payout.cancelled": f"{who} cancelled the payout for {quoted}: {data.get('reason', '')}",
        "payout.retry_requested": f"{who} asked to request the payout for {quoted} again",
        "payout.request_started": f"Requesting the payout for {quoted} on Open Collective, "
        f"attempt {data.get('attempt')}",
        "payout.expense_found": f"Open Collective already had the expense for {quoted} "
        f"({_expense_status(data.get('expense_status'))}): nothing was sent again",
        "payout.requested": f"The payout for {quoted} was requested on Open Collective "
        f"({_expense_status(data.get('expense_status'))})",
        "payout.request_not_sent": f"The request for {quoted} did not reach Open Collective: {data.get('error', '')}",
        "payout.request_outcome_unknown": f"The request for {quoted} got no clear answer: {data.get('error', '')} "
        "Open Collective will be asked before anything is sent again",
        "payout.request_failed": f"Open Collective refused the payout for {quoted}: {data.get('error', '')}",
        "payout.expense_updated": f"Open Collective reports the expense for {quoted} as "
        f"{_expense_status(data.get('expense_status'))}"
        + (
            f": the payout is now {str(data.get('to', '')).replace('_on_oc', ' on Open Collective').replace('_', ' ')}"
            if data.get("to") != data.get("from")
            else ""
        ),
        "payout.expense_missing": f"The expense for {quoted} is gone from Open Collective",
        "payout.held": f"The payout for {quoted} was held, not requested: it disagrees with the ledger on "
        + ", ".join(str(d.get("field")) for d in data.get("disagreements", []) if isinstance(d, dict)),
        "opencollective.connected": f"{who} connected the circle to “{data.get('name', '')}” on Open Collective",
        "opencollective.reconnected": f"{who} connected the circle again, to “{data.get('name', '')}”",
        "user.totp_enrolment_started": f"{who} began setting up an authenticator app",
        "user.totp_enabled": f"{who} set up an authenticator app for approvals",
        # Rotating circles (circles/rotation.py)
        "rotation.call_opened": f"{who} opened a call for {data.get('seats')} volunteer(s) to be deciding members, "
        + (
            f"each for {data.get('term_rounds')} round(s) of the circle"
            if data.get("term_rounds") is not None
            else f"each for {data.get('term_days')} days"
        )
        + "; the draw's starting value was fixed from the ledger at this moment",
        "rotation.volunteered": f"{person} volunteered to be a deciding member",
        "rotation.withdrew": f"{person} took back their name from the call for deciding members",
        "rotation.drawn": f"{who} drew {len(data.get('chosen', []))} deciding member(s) by lot from "
        f"{len(data.get('volunteers', []))} volunteer(s) (the entries that follow name them)",
        "rotation.term_ended": f"{person}'s term as a deciding member ended",
        "rotation.round_counted": f"A round of the circle closed: {len(data.get('terms', []))} term(s) counted in "
        "rounds count it",
        # Round retrospectives (rounds/retrospective.py): an anonymous answer has no actor.
        "retrospective.answered": f"{'Someone (anonymously)' if data.get('anonymous') else who} answered the "
        f"retrospective of a round: fairness {data.get('fairness')}, effort {data.get('effort')} out of 5",
        "retrospective.changed": f"{'Someone (anonymously)' if data.get('anonymous') else who} changed an answer to "
        f"the retrospective of a round: fairness {data.get('fairness')}, effort {data.get('effort')} out of 5",
    }
    return sentences.get(action, f"{who}: {action}")
