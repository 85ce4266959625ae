"""Ledger entries in words a person reads ("Ana approved the payout of 250.00 EUR for 'Seed library'").
Pure: no Flask, no database; the caller passes the names and titles the words need, and the `Phrasebook` that says
them in the reader's language (reading.py passes Flask-Babel's; the default is the English of the message ids).
The entries' stored data stays codes and numbers; only these words are translated."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fundcircle.money import CURRENCY_EXPONENTS, format_minor

#: What moved a round, as the phase-change entry's payload says it (`cause`, or the older `by`), beyond a person
#: (the entry's actor) and the deadline: the payouts (payouts/services.py).
CAUSE_PAYOUTS_SETTLED = "payouts_settled"
CAUSE_PAYOUT_REVERSED = "payout_reversed"


def _english(message: str, **values: Any) -> str:
    return message % values if values else message


def _english_plural(singular: str, plural: str, num: int, **values: Any) -> str:
    return (singular if num == 1 else plural) % {"num": num, **values}


def _english_in_context(context: str, message: str, **values: Any) -> str:
    return _english(message, **values)


@dataclass(frozen=True)
class Phrasebook:
    """How the words are said: gettext's three functions (named so, so that `pybabel extract` finds the messages
    in this module) and the way money is written."""

    gettext: Callable[..., str] = _english
    ngettext: Callable[..., str] = _english_plural
    pgettext: Callable[..., str] = _english_in_context
    money: Callable[[int, str], str] = format_minor


ENGLISH = Phrasebook()


@dataclass(frozen=True)
class Names:
    users: Mapping[int, str]
    proposals: Mapping[int, str]
    currency: str | None = None
    rounds: Mapping[int, str] = field(default_factory=dict)


def _phase(name: Any, book: Phrasebook) -> str:
    """A round's phase in the middle of a sentence ("from deliberation to deciding")."""
    words = {
        "draft": book.pgettext("phase in a sentence", "draft"),
        "proposals": book.pgettext("phase in a sentence", "open for proposals"),
        "deliberation": book.pgettext("phase in a sentence", "deliberation"),
        "deciding": book.pgettext("phase in a sentence", "deciding"),
        "counting": book.pgettext("phase in a sentence", "deciding closed, awaiting the count"),
        "decided": book.pgettext("phase in a sentence", "decided"),
        "closed": book.pgettext("phase in a sentence", "closed"),
        "cancelled": book.pgettext("phase in a sentence", "cancelled"),
    }
    return words.get(str(name), str(name).lower())


def _roles(roles: Any, book: Phrasebook) -> str:
    """A person's roles in the middle of a sentence ("member, treasurer"); the entry stores their codes."""
    words = {
        "member": book.pgettext("role in a sentence", "member"),
        "circle": book.pgettext("role in a sentence", "circle"),
        "treasurer": book.pgettext("role in a sentence", "treasurer"),
        "admin": book.pgettext("role in a sentence", "admin"),
    }
    return ", ".join(words.get(str(role), str(role)) for role in roles or [])


def _position(position: Any, book: Phrasebook) -> str:
    """A consent answer in the middle of a sentence ("answered concern on …"); the entry stores its code."""
    words = {
        "consent": book.pgettext("consent answer in a sentence", "consent"),
        "concern": book.pgettext("consent answer in a sentence", "concern"),
        "objection": book.pgettext("consent answer in a sentence", "objection"),
        "agree": book.pgettext("consent answer in a sentence", "agree"),
        "stand_aside": book.pgettext("consent answer in a sentence", "stand_aside"),
        "block": book.pgettext("consent answer in a sentence", "block"),
    }
    return words.get(str(position), str(position))


def _payout_status(status: Any, book: Phrasebook) -> str:
    """A payout's status in the middle of a sentence ("the payout is now approved on Open Collective")."""
    words = {
        "awaiting_approval": book.pgettext("payout status in a sentence", "awaiting approval"),
        "approved": book.pgettext("payout status in a sentence", "approved"),
        "requesting": book.pgettext("payout status in a sentence", "requesting"),
        "requested": book.pgettext("payout status in a sentence", "requested"),
        "invited": book.pgettext("payout status in a sentence", "invited"),
        "approved_on_oc": book.pgettext("payout status in a sentence", "approved on Open Collective"),
        "paid": book.pgettext("payout status in a sentence", "paid"),
        "rejected": book.pgettext("payout status in a sentence", "rejected"),
        "failed": book.pgettext("payout status in a sentence", "failed"),
        "held": book.pgettext("payout status in a sentence", "held"),
        "cancelled": book.pgettext("payout status in a sentence", "cancelled"),
    }
    text = str(status)
    return words.get(text, text.replace("_on_oc", " on Open Collective").replace("_", " "))


