"""Use cases for proposals: create, edit (a new version after submission), submit, withdraw; and the lists the
pages show. Services check role and phase, write the ledger, flush, and never commit."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from flask_babel import format_number, gettext, ngettext
from sqlalchemy import Select, Subquery, case, desc, func, literal_column, select

from fundcircle.auth.models import User
from fundcircle.auth.services import normalise_email
from fundcircle.circles.models import Circle
from fundcircle.circles.services import membership_of
from fundcircle.db import compare_and_set, lock
from fundcircle.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.hooks import Hook, Registry
from fundcircle.i18n import lazy_gettext, moment_text, money_text
from fundcircle.ledger.record import record
from fundcircle.markdown import render_markdown, too_many_lines
from fundcircle.proposals.authorship import authored_by, is_author, is_invited, is_lead_author, proposal_authors
from fundcircle.proposals.diff import VersionContent
from fundcircle.proposals.models import Proposal, ProposalCostLine, ProposalVersion
from fundcircle.rounds.models import Round
from fundcircle.rounds.phases import COUNTING, is_before
from fundcircle.rounds.services import phase_change_audience
from fundcircle.text import SINGLE_LINE_MESSAGE, is_single_line

MAX_TITLE = 120
MAX_SUMMARY = 300
MAX_BODY = 20_000
#: Open Collective account slugs: lower-case letters, digits and hyphens.
OC_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,98}[a-z0-9])?$")
SORTS = ("newest", "amount", "discussed")
MAX_COST_LINES = 30
MAX_COST_LINE_TEXT = 200
#: Phases and statuses as the refusals name them (lower case, inside a sentence; English as the codes read).
PHASE_WORDS = {
    "draft": lazy_gettext("draft"),
    "proposals": lazy_gettext("proposals"),
    "deliberation": lazy_gettext("deliberation"),
    "deciding": lazy_gettext("deciding"),
    COUNTING: lazy_gettext("counting"),
    "decided": lazy_gettext("decided"),
    "closed": lazy_gettext("closed"),
    "cancelled": lazy_gettext("cancelled"),
}
STATUS_WORDS = {
    "draft": lazy_gettext("draft"),
    "submitted": lazy_gettext("submitted"),
    "withdrawn": lazy_gettext("withdrawn"),
}


def phase_word(phase: str) -> str:
    return str(PHASE_WORDS.get(phase, phase))


def status_word(status: str) -> str:
    return str(STATUS_WORDS.get(status, status))


def deadline_text(round_: Round, moment: datetime) -> str:
    """A deadline in a refusal, as the pages show it (the circle's zone, or the reader's own)."""
    return moment_text(moment, round_.circle.time_zone)


@dataclass(frozen=True)
class CostLineInput:
    """One line of what the money pays for: what, and how much (minor units)."""

    description: str
    amount_minor: int


@dataclass(frozen=True)
class ProposalInput:
    title: str
    summary: str
    body: str
    #: With cost lines, 0 asks for their total; any other amount must be that total.
    amount_minor: int
    category: str | None = None
    payee_slug: str | None = None
    payee_name: str | None = None
    payee_email: str | None = None
    cost_lines: tuple[CostLineInput, ...] = ()


#: What the areas above do when a proposal is created (deliberation: the author follows it), with
#: (actor, proposal, now), in the creating transaction.
proposal_created: Hook[Callable[[User, Proposal, datetime], None]] = Hook("after a proposal is created")
#: What the areas above do when a proposal is withdrawn (consent: its open consent round closes, reserved money goes
#: back), with (actor, proposal, now), in the withdrawing transaction.
proposal_withdrawn: Hook[Callable[[User, Proposal, datetime], None]] = Hook("after a proposal is withdrawn")
#: Decision methods under which a submitted proposal may be amended while the round is deciding (consent: between
#: consent rounds, until consented); each raises Conflict when the proposal may not change now.
amending_while_deciding: Registry[Callable[[Proposal], None]] = Registry("amending while deciding")
#: Counts that the areas above add to each row of a round's proposal list (deliberation: comments): each returns a
#: subquery of (proposal_id, <count>) over the proposal ids it is given.
row_counts: Hook[Callable[[Select[Any]], Subquery]] = Hook("counts in a round's proposal list")
#: How the payee account a proposal names is checked when it is saved: "open collective" (the payouts area) gives
#: the account's name for (circle, slug), None when it cannot be asked, or raises ValidationFailed on payee_slug.
payee_lookup: Registry[Callable[[Circle, str], str | None]] = Registry("payee look-up")
#: Whether that look-up can ask Open Collective about a circle's payees now ("open collective": the payouts area says
#: whether the circle is connected), so that the form can say whether a payee's account is checked when it is saved.
payee_lookup_ready: Registry[Callable[[Circle], bool]] = Registry("payee look-up ready")


def payee_can_be_checked(circle: Circle) -> bool:
    """Whether a payee's Open Collective account is checked when a proposal of the circle is saved."""
    return "open collective" in payee_lookup_ready and payee_lookup_ready["open collective"](circle)


