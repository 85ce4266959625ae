from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from fundcircle.access import ANY_MEMBER, Place, finds_place, has_role, requires
from fundcircle.attachments import services as attachments
from fundcircle.attachments.views import owner_pages
from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.errors import Conflict, FundCircleError, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.forms import ConfirmForm, attach_error
from fundcircle.hooks import PageParts
from fundcircle.i18n import current_language, money_input, money_text
from fundcircle.markdown import render_markdown
from fundcircle.money import MoneyError, minor_digits, number_symbols, parse_money
from fundcircle.proposals import authorship, coauthors, services
from fundcircle.proposals.diff import CostLine, body_changes, cost_lines_changes, field_changes
from fundcircle.proposals.forms import CoauthorInviteForm, ProposalForm, ReadProposal, money_message
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.proposals.wording_diff import rendered_diff
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import get_round
from fundcircle.rounds.views import round_page
from fundcircle.unit_of_work import refuse

bp = Blueprint("proposals", __name__)


@finds_place("proposal_id")
def _place_of_proposal(proposal_id: int) -> Place | None:
    proposal = db.session.get(Proposal, proposal_id)
    return Place(proposal.round.circle) if proposal is not None else None


def _proposal_owner(proposal_id: int) -> attachments.Owner | None:
    proposal = db.session.get(Proposal, proposal_id)
    if proposal is None:
        return None
    return attachments.Owner(
        "proposal", proposal.id, proposal.round.circle, proposal, ledger_data={"proposal": proposal.id}
    )


def _may_view_proposal(owner: attachments.Owner, viewer: User | None) -> bool:
    """As the proposal page: a draft is its author's alone (the circle's members see the rest)."""
    proposal: Proposal = owner.thing
    return (
        proposal.status != "draft" or authorship.is_author(proposal, viewer) or authorship.is_invited(proposal, viewer)
    )


#: The phases in which a proposal's author may attach files to it: while it may be edited.
ATTACHING_PHASES = ("proposals", "deliberation")


def _check_may_attach_to_proposal(owner: attachments.Owner, actor: User, now: Any) -> None:
    """The authors (co-authors too) attach files to their proposal while it may still change, as they edit it."""
    proposal: Proposal = owner.thing
    if not authorship.is_author(proposal, actor):
        raise PermissionDenied(gettext("Only the proposal's authors can attach files to it."))
    if proposal.status == "withdrawn":
        raise Conflict(gettext("This proposal was withdrawn; nothing can be attached to it."))
    if proposal.round.phase_at(now) not in ATTACHING_PHASES:
        raise Conflict(gettext("Files can be attached to a proposal while the round takes proposals or deliberates."))


attachments.register_owner_kind(
    "proposal", attachments.OwnerKind(_proposal_owner, _may_view_proposal, _check_may_attach_to_proposal)
)
owner_pages.provide("proposal")(lambda proposal_id: url_for("proposals.view", proposal_id=proposal_id) + "#attachments")


#: Proposals listed on one page of a round.
PAGE_SIZE = 100


@round_page.part
def proposals_of_round(round_: Round) -> dict[str, Any]:
    """The round page's proposals: a page at a time (a city-wide round can have thousands), filtered and sorted as
    the query string says."""
    category = request.args.get("category") or None
    status = request.args.get("status") or None
    sort = request.args.get("sort") if request.args.get("sort") in services.SORTS else "newest"
    page_arg = request.args.get("page", "1")
    page = int(page_arg) if page_arg.isascii() and page_arg.isdigit() and 0 < len(page_arg) <= 6 else 1
    page = max(page, 1)
    rows = services.list_proposals(
        round_, current_user, category=category, status=status, sort=sort, limit=PAGE_SIZE + 1,
        offset=(page - 1) * PAGE_SIZE,
    )  # fmt: skip
    return {
        "proposals": rows[:PAGE_SIZE],
        "page": page,
        "more": len(rows) > PAGE_SIZE,
        "filters": {"category": category or "", "status": status or "", "sort": sort},
    }