def phase_change_words(
    data: Mapping[str, Any],
    *,
    who: str | None,
    round_title: str,
    proposal_title: str | None,
    book: Phrasebook = ENGLISH,
) -> str:
    """Who or what moved the round (a person, the deadline, the payouts all settled, a payout moved back), and
    which round (`round_title` as in the middle of a sentence: "the round “Spring”"). Entries written before the
    payload said its cause read from `by` (admin, deadline, payouts)."""
    start = round_title[0].upper() + round_title[1:]
    phases = {"from_phase": _phase(data.get("from"), book), "to_phase": _phase(data.get("to"), book)}
    cause = data.get("cause")
    if cause is None and data.get("by") == "payouts":
        cause = CAUSE_PAYOUTS_SETTLED if data.get("to") == "closed" else CAUSE_PAYOUT_REVERSED
    if cause == CAUSE_PAYOUTS_SETTLED:
        return book.gettext(
            "%(the_round)s closed by itself: every payout was paid, rejected or cancelled", the_round=start
        )
    if cause == CAUSE_PAYOUT_REVERSED:
        if proposal_title:
            return book.gettext(
                "%(the_round)s is decided again, no longer closed: the payout for %(title)s moved back on "
                "Open Collective",
                the_round=start,
                title=proposal_title,
            )
        return book.gettext(
            "%(the_round)s is decided again, no longer closed: a settled payout moved back on Open Collective",
            the_round=start,
        )
    if who is not None:
        return book.gettext(
            "%(who)s moved %(the_round)s from %(from_phase)s to %(to_phase)s", who=who, the_round=round_title, **phases
        )
    return book.gettext(
        "The deadline passed, so %(the_round)s moved from %(from_phase)s to %(to_phase)s",
        the_round=round_title,
        **phases,
    )


def _expense_status(status: Any, book: Phrasebook) -> str:
    """Open Collective's expense statuses in words (its codes, such as SCHEDULED_FOR_PAYMENT, are not for members)."""
    words = {
        "DRAFT": book.gettext("waiting for the payee to accept an invitation"),
        "UNVERIFIED": book.gettext("waiting to be confirmed"),
        "PENDING": book.gettext("waiting for approval there"),
        "INCOMPLETE": book.gettext("waiting for more details"),
        "APPROVED": book.gettext("approved there"),
        "PROCESSING": book.gettext("being paid"),
        "SCHEDULED_FOR_PAYMENT": book.gettext("scheduled for payment"),
        "ERROR": book.gettext("stuck on a payment error"),
        "PAID": book.pgettext("expense status in a sentence", "paid"),
        "REJECTED": book.pgettext("expense status in a sentence", "rejected"),
        "CANCELED": book.pgettext("expense status in a sentence", "cancelled"),
        "SPAM": book.gettext("marked as spam"),
        "INVITE_DECLINED": book.gettext("declined by the invited payee"),
    }
    return words.get(str(status), str(status).replace("_", " ").lower())


def _money(amount: Any, currency: str | None, book: Phrasebook) -> str:
    if isinstance(amount, int) and currency in CURRENCY_EXPONENTS:
        return book.money(amount, currency)  # type: ignore[arg-type]
    return str(amount)