@dataclass
class Problems:
    """Every mistake found in a proposal, in one pass: so that a form shows them all on the first submit, each at
    its field, and the API answers them all at once."""

    #: Messages by the service's field name (amount_minor, payee_slug, ...; cost_lines for the lines as a list).
    fields: dict[str, list[str]] = field(default_factory=dict)
    #: Messages about one cost line, by its place among the lines given (from 0) and its part: "description" or
    #: "amount".
    lines: dict[tuple[int, str], list[str]] = field(default_factory=dict)
    #: Messages about the proposal as a whole (the limit of proposals per member, nothing changed).
    general: list[str] = field(default_factory=list)

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(message)

    def add_line(self, index: int, part: str, message: str) -> None:
        self.lines.setdefault((index, part), []).append(message)

    def __bool__(self) -> bool:
        return bool(self.fields or self.lines or self.general)

    def as_fields(self) -> dict[str, list[str]]:
        """As the API names them: the lines' messages under cost_lines, in the lines' order (each says its line)."""
        merged = {name: list(messages) for name, messages in self.fields.items()}
        for key in sorted(self.lines):
            merged.setdefault("cost_lines", []).extend(self.lines[key])
        return merged


class ProposalProblems(ValidationFailed):
    """A proposal refused for the `problems` it has, all of them."""

    def __init__(self, problems: Problems) -> None:
        fields = problems.as_fields()
        message = " ".join(problems.general)
        if fields:
            message = (message + " " if message else "") + gettext("Some fields of the proposal are not valid.")
        super().__init__(message, fields=fields)
        self.problems = problems