#: What the areas above add to the proposal page: its discussion (deliberation), its consent rounds (consent).
#: Each part is called with the proposal and the phase its round is really in, and returns template variables.
proposal_page = PageParts("proposal page")


@proposal_page.part
def attachments_of_proposal(proposal: Proposal, phase: str) -> dict[str, Any]:
    """The proposal's files (images shown, documents to download), and the form to attach one (its author, while
    the proposal may change)."""
    files = attachments.attachments_of("proposal", [proposal.id])[proposal.id]
    return {
        "proposal_attachments": files,
        "removable_proposal_attachments": attachments.removable_ids(current_user, files),
        "can_attach_to_proposal": authorship.is_author(proposal, current_user)
        and proposal.status != "withdrawn"
        and phase in ATTACHING_PHASES,
    }


def render_proposal(proposal: Proposal, status: int = 200, **overrides: Any) -> tuple[str, int]:
    """The proposal page: its current version, versions, and what the areas above add (a constant number of
    queries). `overrides` replace parts' variables (a comment form with its errors)."""
    versions = services.versions_of(proposal)
    current = (
        versions[-1]
        if versions and versions[-1].number == proposal.current_version
        else services.current_version(proposal)
    )
    round_ = proposal.round
    now = utcnow()
    # The phase the round is really in: a deadline that passed counts, though `rounds tick` has not moved it yet.
    phase = round_.phase_at(now)
    is_author = authorship.is_author(proposal, current_user)
    is_lead_author = authorship.is_lead_author(proposal, current_user)
    invite_form: CoauthorInviteForm | None = None
    if is_lead_author and _changeable(proposal, now):
        invite_form = CoauthorInviteForm()
        invite_form.user_id.choices = [(0, gettext("Choose a member"))] + coauthors.invitable_members(proposal)
    parts = {**proposal_page.context(proposal, phase), **overrides}
    editable_phase = phase in ("proposals", "deliberation") and not (
        proposal.status == "draft" and phase != "proposals"
    )
    return (
        render_template(
            "proposals/view.html",
            **parts,
            proposal=proposal,
            version=current,
            versions=versions,
            round=round_,
            phase_now=phase,
            circle=round_.circle,
            confirm_form=ConfirmForm(),
            is_author=is_author,
            is_lead_author=is_lead_author,
            authors=authorship.authors_of(proposal),
            pending_coauthors=coauthors.coauthors_of(proposal, statuses=("invited",)) if is_lead_author else [],
            invitation=coauthors.invitation_for(current_user, proposal),
            invite_form=invite_form,
            is_admin=has_role("admin"),
            can_edit=is_author
            and proposal.status != "withdrawn"
            and (editable_phase or parts.get("amendable_in_consent", False)),
            can_withdraw=is_lead_author
            and proposal.status != "withdrawn"
            and phase in ("proposals", "deliberation", "deciding"),
            show_payee_email=is_author or has_role("treasurer") or has_role("admin"),
            now=now,
        ),
        status,
    )


def _changeable(proposal: Proposal, now: datetime) -> bool:
    """Whether the proposal may change now (and so take co-authors): `services.require_changeable` as a yes or no."""
    try:
        services.require_changeable(proposal, proposal.round, now)
    except Conflict:
        return False
    return True