def describe(
    action: str,
    data: Mapping[str, Any],
    *,
    actor_id: int | None,
    subject_type: str | None,
    subject_id: int | None,
    names: Names,
    book: Phrasebook = ENGLISH,
) -> str:
    """One sentence for an entry, in `book`'s language. Unknown actions still read as something sensible."""
    # Named as gettext's own, so that `pybabel extract` finds the messages.
    gettext, ngettext = book.gettext, book.ngettext
    who = (
        names.users.get(actor_id, gettext("person %(id)s", id=actor_id))
        if actor_id is not None
        else gettext("The system")
    )
    proposal_id = data.get("proposal", subject_id if subject_type == "proposal" else None)
    title = (
        names.proposals.get(proposal_id, gettext("proposal %(id)s", id=proposal_id)) if proposal_id is not None else ""
    )
    quoted = f"“{title}”"
    currency = data.get("currency") or names.currency
    person = names.users.get(data.get("user"), data.get("name", gettext("someone"))) if "user" in data else ""
    round_id = subject_id if subject_type == "round" else data.get("round")
    round_title = names.rounds.get(round_id) if isinstance(round_id, int) else None
    the_round = gettext("the round “%(title)s”", title=round_title) if round_title else gettext("the round")

    def money(key: str) -> str:
        return _money(data.get(key), currency, book)

    def count(key: str) -> int:
        value = data.get(key)
        return value if isinstance(value, int) else 0

    def changes() -> str:
        return ", ".join(sorted(data.get("changes", {})))

    def rotation_opened() -> str:
        if data.get("term_rounds") is not None:
            return ngettext(
                "%(who)s opened a call for %(seats)s volunteer(s) to be deciding members, each for %(num)d round(s) "
                "of the circle; the draw's starting value was fixed from the ledger at this moment",
                "%(who)s opened a call for %(seats)s volunteer(s) to be deciding members, each for %(num)d round(s) "
                "of the circle; the draw's starting value was fixed from the ledger at this moment",
                count("term_rounds"),
                who=who,
                seats=data.get("seats"),
            )
        return gettext(
            "%(who)s opened a call for %(seats)s volunteer(s) to be deciding members, each for %(days)s days; the "
            "draw's starting value was fixed from the ledger at this moment",
            who=who,
            seats=data.get("seats"),
            days=data.get("term_days"),
        )

    def retrospective(changed: bool) -> str:
        values = {"fairness": data.get("fairness"), "effort": data.get("effort")}
        if data.get("anonymous"):
            if changed:
                return gettext(
                    "Someone (anonymously) changed an answer to the retrospective of a round: fairness "
                    "%(fairness)s, effort %(effort)s out of 5",
                    **values,
                )
            return gettext(
                "Someone (anonymously) answered the retrospective of a round: fairness %(fairness)s, effort "
                "%(effort)s out of 5",
                **values,
            )
        if changed:
            return gettext(
                "%(who)s changed an answer to the retrospective of a round: fairness %(fairness)s, effort "
                "%(effort)s out of 5",
                who=who,
                **values,
            )
        return gettext(
            "%(who)s answered the retrospective of a round: fairness %(fairness)s, effort %(effort)s out of 5",
            who=who,
            **values,
        )

    def expense_updated() -> str:
        status = _expense_status(data.get("expense_status"), book)
        if data.get("to") != data.get("from"):
            return gettext(
                "Open Collective reports the expense for %(title)s as %(status)s: the payout is now %(payout_status)s",
                title=quoted,
                status=status,
                payout_status=_payout_status(data.get("to", ""), book),
            )
        return gettext("Open Collective reports the expense for %(title)s as %(status)s", title=quoted, status=status)

    def on_what() -> dict[str, str]:
        return {"filename": str(data.get("filename", "")), "title": quoted}

    sentences: dict[str, Callable[[], str]] = {
        "user.created": lambda: gettext("%(name)s got an account", name=data.get("name", who)),
        "user.notices_changed": lambda: (
            gettext("%(who)s turned e-mail notices on", who=who)
            if data.get("email_notices")
            else gettext("%(who)s turned e-mail notices off", who=who)
        ),
        "user.notice_delivery_changed": lambda: gettext(
            "%(who)s chose %(delivery)s for notices of %(kind)s",
            who=who,
            delivery=data.get("delivery"),
            kind=data.get("kind"),
        ),
        # A person's own language and display zone: the codes as stored (None: "as the circle or browser has it").
        "user.language_changed": lambda: (
            gettext("%(who)s chose to read Fund Circle in %(language)s", who=who, language=data.get("to"))
            if data.get("to")
            else gettext("%(who)s chose to read Fund Circle in their circle's or browser's language", who=who)
        ),
        "user.time_zone_changed": lambda: (
            gettext("%(who)s chose to see times in %(zone)s", who=who, zone=data.get("to"))
            if data.get("to")
            else gettext("%(who)s chose to see times in each circle's own time zone", who=who)
        ),
        "api_token.created": lambda: gettext(
            "%(who)s created an API token “%(name)s”", who=who, name=data.get("name", "")
        ),
        "api_token.revoked": lambda: gettext(
            "%(who)s revoked the API token “%(name)s”", who=who, name=data.get("name", "")
        ),
        "circle.created": lambda: gettext(
            "%(who)s created the circle “%(name)s” (%(currency)s)",
            who=who,
            name=data.get("name", ""),
            currency=data.get("currency", ""),
        ),
        "circle.witness_set": lambda: (
            gettext("%(who)s named %(witness)s as the witness of the ledger's checkpoints", who=who, witness=data["to"])
            if data.get("to")
            else gettext("%(who)s named no one as the witness of the ledger's checkpoints", who=who)
        ),
        "circle.settings_changed": lambda: gettext(
            "%(who)s changed the circle's %(changes)s", who=who, changes=changes()
        ),
        "member.added": lambda: gettext(
            "%(who)s added %(person)s as %(roles)s", who=who, person=person, roles=_roles(data.get("roles"), book)
        ),
        "member.joined": lambda: gettext(
            "%(person)s joined as %(roles)s", person=person, roles=_roles(data.get("roles"), book)
        ),
        "member.roles_changed": lambda: (
            gettext(
                "%(who)s changed %(person)s's roles to %(roles)s",
                who=who,
                person=person,
                roles=_roles(data.get("to"), book),
            )
            if data.get("to")
            else gettext("%(who)s changed %(person)s's roles to none", who=who, person=person)
        ),
        "member.removed": lambda: gettext("%(who)s removed %(person)s from the circle", who=who, person=person),
        "member.treasurer_granted": lambda: gettext(
            "%(who)s made %(person)s a treasurer (they can approve payouts from now on)", who=who, person=person
        ),
        "invitation.created": lambda: gettext(
            "%(who)s invited someone as %(roles)s", who=who, roles=_roles(data.get("roles"), book)
        ),
        "circle.join_requests_set": lambda: (
            gettext("%(who)s opened the circle to requests to join", who=who)
            if data.get("accepts")
            else gettext("%(who)s stopped taking requests to join", who=who)
        ),
        "join_request.created": lambda: gettext("%(who)s asked to join the circle", who=who),
        "join_request.withdrawn": lambda: gettext("%(who)s withdrew their request to join", who=who),
        "join_request.accepted": lambda: gettext("%(who)s accepted a request to join", who=who),
        "join_request.declined": lambda: gettext("%(who)s declined a request to join", who=who),
        "round.created": lambda: gettext(
            "%(who)s created the round “%(title)s” with a budget of %(budget)s",
            who=who,
            title=data.get("title", ""),
            budget=money("budget_minor"),
        ),
        "round.settings_changed": lambda: gettext(
            "%(who)s changed the settings of %(the_round)s: %(changes)s",
            who=who,
            the_round=the_round,
            changes=changes(),
        ),
        "round.phase_changed": lambda: phase_change_words(
            data,
            who=who if actor_id is not None else None,
            round_title=the_round,
            proposal_title=quoted if proposal_id is not None else None,
            book=book,
        ),
        "round.deadline_reminder_sent": lambda: gettext(
            "The deadline of %(phase)s was near: %(recipients)s people with something left to do were reminded",
            phase=data.get("phase"),
            recipients=data.get("recipients"),
        ),
        "round.reminder_sent": lambda: ngettext(
            "%(who)s reminded %(num)d circle member(s) who had not decided",
            "%(who)s reminded %(num)d circle member(s) who had not decided",
            count("recipients"),
            who=who,
        ),
        "inbox.marked_read": lambda: gettext(
            "%(who)s marked %(count)s of their notices read", who=who, count=data.get("count")
        ),
        "round.result_published": lambda: gettext(
            "The result of %(the_round)s was published: %(funded)s funded of %(budget)s",
            the_round=the_round,
            funded=money("funded_minor"),
            budget=money("budget_minor"),
        ),
        "proposal.created": lambda: gettext(
            "%(who)s wrote %(title)s asking %(amount)s", who=who, title=quoted, amount=money("amount_minor")
        ),
        "proposal.submitted": lambda: gettext("%(who)s submitted %(title)s", who=who, title=quoted),
        "proposal.draft_edited": lambda: gettext("%(who)s edited the draft %(title)s", who=who, title=quoted),
        "proposal.version_created": lambda: gettext(
            "%(who)s made version %(version)s of %(title)s", who=who, version=data.get("version"), title=quoted
        ),
        "proposal.amended": lambda: gettext(
            "%(who)s amended %(title)s (version %(version)s): %(note)s",
            who=who,
            title=quoted,
            version=data.get("version"),
            note=data.get("change_note", ""),
        ),
        "proposal.withdrawn": lambda: gettext("%(who)s withdrew %(title)s", who=who, title=quoted),
        "proposal.followed": lambda: gettext("%(who)s followed %(title)s", who=who, title=quoted),
        "proposal.unfollowed": lambda: gettext("%(who)s stopped following %(title)s", who=who, title=quoted),
        "proposal.coauthor_invited": lambda: gettext(
            "%(who)s invited %(person)s to co-author %(title)s", who=who, person=person, title=quoted
        ),
        "proposal.coauthor_accepted": lambda: gettext("%(who)s became a co-author of %(title)s", who=who, title=quoted),
        "proposal.coauthor_declined": lambda: gettext("%(who)s declined to co-author %(title)s", who=who, title=quoted),
        "proposal.coauthor_left": lambda: gettext("%(who)s stopped co-authoring %(title)s", who=who, title=quoted),
        "proposal.coauthor_removed": lambda: (
            gettext("%(who)s took back the invitation of %(person)s to %(title)s", who=who, person=person, title=quoted)
            if data.get("was") == "invited"
            else gettext("%(who)s removed the co-author %(person)s to %(title)s", who=who, person=person, title=quoted)
        ),
        "comment.created": lambda: (
            gettext("%(who)s asked a question on %(title)s", who=who, title=quoted)
            if data.get("question")
            else gettext("%(who)s commented on %(title)s", who=who, title=quoted)
        ),
        "comment.edited": lambda: gettext("%(who)s edited a comment on %(title)s", who=who, title=quoted),
        "comment.deleted": lambda: gettext("%(who)s deleted a comment on %(title)s", who=who, title=quoted),
        "comment.hidden": lambda: gettext(
            "%(who)s hid a comment on %(title)s: %(reason)s", who=who, title=quoted, reason=data.get("reason", "")
        ),
        "comment.question_answered": lambda: gettext("%(who)s answered a question on %(title)s", who=who, title=quoted),
        "attachment.added": lambda: (
            gettext(
                "%(who)s attached %(filename)s to a comment on %(title)s (SHA-256 %(sha256)s…)",
                who=who,
                sha256=str(data.get("sha256", ""))[:12],
                **{**on_what(), "filename": str(data.get("filename", gettext("a file")))},
            )
            if data.get("owner_kind") == "comment"
            else gettext(
                "%(who)s attached %(filename)s to %(title)s (SHA-256 %(sha256)s…)",
                who=who,
                sha256=str(data.get("sha256", ""))[:12],
                **{**on_what(), "filename": str(data.get("filename", gettext("a file")))},
            )
        ),
        "attachment.removed": lambda: (
            gettext("%(who)s removed the attachment %(filename)s from a comment on %(title)s", who=who, **on_what())
            if data.get("owner_kind") == "comment"
            else gettext("%(who)s removed the attachment %(filename)s from %(title)s", who=who, **on_what())
        ),
        "ballot.cast": lambda: (
            gettext("%(who)s saved a ballot (%(credits)s credits) — secret", who=who, credits=data.get("credits_spent"))
            if "commitment" in data
            else gettext("%(who)s saved a ballot (%(credits)s credits)", who=who, credits=data.get("credits_spent"))
        ),
        "consent_round.opened": lambda: gettext(
            "%(who)s opened a consent round on %(title)s, version %(version)s",
            who=who,
            title=quoted,
            version=data.get("version"),
        ),
        "consent_round.closed": lambda: (
            gettext(
                "The consent round on %(title)s (version %(version)s) closed: consented",
                title=quoted,
                version=data.get("version"),
            )
            if data.get("outcome") == "consented"
            else gettext(
                "The consent round on %(title)s (version %(version)s) closed: not consented, %(reason)s",
                title=quoted,
                version=data.get("version"),
                reason=data.get("reason", ""),
            )
        ),
        "consent.answered": lambda: gettext(
            "%(who)s answered %(position)s on %(title)s",
            who=who,
            position=_position(data.get("position", ""), book),
            title=quoted,
        ),
        "consent.answer_changed": lambda: gettext(
            "%(who)s changed their answer on %(title)s to %(position)s",
            who=who,
            title=quoted,
            position=_position(data.get("position", ""), book),
        ),
        "consent.objection_withdrawn": lambda: gettext(
            "%(who)s withdrew their objection to %(title)s", who=who, title=quoted
        ),
        "consent.objection_lapsed": lambda: gettext(
            "The %(position)s of %(person)s to %(title)s lapsed: they are no longer a circle member",
            position=_position(data.get("position", "objection"), book),
            person=person,
            title=quoted,
        ),
        "consent.reaction_added": lambda: gettext(
            "%(who)s reacted to the consent round on %(title)s", who=who, title=quoted
        ),
        "consent.reservation_released": lambda: gettext(
            "%(amount)s reserved for %(title)s went back to the pot when it was withdrawn",
            amount=money("amount_minor"),
            title=quoted,
        ),
        "payout.created": lambda: gettext(
            "A payout of %(amount)s for %(title)s awaits approval", amount=money("amount_minor"), title=quoted
        ),
        "payout.approval_given": lambda: gettext(
            "%(who)s approved the payout of %(amount)s for %(title)s (%(approvals)s of %(needed)s approvals)",
            who=who,
            amount=money("amount_minor"),
            title=quoted,
            approvals=data.get("approvals"),
            needed=data.get("needed"),
        ),
        "payout.approved": lambda: gettext(
            "The payout for %(title)s is fully approved and goes to Open Collective", title=quoted
        ),
        "payout.cancelled": lambda: gettext(
            "%(who)s cancelled the payout for %(title)s: %(reason)s",
            who=who,
            title=quoted,
            reason=data.get("reason", ""),
        ),
        "payout.retry_requested": lambda: gettext(
            "%(who)s asked to request the payout for %(title)s again", who=who, title=quoted
        ),
        "payout.request_started": lambda: gettext(
            "Requesting the payout for %(title)s on Open Collective, attempt %(attempt)s",
            title=quoted,
            attempt=data.get("attempt"),
        ),
        "payout.expense_found": lambda: gettext(
            "Open Collective already had the expense for %(title)s (%(status)s): nothing was sent again",
            title=quoted,
            status=_expense_status(data.get("expense_status"), book),
        ),
        "payout.requested": lambda: gettext(
            "The payout for %(title)s was requested on Open Collective (%(status)s)",
            title=quoted,
            status=_expense_status(data.get("expense_status"), book),
        ),
        "payout.request_not_sent": lambda: gettext(
            "The request for %(title)s did not reach Open Collective: %(error)s",
            title=quoted,
            error=data.get("error", ""),
        ),
        "payout.request_outcome_unknown": lambda: gettext(
            "The request for %(title)s got no clear answer: %(error)s Open Collective will be asked before anything "
            "is sent again",
            title=quoted,
            error=data.get("error", ""),
        ),
        "payout.request_failed": lambda: gettext(
            "Open Collective refused the payout for %(title)s: %(error)s", title=quoted, error=data.get("error", "")
        ),
        "payout.expense_updated": expense_updated,
        "payout.expense_missing": lambda: gettext(
            "The expense for %(title)s is gone from Open Collective", title=quoted
        ),
        "payout.held": lambda: gettext(
            "The payout for %(title)s was held, not requested: it disagrees with the ledger on %(fields)s",
            title=quoted,
            fields=", ".join(str(d.get("field")) for d in data.get("disagreements", []) if isinstance(d, dict)),
        ),
        "opencollective.connected": lambda: gettext(
            "%(who)s connected the circle to “%(name)s” on Open Collective", who=who, name=data.get("name", "")
        ),
        "opencollective.reconnected": lambda: gettext(
            "%(who)s connected the circle again, to “%(name)s”", who=who, name=data.get("name", "")
        ),
        "user.totp_enrolment_started": lambda: gettext("%(who)s began setting up an authenticator app", who=who),
        "user.totp_enabled": lambda: gettext("%(who)s set up an authenticator app for approvals", who=who),
        # Rotating circles (circles/rotation.py)
        "rotation.call_opened": rotation_opened,
        "rotation.volunteered": lambda: gettext("%(person)s volunteered to be a deciding member", person=person),
        "rotation.withdrew": lambda: gettext(
            "%(person)s took back their name from the call for deciding members", person=person
        ),
        "rotation.drawn": lambda: gettext(
            "%(who)s drew %(chosen)s deciding member(s) by lot from %(volunteers)s volunteer(s) (the entries that "
            "follow name them)",
            who=who,
            chosen=len(data.get("chosen", [])),
            volunteers=len(data.get("volunteers", [])),
        ),
        "rotation.term_ended": lambda: gettext("%(person)s's term as a deciding member ended", person=person),
        "rotation.round_counted": lambda: gettext(
            "A round of the circle closed: %(terms)s term(s) counted in rounds count it",
            terms=len(data.get("terms", [])),
        ),
        # Round retrospectives (rounds/retrospective.py): an anonymous answer has no actor.
        "retrospective.answered": lambda: retrospective(changed=False),
        "retrospective.changed": lambda: retrospective(changed=True),
    }
    sentence = sentences.get(action)
    return sentence() if sentence is not None else gettext("%(who)s: %(action)s", who=who, action=action)