def _validate(
    data: ProposalInput,
    round_: Round,
    problems: Problems,
    rendered: tuple[str, str] | None = None,
    unreadable_lines: frozenset[int] = frozenset(),
) -> dict[str, Any]:
    """Check a proposal's content against the round, adding every mistake to `problems`; return it cleaned (to be
    used only when there are none), with the body rendered to HTML once: `rendered` is the (body, HTML) of the
    version being changed, reused when the body is the same. `unreadable_lines` are the places of lines whose
    amount a form could not read as a number (it says so at the line): they count as faulty here and add nothing.
    """
    fail = problems.add

    title, summary, body = data.title.strip(), data.summary.strip(), data.body.strip()
    if not title:
        fail("title", gettext("Enter a title."))
    elif len(title) > MAX_TITLE:
        fail(
            "title",
            gettext("Use at most %(most)s characters (this one has %(count)s).", most=MAX_TITLE, count=len(title)),
        )
    elif not is_single_line(title):
        fail("title", gettext(SINGLE_LINE_MESSAGE))
    if not summary:
        fail("summary", gettext("Enter a one-line summary."))
    elif len(summary) > MAX_SUMMARY or not is_single_line(summary):
        fail("summary", gettext("Keep the summary to one line of at most %(most)s characters.", most=MAX_SUMMARY))
    if not body:
        fail("body", gettext("Describe the proposal."))
    elif len(body) > MAX_BODY:
        fail(
            "body",
            gettext(
                "Use at most %(most)s characters (this one has %(count)s).",
                most=format_number(MAX_BODY),
                count=format_number(len(body)),
            ),
        )
    elif (problem := too_many_lines(body)) is not None:
        fail("body", problem)
    lines, amount = _checked_cost_lines(data, round_, problems, unreadable_lines)
    ceiling = min(round_.per_proposal_cap_minor, round_.budget_minor)
    # Asked as the lines' total while a line's amount is unreadable: the total is not known yet, and that line says
    # what to correct (a total already above the cap is above it still).
    total_unknown = bool(unreadable_lines) and data.amount_minor == 0
    if amount < 1 and not total_unknown:
        fail("amount_minor", gettext("Ask for an amount above 0."))
    elif amount > ceiling:
        fail(
            "amount_minor",
            gettext(
                "Ask for at most %(amount)s, the round's cap per proposal.",
                amount=money_text(ceiling, round_.currency),
            ),
        )
    category = (data.category or "").strip() or None
    if round_.categories and category not in round_.categories:
        fail(
            "category",
            gettext("Choose one of the round's categories: %(categories)s.", categories=", ".join(round_.categories)),
        )
    elif not round_.categories and category is not None:
        fail("category", gettext("This round has no categories."))
    slug = (data.payee_slug or "").strip().lower() or None
    name = (data.payee_name or "").strip() or None
    email = (data.payee_email or "").strip() or None
    if slug is not None and (name is not None or email is not None):
        fail("payee", gettext("Give either an Open Collective account, or a name and e-mail address, not both."))
    elif slug is not None:
        if not OC_SLUG.match(slug):
            fail(
                "payee_slug",
                gettext("An Open Collective account is its short name: lower-case letters, digits, hyphens."),
            )
    elif name is None or email is None:
        fail("payee", gettext("Say who is paid: an Open Collective account, or a person's name and e-mail address."))
    else:
        if len(name) > 120:
            fail("payee_name", gettext("Use at most %(most)s characters.", most=120))
        elif not is_single_line(name):
            fail("payee_name", gettext(SINGLE_LINE_MESSAGE))
        try:
            email = normalise_email(email)
        except ValidationFailed as error:
            fail("payee_email", error.message)
    return {
        "title": title,
        "summary": summary,
        "body": body,
        # Rendered once per version, when it is written; pages and the API read the stored HTML.
        "body_html": rendered[1] if rendered is not None and rendered[0] == body else render_markdown(body),
        "amount_minor": amount,
        "currency": round_.currency,
        "category": category,
        "payee_slug": slug,
        "payee_name": name if slug is None else None,
        "payee_email": email if slug is None else None,
        "cost_lines": lines,
    }


def _checked_cost_lines(
    data: ProposalInput, round_: Round, problems: Problems, unreadable_lines: frozenset[int] = frozenset()
) -> tuple[list[dict[str, Any]], int]:
    """The cost lines cleaned (as the ledger and the version keep them), and the amount asked: the lines' total
    when the amount is left at 0. An amount given beside lines must be their total: the ask is what the lines
    say, so a proposal cannot list costs that add up to something else."""
    lines: list[dict[str, Any]] = []
    faulty = bool(unreadable_lines)
    if len(data.cost_lines) > MAX_COST_LINES:
        problems.add("cost_lines", gettext("List at most %(most)s cost lines.", most=MAX_COST_LINES))
        faulty = True
    for index, line in enumerate(data.cost_lines[:MAX_COST_LINES]):
        number = index + 1
        description = line.description.strip()
        if not description:
            problems.add_line(index, "description", gettext("Line %(number)s: say what it pays for.", number=number))
            faulty = True
        elif len(description) > MAX_COST_LINE_TEXT or not is_single_line(description):
            problems.add_line(
                index,
                "description",
                gettext(
                    "Line %(number)s: keep it to one line of at most %(most)s characters.",
                    number=number,
                    most=MAX_COST_LINE_TEXT,
                ),
            )
            faulty = True
        if index not in unreadable_lines and line.amount_minor < 1:
            problems.add_line(index, "amount", gettext("Line %(number)s: give an amount above 0.", number=number))
            faulty = True
        lines.append({"description": description, "amount_minor": line.amount_minor})
    if not lines:
        return lines, data.amount_minor
    total = sum(line["amount_minor"] for line in lines)
    if data.amount_minor == 0:
        return lines, total
    if not faulty and data.amount_minor != total:
        problems.add(
            "amount_minor",
            gettext(
                "The cost lines add up to %(total)s, not %(amount)s: leave the amount empty to ask for their total, "
                "or correct a line.",
                total=money_text(total, round_.currency),
                amount=money_text(data.amount_minor, round_.currency),
            ),
        )
    return lines, data.amount_minor