@bp.route("/rounds/<int:round_id>/proposals/new", methods=["GET", "POST"])
@requires(ANY_MEMBER)
def create(round_id: int) -> str | Response | tuple[str, int]:
    round_ = get_round(round_id)
    form = ProposalForm().for_round(round_)
    status = 200
    try:
        services.require_open_for_proposals(round_, utcnow())
    except Conflict as error:
        flash(error.message, "error")
        return redirect(url_for("rounds.view", round_id=round_.id))
    action = request.form.get("action")
    if action == "preview" and form.is_submitted():
        return _form_page(form, round_, None, preview=_preview(form, round_), status=200)
    if form.is_submitted():
        read, payee_name, status = _checked(form, round_, None)
        if status == 200:
            try:
                proposal = services.create_proposal(
                    current_user, round_, read.data, submit=action == "submit", now=utcnow()
                )
            except FundCircleError as error:
                status = _refused(form, read, error)
            else:
                flash(
                    (
                        gettext("Your proposal is submitted.")
                        if proposal.status == "submitted"
                        else gettext("Your draft is saved.")
                    )
                    + _paid_to(form, payee_name),
                    "success",
                )
                return redirect(url_for("proposals.view", proposal_id=proposal.id))
    return _form_page(form, round_, None, status=status)


def _checked(form: ProposalForm, round_: Round, proposal: Proposal | None) -> tuple[ReadProposal, str | None, int]:
    """Every mistake of the form in one pass: its own checks (lengths, amounts that are not numbers), the payee's
    account on Open Collective, and, when any of those fails, the service's rules as well (content, amounts
    against the lines and the cap, the payee, the limit per member, an amendment's note), each at its field.
    Returns what the form reads, the payee account's name, and 200 when nothing is wrong (the service may still
    refuse when it writes), else the answer's status: 400 for what the form itself refuses, 422 for the rest."""
    form_ok = form.validate()
    read = form.read(round_)
    payee_name: str | None = None
    payee_ok = True
    try:
        payee_name = _checked_payee(round_, form)
    except ValidationFailed as error:
        attach_error(form, error, aliases=ProposalForm.ALIASES)
        payee_ok = False
    if form_ok and payee_ok and not read.faulty:
        return read, payee_name, 200
    form.place(
        services.proposal_problems(
            current_user,
            round_,
            read.data,
            now=utcnow(),
            proposal=proposal,
            change_note=form.change_note.data or "",
            unreadable_lines=read.unreadable_lines,
        ),
        read,
    )
    return read, payee_name, 400 if not form_ok else 422


def _refused(form: ProposalForm, read: ReadProposal, error: FundCircleError) -> int:
    """Roll back and show why the service refused, each mistake at its field; the answer's status."""
    refuse()
    if isinstance(error, services.ProposalProblems):
        form.place(error.problems, read)
    else:
        attach_error(form, error, aliases=ProposalForm.ALIASES)
    return error.status


def _form_page(
    form: ProposalForm, round_: Round, proposal: Proposal | None, *, status: int, preview: Preview | None = None
) -> tuple[str, int]:
    """The proposal form, with spare cost lines below those written, and the preview when one was asked for. The
    page's script reads the cost lines' amounts with the reader's own symbols and the currency's minor digits."""
    decimal_symbol, group_symbol = number_symbols(current_language())
    return render_template(
        "proposals/form.html",
        form=form.with_room_for_lines(),
        round=round_,
        circle=round_.circle,
        proposal=proposal,
        preview=preview,
        payee_checked_on_save=services.payee_can_be_checked(round_.circle),
        decimal_symbol=decimal_symbol,
        group_symbol=group_symbol,
        currency_digits=minor_digits(round_.currency),
    ), status


@dataclass(frozen=True)
class Preview:
    """The proposal as its page would show it, from the form as it stands: nothing is saved."""

    title: str
    summary: str
    body_html: str
    lines: list[tuple[str, int | None]]
    #: The amount asked: the lines' total when the amount is left empty (None: not a number yet).
    amount_minor: int | None


