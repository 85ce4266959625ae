from __future__ import annotations

from typing import Any

from babel.lists import format_list
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from fundcircle.access import ANY_MEMBER, Place, circle_role, finds_place, has_role, requires
from fundcircle.circles.models import Circle
from fundcircle.circles.views import circle_page, home_page
from fundcircle.db import utcnow
from fundcircle.errors import FundCircleError
from fundcircle.extensions import db
from fundcircle.forms import attach_error
from fundcircle.hooks import PageParts
from fundcircle.i18n import current_language, lazy_gettext, money_input, stored_words
from fundcircle.money import format_minor, minor_digits
from fundcircle.rounds import retrospective, services
from fundcircle.rounds.forms import ALL_METHOD_SETTINGS, AdvanceForm, RetrospectiveForm, RoundForm
from fundcircle.rounds.models import Round
from fundcircle.rounds.phases import CANCELLED, COUNTING, next_phases
from fundcircle.rounds.words import PHASE_NAMES, phase_name, phase_word, time_left_text
from fundcircle.timezones import to_local
from fundcircle.unit_of_work import refuse

bp = Blueprint("rounds", __name__)


@finds_place("round_id")
def _place_of_round(round_id: int) -> Place | None:
    """A round in draft is its admins' work in progress: to everybody else it does not exist yet."""
    round_ = db.session.get(Round, round_id)
    return Place(round_.circle, admins_only=round_.phase == "draft") if round_ is not None else None


ADMIN = circle_role("admin")

#: What the areas above add to the round page (its proposals, its result); each part is called with the round.
round_page = PageParts("round page")
#: How far the round has come, from the areas that know (the deciding ones): `turnout` (who has voted or answered,
#: of how many), `open_items` (sentences: what is still open and what moving on does to it) and `what_now` (the
#: "what happens now" panel, for the person looking). Each part is called with the round and the phase it is
#: really in; the round page and the confirmation of a move both show them.
round_progress = PageParts("round progress")

#: What moving the round to each phase does, in words for the confirmation page, by decision method where it
#: matters ("votes" for every ballot method).
WHAT_A_MOVE_DOES: dict[str, dict[str, Any]] = {
    "proposals": {
        "any": lazy_gettext(
            "The round opens for proposals: every member of the circle can write and submit one, and everybody "
            "in the circle is told."
        ),
    },
    "deliberation": {
        "any": lazy_gettext(
            "No new proposals can be submitted; drafts that were not submitted stay out of the round. Questions, "
            "answers and amendments go on."
        ),
    },
    "deciding": {
        "votes": lazy_gettext(
            "Voting opens: each circle member fills in a ballot. Proposals can no longer be changed."
        ),
        "consent": lazy_gettext(
            "The circle decides by consent: you open a consent round on each proposal and the circle "
            "members answer. Proposals change only by amendments after an objection."
        ),
    },
    "decided": {
        "votes": lazy_gettext(
            "Voting closes. The ballots are counted, the result is published and never changes, and a payout "
            "is created for every funded proposal."
        ),
        "consent": lazy_gettext(
            "Deciding closes. Consent rounds still open close with the answers they have, proposals without "
            "consent are not funded, the result is published and never changes, and a payout is created for every "
            "consented proposal."
        ),
    },
    "closed": {
        "any": lazy_gettext(
            "The round is closed: nothing in it changes any more. It closes only once every payout is paid, "
            "rejected or cancelled."
        ),
    },
    CANCELLED: {
        "any": lazy_gettext(
            "The round stops here: nothing is decided and nothing is funded. Proposals, comments and the "
            "ledger stay readable."
        ),
    },
}


def what_a_move_does(round_: Round, to: str) -> str:
    by_method = WHAT_A_MOVE_DOES[to]
    if "any" in by_method:
        return str(by_method["any"])
    return str(by_method["consent" if round_.method == "consent" else "votes"])


def allowed_moves(round_: Round, phase: str) -> tuple[str, ...]:
    """Moves go from the stored phase; once deciding has closed, the round can only be counted, not cancelled."""
    return tuple(to for to in next_phases(round_.phase) if not (phase == COUNTING and to == CANCELLED))


@circle_page.part
def rounds_in_circle(circle: Circle, membership: Any) -> dict[str, Any]:
    """The circle page's rounds (drafts for its admins only)."""
    is_admin = membership is not None and "admin" in membership.roles
    return {"rounds": services.rounds_of_circle(circle, include_drafts=is_admin)}


@home_page.part
def open_rounds(mine: list[tuple[Circle, Any]]) -> dict[str, Any]:
    """The rounds under way in the person's circles."""
    admin_of = {circle.id for circle, membership in mine if "admin" in membership.roles}
    return {"rounds": services.open_rounds_of([circle.id for circle, _ in mine], admin_of)}