def _version_columns(values: dict[str, Any]) -> dict[str, Any]:
    """A version's own columns of the cleaned values (the cost lines are rows of their own)."""
    return {key: value for key, value in values.items() if key != "cost_lines"}


def _line_rows(lines: list[dict[str, Any]]) -> list[ProposalCostLine]:
    return [ProposalCostLine(position=number, **line) for number, line in enumerate(lines, start=1)]


def cost_lines_of(version: ProposalVersion) -> list[dict[str, Any]]:
    """A version's cost lines as the service takes and the ledger keeps them (empty: one sum)."""
    return [{"description": line.description, "amount_minor": line.amount_minor} for line in version.cost_lines]


_VERSION_FIELDS = (
    "title", "summary", "body", "amount_minor", "currency", "category", "payee_slug", "payee_name", "payee_email",
)  # fmt: skip


def require_open_for_proposals(round_: Round, now: datetime) -> None:
    """New proposals and submissions only while the round really is open for proposals: not after its deadline,
    though `rounds tick` has not moved the round on yet.

    :raises Conflict: saying when proposals closed, or where the round is.
    """
    phase = round_.phase_at(now)
    if phase == "proposals":
        return
    closed = round_.passed_deadline("proposals", now) if is_before("proposals", phase) else None
    if closed is not None:
        raise Conflict(
            gettext(
                "The round is not open for proposals: proposals closed at %(time)s.", time=deadline_text(round_, closed)
            )
        )
    raise Conflict(gettext("The round is not open for proposals: it is in %(phase)s.", phase=phase_word(phase)))


def _require_member(actor: User, round_: Round) -> None:
    if membership_of(actor, round_.circle) is None:
        raise PermissionDenied(gettext("Only members of the circle can do this."))


def _require_author(actor: User, proposal: Proposal) -> None:
    if not is_author(proposal, actor):
        raise PermissionDenied(gettext("Only the proposal's authors can do this."))


def _require_lead_author(actor: User, proposal: Proposal) -> None:
    if not is_lead_author(proposal, actor):
        raise PermissionDenied(gettext("Only the member who wrote the proposal can do this."))


def current_version(proposal: Proposal) -> ProposalVersion:
    version = db.session.scalar(
        select(ProposalVersion).where(
            ProposalVersion.proposal_id == proposal.id, ProposalVersion.number == proposal.current_version
        )
    )
    assert version is not None, "every proposal has its current version"  # nosec B101  # type narrowing, not a check
    return version


def _ledger_summary(values: dict[str, Any]) -> dict[str, Any]:
    """What the ledger keeps of a version: everything but the rendered HTML and the payee's address, which only
    the author, treasurers and admins may see (a public circle's ledger is public); its hash stands in for it."""
    summary = {key: value for key, value in values.items() if key not in ("body_html", "payee_email")}
    if values.get("payee_email"):
        summary["payee_email_sha256"] = hashlib.sha256(values["payee_email"].encode("utf-8")).hexdigest()
    return summary


def proposals_counted(user_id: int, round_: Round) -> int:
    """How many of the round's proposals count against the person's limit: those they author (wrote or co-author),
    each once, not withdrawn."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Proposal)
            .where(Proposal.round_id == round_.id, authored_by(user_id), Proposal.status != "withdrawn")
        )
        or 0
    )


def _limit_problem(actor: User, round_: Round) -> str | None:
    """What stops the actor adding a proposal to the round: the round's limit of proposals per member reached
    (co-authored proposals count as their own)."""
    mine = proposals_counted(actor.id, round_)
    if mine < round_.max_proposals_per_member:
        return None
    written = db.session.scalar(
        select(func.count())
        .select_from(Proposal)
        .where(Proposal.round_id == round_.id, authored_by(actor.id), Proposal.status != "withdrawn")
        .where(Proposal.author_id == actor.id)
    )
    if written == mine:
        return ngettext(
            # English keeps one form ("1 proposals", as it always read); the other languages have their own.
            "You have %(num)d proposals in this round, the most a member may have. Withdraw one to add another.",
            "You have %(num)d proposals in this round, the most a member may have. Withdraw one to add another.",
            mine,
        )
    return ngettext(
        "You have %(num)d proposals in this round, co-authored ones included, the most a member may have. "
        "Withdraw or leave one to add another.",
        "You have %(num)d proposals in this round, co-authored ones included, the most a member may have. "
        "Withdraw or leave one to add another.",
        mine,
    )


def _note_problem(proposal: Proposal, phase: str, note: str) -> str | None:
    """What is wrong with an edit's note: too long, or missing for an amendment (while deliberating or deciding)."""
    if len(note) > 2000:
        return gettext("Keep the note to %(most)s characters.", most=format_number(2000))
    if proposal.status == "submitted" and phase in ("deliberation", "deciding") and not note:
        return gettext("Say what the amendment changes, and why.")
    return None