def _preview(form: ProposalForm, round_: Round) -> Preview:
    form.validate()  # the CSRF token, and the fields' own limits; nothing is written either way
    lines = form.written_lines(round_.currency)
    text = (form.amount.data or "").strip()
    amount: int | None
    if text:
        try:
            amount = parse_money(text, round_.currency, current_language())
        except MoneyError as error:
            form.amount.errors = [money_message(error)]
            amount = None
    elif lines and all(line_amount is not None for _, line_amount in lines):
        amount = sum(line_amount or 0 for _, line_amount in lines)
    else:
        amount = None
    return Preview(
        title=(form.title.data or "").strip(),
        summary=(form.summary.data or "").strip(),
        body_html=render_markdown((form.body.data or "").strip()),
        lines=lines,
        amount_minor=amount,
    )


@bp.route("/proposals/<int:proposal_id>")
@requires(ANY_MEMBER)
def view(proposal_id: int) -> tuple[str, int]:
    return render_proposal(services.get_visible_proposal(proposal_id, current_user))


def _checked_payee(round_: Round, form: ProposalForm) -> str | None:
    """The Open Collective name of the payee account the form names, asked before anything is written.

    :raises ValidationFailed: on `payee_slug` if Open Collective has no such account.
    """
    slug = (form.payee_slug.data or "").strip().lower()
    # A short name of the wrong form is the service's to refuse (once, at the field); only a well-formed one is asked.
    well_formed = bool(services.OC_SLUG.match(slug))
    if form.payee_kind.data != "account" or not well_formed or "open collective" not in services.payee_lookup:
        return None
    return services.payee_lookup["open collective"](round_.circle, slug)


def _paid_to(form: ProposalForm, payee_name: str | None) -> str:
    if payee_name:
        return " " + gettext("The payee's account on Open Collective is “%(name)s”.", name=payee_name)
    if form.payee_kind.data == "account":
        return " " + gettext(
            "Open Collective could not be asked about the payee's account now: check its short name on "
            "opencollective.com; it is checked again before the payout is requested."
        )
    return ""


def _form_data_of(version: ProposalVersion) -> MultiDict[str, Any]:
    return MultiDict(
        {
            "title": version.title,
            "summary": version.summary,
            "body": version.body,
            # With cost lines the amount stays empty (their total is the ask): filled in, it would hold the old total
            # and refuse every change of a line's amount until the author emptied it.
            "amount": "" if version.cost_lines else money_input(version.amount_minor, version.currency),
            "category": version.category or "",
            "payee_kind": "account" if version.payee_slug else "person",
            "payee_slug": version.payee_slug or "",
            "payee_name": version.payee_name or "",
            "payee_email": version.payee_email or "",
            **{
                f"cost_lines-{index}-{name}": value
                for index, line in enumerate(version.cost_lines)
                for name, value in (
                    ("description", line.description),
                    ("amount", money_input(line.amount_minor, version.currency)),
                )
            },
        }
    )


@bp.route("/proposals/<int:proposal_id>/edit", methods=["GET", "POST"])
@requires(ANY_MEMBER)
def edit(proposal_id: int) -> str | Response | tuple[str, int]:
    proposal = services.get_visible_proposal(proposal_id, current_user)
    if not authorship.is_author(proposal, current_user):
        return render_template(
            "errors/error.html", status=403, message=gettext("Only the proposal's authors can change it.")
        ), 403
    round_ = proposal.round
    if request.method == "POST":
        form = ProposalForm().for_round(round_)
    else:
        form = ProposalForm(formdata=_form_data_of(services.current_version(proposal))).for_round(round_)
    status = 200
    if request.method == "POST" and request.form.get("action") == "preview":
        return _form_page(form, round_, proposal, preview=_preview(form, round_), status=200)
    if request.method == "POST":
        read, payee_name, status = _checked(form, round_, proposal)
        if status == 200:
            try:
                services.update_proposal(
                    current_user, proposal, read.data, change_note=form.change_note.data or "", now=utcnow()
                )
            except FundCircleError as error:
                status = _refused(form, read, error)
            else:
                flash(
                    (
                        gettext("Saved.")
                        if proposal.status == "draft"
                        else gettext("Saved as version %(number)s.", number=proposal.current_version)
                    )
                    + _paid_to(form, payee_name),
                    "success",
                )
                return redirect(url_for("proposals.view", proposal_id=proposal.id))
    return _form_page(form, round_, proposal, status=status)