def _form_data_of(round_: Round) -> MultiDict[str, Any]:
    """A round's settings as the form shows them (money in major units, deadlines as wall times in the circle's
    time zone)."""
    data: dict[str, Any] = {
        name: getattr(round_, name)
        for name in (
            "title",
            "description",
            "method",
            "credits",
            "quorum_percent",
            "consent_rules",
            "allocation_rule",
            "max_proposals_per_member",
            "remind_before_hours",
            "report_due_days",
        )
    }
    data["midway_update_days"] = "" if round_.midway_update_days is None else str(round_.midway_update_days)
    data["report_questions"] = "\n".join(stored_words(question) for question in round_.report_questions)
    data["max_approvals"] = "" if round_.max_approvals is None else str(round_.max_approvals)
    data["budget"] = _amount_input(round_.budget_minor, round_.currency)
    data["per_proposal_cap"] = _amount_input(round_.per_proposal_cap_minor, round_.currency)
    data["categories"] = "\n".join(round_.categories)
    for name in ("proposals_close_at", "deliberation_close_at", "deciding_close_at"):
        value = getattr(round_, name)
        data[name] = to_local(value, round_.circle.time_zone).strftime("%Y-%m-%dT%H:%M") if value else ""
    formdata: MultiDict[str, Any] = MultiDict(data)
    if round_.allow_negative:
        formdata["allow_negative"] = "y"
    if round_.secret_ballot:
        formdata["secret_ballot"] = "y"  # nosec B105  # a checkbox's form value, not a password
    return formdata


@bp.route("/circles/<int:circle_id>/rounds/new", methods=["GET", "POST"])
@requires(ADMIN)
def create(circle_id: int) -> str | Response | tuple[str, int]:
    circle: Circle = g.circle
    form = RoundForm(zone=circle.time_zone)
    if form.is_submitted() and form.check(circle.currency):
        try:
            round_ = services.create_round(current_user, circle, form.to_input(circle.currency))
        except FundCircleError as error:
            refuse()
            attach_error(form, error, aliases=RoundForm.ALIASES)
            return render_template("rounds/form.html", **_create_context(circle, form)), error.status
        flash(gettext("The round is created as a draft. Open it for proposals when it is ready."), "success")
        return redirect(url_for("rounds.view", round_id=round_.id))
    return render_template("rounds/form.html", **_create_context(circle, form)), form.status


def _create_context(circle: Circle, form: RoundForm) -> dict[str, Any]:
    return {
        "circle": circle,
        "form": form,
        "round": None,
        "amount_example": _amount_example(circle.currency),
        **_last_retro(circle),
    }


def _amount_input(amount_minor: int, currency: str) -> str:
    """An amount as the settings form shows it: ungrouped in English ("1000.00", as the form always had it), in the
    reader's own way of writing numbers otherwise ("1.000,00" in German)."""
    if current_language() == "en":
        return format_minor(amount_minor, currency, with_code=False).replace(",", "")
    return money_input(amount_minor, currency)


def _amount_example(currency: str) -> str:
    """How the form's amounts are typed, in the reader's way of writing numbers ("1250.00" in English)."""
    if current_language() == "en":
        return "1250.00"
    return money_input(1250 * 10 ** minor_digits(currency), currency).replace(".", "").replace("\u202f", "")


def _last_retro(circle: Circle) -> dict[str, Any]:
    """What the circle said in its last retrospective, shown above the new round's form so that it is taken in."""
    found = retrospective.last_retrospective(circle)
    if found is None:
        return {"last_retro": None}
    round_, summary = found
    return {"last_retro": {"round": round_, "summary": summary}}


@bp.route("/rounds/<int:round_id>")
@requires(ANY_MEMBER)
def view(round_id: int) -> str:
    round_ = services.get_round(round_id)
    now = utcnow()
    # The phase the round is really in: a deadline that passed counts, though `rounds tick` has not moved it yet.
    phase = round_.phase_at(now)
    deadline = round_.deadline_of(phase)
    moves = allowed_moves(round_, phase) if has_role("admin") else ()
    return render_template(
        "rounds/view.html",
        **round_page.context(round_),
        **round_progress.context(round_, phase),
        round=round_,
        circle=round_.circle,
        deadline=deadline,
        time_left=time_left_text(deadline, now),
        phase_now=phase,
        # "Move on" and "Cancel" are links to their confirmation pages, and never side by side.
        next_phases=tuple(to for to in moves if to != CANCELLED),
        can_cancel=CANCELLED in moves,
        is_admin=has_role("admin"),
        can_vote=has_role("circle"),
        phase_labels=PHASE_NAMES,
        **_retro_context(round_),
    )


def _retro_context(round_: Round, form: RetrospectiveForm | None = None) -> dict[str, Any]:
    """The retrospective's part of a closed round's page: the summary, and the form for a member who may still
    answer (prefilled with their own answer, which only they can find, anonymous or not)."""
    if round_.phase != "closed":
        return {"retro": None}
    mine = retrospective.own_answer(current_user, round_)
    final = retrospective.next_round_opened(round_)
    if form is None and not final:
        if mine is None:
            form = RetrospectiveForm(formdata=None)
        else:
            form = RetrospectiveForm(
                formdata=None,
                data={
                    "worked": mine.worked,
                    "change": mine.change,
                    "fairness": str(mine.fairness),
                    "effort": str(mine.effort),
                    "anonymous": mine.anonymous,
                },
            )
    return {
        "retro": {
            "summary": retrospective.summary_of(round_),
            "mine": mine,
            "final": final,
            "form": None if final else form,
        }
    }