def proposal_problems(
    actor: User,
    round_: Round,
    data: ProposalInput,
    *,
    now: datetime,
    proposal: Proposal | None = None,
    change_note: str = "",
    unreadable_lines: frozenset[int] = frozenset(),
) -> Problems:
    """Every rule a new proposal (or, with `proposal`, an edit of it) breaks, found without changing anything: a
    form that has mistakes of its own asks this, so that it shows the service's mistakes on the same submit. The
    same rules as `create_proposal` and `update_proposal` (the content, the limit per member, the edit's note);
    not who may or when, which they check and refuse before any of these."""
    problems = Problems()
    _validate(data, round_, problems, unreadable_lines=unreadable_lines)
    if proposal is None:
        if (limit := _limit_problem(actor, round_)) is not None:
            problems.general.append(limit)
    elif (note_problem := _note_problem(proposal, round_.phase_at(now), change_note.strip())) is not None:
        problems.add("change_note", note_problem)
    return problems


def create_proposal(actor: User, round_: Round, data: ProposalInput, *, submit: bool, now: datetime) -> Proposal:
    """A member of the circle writes a proposal while the round is open for proposals, as a draft or submitted.

    :raises PermissionDenied: unless the actor is a member of the round's circle.
    :raises Conflict: if the round is not open for proposals.
    The round's row is locked first, so the phase is read as it is now and the count of the member's proposals
    stays true until this one is stored: two proposals sent at once cannot both pass a limit of one.

    :raises ValidationFailed: for invalid content, or past the round's limit of proposals per member.
    """
    lock(round_)
    _require_member(actor, round_)
    require_open_for_proposals(round_, now)
    problems = Problems()
    values = _validate(data, round_, problems)
    if (limit := _limit_problem(actor, round_)) is not None:
        problems.general.append(limit)
    if problems:
        raise ProposalProblems(problems)
    proposal = Proposal(
        round_id=round_.id,
        author_id=actor.id,
        status="submitted" if submit else "draft",
        current_version=1,
        created_at=now,
        submitted_at=now if submit else None,
    )
    db.session.add(proposal)
    db.session.flush()
    db.session.add(
        ProposalVersion(
            proposal_id=proposal.id,
            number=1,
            created_at=now,
            created_by_id=actor.id,
            cost_lines=_line_rows(values["cost_lines"]),
            **_version_columns(values),
        )
    )
    for created in proposal_created.receivers():
        created(actor, proposal, now)
    circle_id = round_.circle_id
    # A draft is its author's alone: the ledger says one was started, and gets its content when it is submitted.
    record(
        "proposal.created",
        actor=actor,
        circle_id=circle_id,
        subject=proposal,
        data={"round": round_.id, "version": 1, **(_ledger_summary(values) if submit else {"draft": True})},
        at=now,
    )
    if submit:
        record("proposal.submitted", actor=actor, circle_id=circle_id, subject=proposal, data={"version": 1}, at=now)
    return proposal