def _change_status(proposal_id: int, change: Any, done: str) -> Response:
    proposal = services.get_visible_proposal(proposal_id, current_user)
    if ConfirmForm().validate_on_submit():
        try:
            change(current_user, proposal, utcnow())
        except (Conflict, ValidationFailed) as error:
            refuse()
            flash(error.message, "error")
        else:
            flash(done, "success")
    return redirect(url_for("proposals.view", proposal_id=proposal_id))


@bp.route("/proposals/<int:proposal_id>/submit", methods=["POST"])
@requires(ANY_MEMBER)
def submit(proposal_id: int) -> Response:
    return _change_status(proposal_id, services.submit_proposal, gettext("Your proposal is submitted."))


@bp.route("/proposals/<int:proposal_id>/withdraw", methods=["GET", "POST"])
@requires(ANY_MEMBER)
def withdraw(proposal_id: int) -> Response | tuple[str, int]:
    """GET asks (what withdrawing does, and what is open on the proposal); POST withdraws. It cannot be undone, so it
    is never one click next to Edit."""
    if request.method == "POST":
        return _change_status(proposal_id, services.withdraw_proposal, gettext("Your proposal is withdrawn."))
    proposal = services.get_visible_proposal(proposal_id, current_user)
    if not authorship.is_lead_author(proposal, current_user):
        return render_template(
            "errors/error.html", status=403, message=gettext("Only the member who wrote the proposal can withdraw it.")
        ), 403
    round_ = proposal.round
    phase = round_.phase_at(utcnow())
    if proposal.status == "withdrawn" or phase not in ("proposals", "deliberation", "deciding"):
        message = (
            gettext("This proposal is withdrawn already.")
            if proposal.status == "withdrawn"
            else gettext("Proposals can no longer be withdrawn: deciding has closed.")
        )
        return render_template("errors/error.html", status=409, message=message), 409
    return (
        render_template(
            "proposals/withdraw.html",
            **proposal_page.context(proposal, phase),
            proposal=proposal,
            version=services.current_version(proposal),
            round=round_,
            circle=round_.circle,
            phase_now=phase,
            confirm_form=ConfirmForm(),
        ),
        200,
    )


@bp.route("/proposals/<int:proposal_id>/diff")
@requires(ANY_MEMBER)
def diff(proposal_id: int) -> tuple[str, int]:
    proposal = services.get_visible_proposal(proposal_id, current_user)
    versions = {version.number: version for version in services.versions_of(proposal)}
    try:
        old_number = int(request.args.get("from", max(1, proposal.current_version - 1)))
        new_number = int(request.args.get("to", proposal.current_version))
    except ValueError:
        raise ValidationFailed(gettext("Versions are numbers, like ?from=1&to=2.")) from None
    if old_number not in versions or new_number not in versions:
        raise ValidationFailed(gettext("This proposal has versions 1 to %(last)s.", last=proposal.current_version))
    old, new = versions[old_number], versions[new_number]
    # The words as the proposal page shows them (each version's stored rendering), or the Markdown typed, line by line.
    source = request.args.get("view") == "source"
    return (
        render_template(
            "proposals/diff.html",
            proposal=proposal,
            round=proposal.round,
            circle=proposal.round.circle,
            old=old,
            new=new,
            versions=list(versions.values()),
            fields=field_changes(
                services.version_content(old),
                services.version_content(new),
                money=money_text,
                none=gettext("none"),
            ),
            costs=cost_lines_changes(
                [CostLine(line.description, line.amount_minor) for line in old.cost_lines],
                [CostLine(line.description, line.amount_minor) for line in new.cost_lines],
                old_total_minor=old.amount_minor,
                new_total_minor=new.amount_minor,
            ),
            view="source" if source else "words",
            lines=body_changes(old.body, new.body) if source else [],
            blocks=[] if source else rendered_diff(old.body_html, new.body_html),
        ),
        200,
    )