@bp.route("/rounds/<int:round_id>/retrospective", methods=["GET", "POST"])
@requires(ANY_MEMBER)
def retrospective_page(round_id: int) -> str | Response | tuple[str, int]:
    """The round's retrospective on a page of its own: the summary and the member's form; POST answers."""
    round_ = services.get_round(round_id)
    form = RetrospectiveForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            try:
                retrospective.answer_retrospective(current_user, round_, form.to_input(), utcnow())
            except FundCircleError as error:
                refuse()
                attach_error(form, error)
                status = error.status
            else:
                flash(gettext("Thank you: your answer to the retrospective is saved."), "success")
                return redirect(url_for("rounds.retrospective_page", round_id=round_.id))
        else:
            status = 422
    elif round_.phase == "closed":
        form = _retro_context(round_)["retro"]["form"]
    return (
        render_template(
            "rounds/retrospective.html", round=round_, circle=round_.circle, **_retro_context(round_, form)
        ),
        status,
    )


@bp.route("/rounds/<int:round_id>/edit", methods=["GET", "POST"])
@requires(ADMIN)
def edit(round_id: int) -> str | Response | tuple[str, int]:
    round_ = services.get_round(round_id)
    zone = round_.circle.time_zone
    form = RoundForm(zone=zone) if request.method == "POST" else RoundForm(formdata=_form_data_of(round_), zone=zone)
    # Another method's settings, ignored on the page, stay as the round has them.
    if request.method == "POST" and form.check(round_.currency, kept=_settings_of(round_)):
        try:
            services.update_round(current_user, round_, form.to_input(round_.currency), now=utcnow())
        except FundCircleError as error:
            refuse()
            attach_error(form, error, aliases=RoundForm.ALIASES)
            return render_template("rounds/form.html", **_edit_context(round_, form)), error.status
        flash(gettext("Settings saved."), "success")
        return redirect(url_for("rounds.view", round_id=round_.id))
    return render_template("rounds/form.html", **_edit_context(round_, form)), form.status


def _edit_context(round_: Round, form: RoundForm) -> dict[str, Any]:
    return {
        "circle": round_.circle,
        "form": form,
        "round": round_,
        "amount_example": _amount_example(round_.currency),
        "phase_in_sentence": phase_word(round_.phase_at(utcnow())),
    }


def _settings_of(round_: Round) -> dict[str, Any]:
    """A round's method settings as the form's fields hold them."""
    return {name: getattr(round_, name) for name in ALL_METHOD_SETTINGS}


def _render_confirm(round_: Round, to: str, status: int = 200) -> tuple[str, int]:
    """The page that asks before a round moves on or is cancelled: what will happen, the turnout and what is still
    open. A move cannot be undone, so it is never one click."""
    now = utcnow()
    phase = round_.phase_at(now)
    return (
        render_template(
            "rounds/confirm.html",
            **round_progress.context(round_, phase),
            round=round_,
            circle=round_.circle,
            to=to,
            phase_now=phase,
            what_happens=what_a_move_does(round_, to),
            deadline=round_.deadline_of(phase),
            form=AdvanceForm(formdata=None, data={"to": to}),
            phase_labels=PHASE_NAMES,
        ),
        status,
    )


@bp.route("/rounds/<int:round_id>/advance", methods=["GET", "POST"])
@requires(ADMIN)
def advance(round_id: int) -> Response | tuple[str, int]:
    """GET asks (the confirmation page of a move, `?to=phase`); POST moves the round."""
    round_ = services.get_round(round_id)
    if request.method == "GET":
        to = request.args.get("to", "")
        moves = allowed_moves(round_, round_.phase_at(utcnow()))
        if to not in moves:
            where = format_list([phase_word(move) for move in moves], style="or", locale=current_language())
            message = (
                gettext("The round can move on to %(phases)s.", phases=where)
                if moves
                else gettext("This round cannot move any more.")
            )
            # A page, not a flash and a redirect: a GET writes nothing, not even to the session.
            return render_template("errors/error.html", status=400, message=message), 400
        return _render_confirm(round_, to)
    form = AdvanceForm()
    if not form.validate_on_submit():
        flash(gettext("Choose the phase to move to."), "error")
        return redirect(url_for("rounds.view", round_id=round_.id))
    try:
        services.advance_round(current_user, round_, form.to.data or "", utcnow())
    except FundCircleError as error:
        refuse()
        flash(error.message, "error")
        return redirect(url_for("rounds.view", round_id=round_id))
    flash(gettext("The round is now: %(phase)s.", phase=phase_name(round_.phase_at(utcnow()))), "success")
    return redirect(url_for("rounds.view", round_id=round_.id))