def update_proposal(
    actor: User, proposal: Proposal, data: ProposalInput, *, change_note: str, now: datetime
) -> ProposalVersion:
    """An author (who wrote it, or an accepted co-author) changes a proposal. A draft changes in place; a
    submitted proposal gets a new version, while the round is open for proposals (a note is optional), in
    deliberation, or (in a consent round, between consent rounds, until consented) while deciding: those are
    amendments, and the note says what changed and why (`require_changeable`).

    :raises PermissionDenied: unless the actor authors the proposal.
    :raises Conflict: if the proposal is withdrawn or the phase no longer allows changes.
    :raises ValidationFailed: for invalid content, a missing amendment note, or no change at all.
    """
    round_ = _lock_round_and(proposal)
    _require_author(actor, proposal)
    require_changeable(proposal, round_, now)
    phase = round_.phase_at(now)
    version = current_version(proposal)
    problems = Problems()
    values = _validate(data, round_, problems, (version.body, version.body_html))
    note = change_note.strip()
    if (note_problem := _note_problem(proposal, phase, note)) is not None:
        problems.add("change_note", note_problem)
    if problems:
        raise ProposalProblems(problems)
    if cost_lines_of(version) == values["cost_lines"] and all(
        getattr(version, key) == value for key, value in _version_columns(values).items()
    ):
        raise ValidationFailed(gettext("Nothing changed: edit something first."))
    circle_id = round_.circle_id
    if proposal.status == "draft":
        for key, value in _version_columns(values).items():
            setattr(version, key, value)
        if cost_lines_of(version) != values["cost_lines"]:
            # The old lines go first: the new ones take the same places (one line per place of a version).
            version.cost_lines.clear()
            db.session.flush()
            version.cost_lines.extend(_line_rows(values["cost_lines"]))
        version.change_note = note
        record("proposal.draft_edited", actor=actor, circle_id=circle_id, subject=proposal, data={"version": 1}, at=now)
        return version
    number = proposal.current_version + 1
    new_version = ProposalVersion(
        proposal_id=proposal.id,
        number=number,
        change_note=note,
        created_at=now,
        created_by_id=actor.id,
        cost_lines=_line_rows(values["cost_lines"]),
        **_version_columns(values),
    )
    db.session.add(new_version)
    proposal.current_version = number
    action = "proposal.amended" if phase in ("deliberation", "deciding") else "proposal.version_created"
    record(
        action,
        actor=actor,
        circle_id=circle_id,
        subject=proposal,
        data={"version": number, "change_note": note, **_ledger_summary(values)},
        at=now,
    )
    return new_version


def require_changeable(proposal: Proposal, round_: Round, now: datetime) -> None:
    """Whether the proposal may change now: not withdrawn; a draft while the round is open for proposals; a
    submitted one then and in deliberation, or while deciding when its decision method allows amendments (consent,
    between consent rounds). Who writes it (its co-authors) changes only as long as it may.

    :raises Conflict: saying why it may not.
    """
    if proposal.status == "withdrawn":
        raise Conflict(gettext("This proposal was withdrawn and cannot change."))
    phase = round_.phase_at(now)
    allowed = ("proposals",) if proposal.status == "draft" else ("proposals", "deliberation")
    consent_amendment = (
        proposal.status == "submitted" and phase == "deciding" and round_.method in amending_while_deciding
    )
    if consent_amendment:
        amending_while_deciding[round_.method](proposal)
    elif phase == COUNTING and (closed := round_.passed_deadline("deciding", now)) is not None:
        raise Conflict(
            gettext(
                "Proposals cannot be changed any more: deciding closed at %(time)s.", time=deadline_text(round_, closed)
            )
        )
    elif phase not in allowed:
        if proposal.status == "draft" and (ended := round_.passed_deadline("proposals", now)) is not None:
            raise Conflict(
                gettext(
                    "A draft can no longer be changed: proposals closed at %(time)s.", time=deadline_text(round_, ended)
                )
            )
        raise Conflict(gettext("Proposals cannot be changed while the round is in %(phase)s.", phase=phase_word(phase)))


def _lock_round_and(proposal: Proposal) -> Round:
    """Lock the proposal's round, then the proposal (the order every writer takes them in), and read both again:
    what a change may do depends on the round's phase and the proposal's status, and the phase change holds the
    round too. Returns the round."""
    round_ = lock(proposal.round)
    lock(proposal)
    return round_


def _set_status(proposal: Proposal, from_statuses: tuple[str, ...], to: str, **values: Any) -> None:
    compare_and_set(
        proposal,
        expected=Proposal.status.in_(from_statuses),
        values={"status": to, **values},
        conflict=Conflict(gettext("The proposal changed meanwhile; reload to see it as it is now.")),
    )