# --- co-authors (proposals/coauthors.py) ---------------------------------------------------------------------------


def _coauthor_step(proposal_id: int, change: Any, done: str) -> Response:
    """Confirm, call the co-authorship service, commit, and say what happened on the proposal page; a refusal the
    person can act on (answered meanwhile, past the limit) is said there too. Who may do it is the service's to
    check: refused, the answer is 403."""
    proposal = services.get_visible_proposal(proposal_id, current_user)
    if not ConfirmForm().validate_on_submit():
        flash(gettext("That answer could not be read; try again."), "error")
        return redirect(url_for("proposals.view", proposal_id=proposal.id))
    try:
        change(current_user, proposal, utcnow())
    except (Conflict, ValidationFailed) as error:
        refuse()
        flash(error.message, "error")
    else:
        flash(done, "success")
    return redirect(url_for("proposals.view", proposal_id=proposal.id))


@bp.route("/proposals/<int:proposal_id>/coauthors", methods=["POST"])
@requires(ANY_MEMBER)
def invite_coauthor(proposal_id: int) -> Response:
    """The member who wrote the proposal invites a member of the circle to co-author it."""
    proposal = services.get_visible_proposal(proposal_id, current_user)
    form = CoauthorInviteForm()
    if not form.validate_on_submit() or not form.user_id.data:
        flash(gettext("Choose the member to invite."), "error")
        return redirect(url_for("proposals.view", proposal_id=proposal.id) + "#authors")
    invitee = db.session.get(User, form.user_id.data)
    try:
        if invitee is None:
            raise ValidationFailed(gettext("Only members of the circle can co-author its proposals."), field="user_id")
        coauthors.invite_coauthor(current_user, proposal, invitee, utcnow())
    except (Conflict, ValidationFailed) as error:
        refuse()
        flash(error.message, "error")
        return redirect(url_for("proposals.view", proposal_id=proposal.id) + "#authors")
    flash(gettext("%(name)s is invited to co-author the proposal, and is told so.", name=invitee.name), "success")
    return redirect(url_for("proposals.view", proposal_id=proposal.id) + "#authors")


@bp.route("/proposals/<int:proposal_id>/coauthors/accept", methods=["POST"])
@requires(ANY_MEMBER)
def accept_coauthorship(proposal_id: int) -> Response:
    return _coauthor_step(
        proposal_id, coauthors.accept_coauthorship, gettext("You co-author this proposal now: you may edit it.")
    )


@bp.route("/proposals/<int:proposal_id>/coauthors/decline", methods=["POST"])
@requires(ANY_MEMBER)
def decline_coauthorship(proposal_id: int) -> Response:
    return _coauthor_step(proposal_id, coauthors.decline_coauthorship, gettext("You declined the invitation."))


@bp.route("/proposals/<int:proposal_id>/coauthors/leave", methods=["POST"])
@requires(ANY_MEMBER)
def leave_coauthorship(proposal_id: int) -> Response:
    return _coauthor_step(
        proposal_id, coauthors.withdraw_coauthorship, gettext("You no longer co-author this proposal.")
    )


@bp.route("/proposals/<int:proposal_id>/coauthors/<int:user_id>/remove", methods=["POST"])
@requires(ANY_MEMBER)
def remove_coauthor(proposal_id: int, user_id: int) -> Response:
    """The member who wrote the proposal takes an invitation back, or ends a co-authorship."""

    def remove(actor: User, proposal: Proposal, now: datetime) -> None:
        coauthors.remove_coauthor(actor, proposal, user_id, now)

    return _coauthor_step(proposal_id, remove, gettext("Taken back: they are told."))