def submit_proposal(actor: User, proposal: Proposal, now: datetime) -> Proposal:
    """An author (who wrote it, or a co-author) submits a draft while the round is open for proposals.

    :raises PermissionDenied: unless the actor authors it.
    :raises Conflict: if it is not a draft, or the round is not open for proposals.
    """
    round_ = _lock_round_and(proposal)
    _require_author(actor, proposal)
    if proposal.status != "draft":
        raise Conflict(
            gettext("Only a draft can be submitted; this proposal is %(status)s.", status=status_word(proposal.status))
        )
    require_open_for_proposals(round_, now)
    _set_status(proposal, ("draft",), "submitted", submitted_at=now)
    version = current_version(proposal)
    content = {key: getattr(version, key) for key in _VERSION_FIELDS} | {"cost_lines": cost_lines_of(version)}
    record(
        "proposal.submitted",
        actor=actor,
        circle_id=proposal.round.circle_id,
        subject=proposal,
        data={"version": proposal.current_version, **_ledger_summary(content)},
        at=now,
    )
    return proposal


def withdraw_proposal(actor: User, proposal: Proposal, now: datetime) -> Proposal:
    """The author withdraws a proposal, at any time until deciding closes (its deadline, or the round decided).
    Only the member who wrote it: it takes the proposal out for every co-author too, who may leave instead.

    :raises PermissionDenied: unless the actor wrote it.
    :raises Conflict: if it is withdrawn already, deciding closed or the round is decided.
    """
    _lock_round_and(proposal)
    _require_lead_author(actor, proposal)
    if proposal.status == "withdrawn":
        raise Conflict(gettext("This proposal is withdrawn already."))
    phase = proposal.round.phase_at(now)
    if phase == COUNTING and (closed := proposal.round.passed_deadline("deciding", now)) is not None:
        raise Conflict(
            gettext(
                "Deciding closed at %(time)s: proposals can no longer be withdrawn; the result will be published "
                "when it is counted.",
                time=deadline_text(proposal.round, closed),
            )
        )
    if not is_before(phase, COUNTING):
        raise Conflict(
            gettext("The round is %(phase)s: proposals can no longer be withdrawn.", phase=phase_word(phase))
        )
    _set_status(proposal, ("draft", "submitted"), "withdrawn", withdrawn_at=now)
    for withdrawn in proposal_withdrawn.receivers():
        withdrawn(actor, proposal, now)
    record(
        "proposal.withdrawn",
        actor=actor,
        circle_id=proposal.round.circle_id,
        subject=proposal,
        data={"version": proposal.current_version},
        at=now,
    )
    return proposal


def get_visible_proposal(proposal_id: int, viewer: User | None) -> Proposal:
    """A proposal its viewer may see: drafts are their authors' alone (and of those invited to co-author them, who
    read what they are asked to join).

    :raises NotFound: for an unknown id or somebody else's draft.
    """
    proposal = db.session.get(Proposal, proposal_id)
    if proposal is None or (
        proposal.status == "draft" and not (is_author(proposal, viewer) or is_invited(proposal, viewer))
    ):
        raise NotFound(gettext("There is no such proposal."))
    return proposal


def versions_of(proposal: Proposal) -> list[ProposalVersion]:
    return list(
        db.session.scalars(
            select(ProposalVersion).where(ProposalVersion.proposal_id == proposal.id).order_by(ProposalVersion.number)
        )
    )


def version_content(version: ProposalVersion) -> VersionContent:
    payee = (
        gettext("Open Collective: %(account)s", account=version.payee_slug)
        if version.payee_slug
        else gettext("%(name)s (invited)", name=version.payee_name)
    )
    return VersionContent(
        title=version.title,
        summary=version.summary,
        body=version.body,
        amount_minor=version.amount_minor,
        currency=version.currency,
        category=version.category,
        payee=payee,
    )


@dataclass(frozen=True)
class ProposalRow:
    """A proposal as the round page lists it, built by one query."""

    id: int
    status: str
    title: str
    summary: str
    amount_minor: int
    currency: str
    category: str | None
    author_name: str
    author_id: int
    version: int
    created_at: datetime
    #: Added by deliberation's `row_counts`: visible comments.
    comments: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _listed_query(round_: Round, viewer: User | None) -> Select[Any]:
    """The round's proposals as listed (drafts only the viewer's own), without the counts."""
    viewer_id = viewer.id if viewer is not None and viewer.is_authenticated else -1
    return (
        select(
            Proposal.id,
            Proposal.status,
            ProposalVersion.title,
            ProposalVersion.summary,
            ProposalVersion.amount_minor,
            ProposalVersion.currency,
            ProposalVersion.category,
            User.name.label("author_name"),
            Proposal.author_id,
            Proposal.current_version.label("version"),
            Proposal.created_at,
        )
        .join(
            ProposalVersion,
            (ProposalVersion.proposal_id == Proposal.id) & (ProposalVersion.number == Proposal.current_version),
        )
        .join(User, User.id == Proposal.author_id)
        .where(Proposal.round_id == round_.id)
        .where((Proposal.status != "draft") | authored_by(viewer_id))
    )


def _with_counts(listed: Select[Any], counted_ids: Select[Any] | None = None) -> tuple[Select[Any], Any]:
    """`listed` as a subquery with the counts the areas above add, counted over `counted_ids` (by default the
    listed proposals alone); and the subquery, whose columns order the result."""
    # A CTE: referenced twice (the rows, and the ids whose counts are wanted), it is computed once.
    rows = listed.cte("listed")
    counted_ids = counted_ids if counted_ids is not None else select(rows.c.id)
    counts = [count(counted_ids) for count in row_counts.receivers()]
    query = select(*rows.c, *(func.coalesce(counted.c[1], 0).label(counted.c[1].name) for counted in counts))
    joined: Any = rows
    for counted in counts:
        joined = joined.outerjoin(counted, counted.c[0] == rows.c.id)
    return query.select_from(joined), rows


def list_proposals(
    round_: Round,
    viewer: User | None,
    *,
    category: str | None = None,
    status: str | None = None,
    sort: str = "newest",
    after: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[ProposalRow]:
    """The round's proposals that the viewer may see (drafts only their own), filtered and sorted, in one query;
    `limit` rows from `offset` when given. With `after`, a keyset page in id order instead (`limit` rows with ids
    above `after`).

    A page is chosen first and only its proposals' comments are counted, so a page costs the same in a round of
    ten thousand comments as in one of ten; only "most discussed", which sorts by the counts, counts them all."""
    listed = _listed_query(round_, viewer)
    if category:
        listed = listed.where(ProposalVersion.category == category)
    if status in ("draft", "submitted", "withdrawn"):
        listed = listed.where(Proposal.status == status)
    if after is not None:
        page = listed.where(Proposal.id > after).order_by(Proposal.id).limit(limit or 100)
        query, rows = _with_counts(page)
        return [ProposalRow(**row._mapping) for row in db.session.execute(query.order_by(rows.c.id))]
    sort = sort if sort in SORTS else "newest"
    if sort == "discussed":
        query, rows = _with_counts(listed, select(Proposal.id).where(Proposal.round_id == round_.id))
        order: tuple[Any, ...] = (desc(literal_column("comments")), rows.c.id.desc())
        query = query.order_by(case((rows.c.status == "withdrawn", 1), else_=0), *order)
        if limit is not None:
            query = query.limit(limit).offset(offset)
        return [ProposalRow(**row._mapping) for row in db.session.execute(query)]

    def in_order(status: Any, amount_minor: Any, created_at: Any, id_: Any) -> tuple[Any, ...]:
        withdrawn_last = case((status == "withdrawn", 1), else_=0)
        if sort == "amount":
            return (withdrawn_last, amount_minor.desc(), id_)
        return (withdrawn_last, created_at.desc(), id_.desc())

    page = listed.order_by(*in_order(Proposal.status, ProposalVersion.amount_minor, Proposal.created_at, Proposal.id))
    if limit is not None:
        page = page.limit(limit).offset(offset)
    query, rows = _with_counts(page)
    ordered = query.order_by(*in_order(rows.c.status, rows.c.amount_minor, rows.c.created_at, rows.c.id))
    return [ProposalRow(**row._mapping) for row in db.session.execute(ordered)]


@phase_change_audience.connect
def authors_in_round(round_: Round) -> Select[Any]:
    """The authors (co-authors too) of the round's submitted proposals hear of its phase changes."""
    authors = proposal_authors()
    return (
        select(authors.c.user_id)
        .join(Proposal, Proposal.id == authors.c.proposal_id)
        .where(Proposal.round_id == round_.id, Proposal.status == "submitted")
    )
