"""Treasury pages: the circle's payouts and Open Collective connection, approving and cancelling, and the webhook
Open Collective calls. Requests to Open Collective happen only after the request's commit."""

from __future__ import annotations

import functools
from typing import Any

from flask import Blueprint, current_app, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from fundcircle.access import PUBLIC, Place, circle_role, finds_place, requires
from fundcircle.circles.models import Circle
from fundcircle.db import utcnow
from fundcircle.errors import FundCircleError, NotFound
from fundcircle.extensions import db
from fundcircle.forms import ConfirmForm, attach_error
from fundcircle.payouts import services
from fundcircle.payouts.forms import ApproveForm, ApproveManyForm, CancelForm, ConnectForm, TreasuryFilterForm
from fundcircle.payouts.models import STATUS_LABELS, OpenCollectiveConnection, Payout
from fundcircle.payouts.opencollective import PayoutGatewayError
from fundcircle.payouts.requesting import (
    submit_after_approval,
    submit_due_payouts,
    sync_open_payouts,
    sync_payout,
)
from fundcircle.phrases import N_
from fundcircle.rounds.models import Round
from fundcircle.unit_of_work import after_commit, end_read_transaction, refuse
from fundcircle.voting.views import results_page

bp = Blueprint("payouts", __name__)


@finds_place("payout_id")
def _place_of_payout(payout_id: int) -> Place | None:
    payout = db.session.get(Payout, payout_id)
    circle = db.session.get(Circle, payout.circle_id) if payout is not None else None
    return Place(circle) if circle is not None else None


@results_page.part
def payouts_of_round(round_: Round, proposal_ids: list[int]) -> dict[str, Any]:
    """Where the money of each funded proposal on the page's table stands, so the circle sees its decision
    carried out: the status alone, of those proposals only (a round can fund a thousand)."""
    statuses = db.session.execute(
        select(Payout.proposal_id, Payout.status).where(
            Payout.round_id == round_.id, Payout.proposal_id.in_(proposal_ids)
        )
    )
    return {"payouts": {proposal_id: gettext(STATUS_LABELS[status]) for proposal_id, status in statuses}}


TREASURER = circle_role("treasurer")


def payout_titles(payouts: list[Payout]) -> dict[int, str]:
    """Each payout's proposal title as in the funded version, in one query."""
    return services.titles_of(payouts)


def _treasury_page(
    circle: Circle,
    filter_form: TreasuryFilterForm,
    approve_form: ApproveManyForm | None = None,
    *,
    status: int = 200,
    refusal: str | None = None,
) -> tuple[str, int]:
    shown = services.TreasuryFilter(
        round_id=filter_form.round_id.data if filter_form.round_id.data else None,
        status=filter_form.status.data or None,
    )
    summary = services.treasury_of(circle, shown)
    connection = services.connection_of(circle.id)
    approvable = services.approvable_by(current_user, summary.open)
    if approve_form is None:
        approve_form = ApproveManyForm(formdata=None)
    chosen = set(approve_form.payouts.data or [])
    return (
        render_template(
            "payouts/treasury.html",
            circle=circle,
            summary=summary,
            titles=payout_titles(summary.open + summary.settled),
            round_titles=summary.round_titles,
            connection=connection,
            sandbox=connection is not None and services.is_sandbox_url(connection.api_url),
            sandbox_page=services.sandbox_page_url(connection, _here(circle_id=circle.id)) if connection else None,
            webhook_url=services.webhook_url(connection) if connection is not None else None,
            sync_form=ConfirmForm(),
            funds=services.funds_of(circle),
            filter_form=filter_form,
            filtered=shown != services.TreasuryFilter(),
            approve_form=approve_form,
            approvable=approvable,
            chosen=chosen,
            has_totp=current_user.has_totp,
            refusal=refusal,
        ),
        status,
    )


def _here(**values: Any) -> str:
    """This page's full address as the browser reached it, for the sandbox's link back (a page shown to this person,
    not a mail: the request's own host is right here)."""
    endpoint = "payouts.view" if "payout_id" in values else "payouts.treasury"
    return url_for(endpoint, _external=True, **values)


def _filter_form(circle: Circle, formdata: Any) -> TreasuryFilterForm:
    form = TreasuryFilterForm(formdata=formdata)
    form.round_id.choices = [(0, gettext("Every round")), *services.rounds_with_payouts(circle)]
    return form


@bp.route("/circles/<int:circle_id>/treasury")
@requires(TREASURER)
def treasury(circle_id: int) -> tuple[str, int]:
    circle: Circle = g.circle
    filter_form = _filter_form(circle, request.args)
    if request.args and not filter_form.validate():
        # A round or status that is not offered (an old link, a hand-made address): everything, and why.
        wrong = _filter_form(circle, None)
        if filter_form.round_id.errors:
            wrong.round_id.errors = [gettext("That round has no payouts here: choose one from the list.")]
        if filter_form.status.errors:
            wrong.status.errors = [gettext("Choose a status from the list.")]
        return _treasury_page(circle, wrong, status=400)
    return _treasury_page(circle, filter_form)


@bp.route("/circles/<int:circle_id>/treasury/approve", methods=["POST"])
@requires(TREASURER)
def approve_many(circle_id: int) -> Response | tuple[str, int]:
    """Approve the ticked payouts with one code: all of them in this request's one transaction, or none."""
    circle: Circle = g.circle
    form = ApproveManyForm()
    filter_form = _filter_form(circle, None)
    if not form.validate_on_submit():
        return _treasury_page(circle, filter_form, form, status=400)
    try:
        approved = services.approve_payouts(
            current_user,
            circle,
            list(form.payouts.data or []),
            form.totp.data or "",
            utcnow(),
            confirm_beyond_balance=bool(form.confirm_beyond_balance.data),
        )
    except FundCircleError as error:
        refuse()
        attach_error(form, error)
        return _treasury_page(
            circle,
            filter_form,
            form,
            status=error.status,
            refusal=None if {"payouts", "totp", "confirm_beyond_balance"} & set(error.fields) else error.message,
        )
    complete = [payout.id for payout in approved if payout.status == "approved"]
    for payout_id in complete:
        after_commit(functools.partial(submit_after_approval, payout_id))
    waiting = len(approved) - len(complete)
    # One sentence each, so that each can be said in its own plural.
    sentences = [ngettext("Approved %(num)d payout(s).", "Approved %(num)d payout(s).", len(approved))]
    if complete:
        sentences.append(
            ngettext(
                "%(num)d fully approved: they go to Open Collective now.",
                "%(num)d fully approved: they go to Open Collective now.",
                len(complete),
            )
        )
    if waiting:
        sentences.append(
            ngettext(
                "%(num)d need(s) another treasurer's approval too.",
                "%(num)d need(s) another treasurer's approval too.",
                waiting,
            )
        )
    flash(" ".join(sentences), "success")
    return redirect(url_for("payouts.treasury", circle_id=circle.id))


@bp.route("/circles/<int:circle_id>/treasury/connect", methods=["GET", "POST"])
@requires(TREASURER)
def connect(circle_id: int) -> str | Response | tuple[str, int]:
    circle: Circle = g.circle
    connection = services.connection_of(circle.id)
    form = ConnectForm(
        data={
            "api_url": connection.api_url if connection else current_app.config["OPENCOLLECTIVE_API_URL"],
            "slug": connection.collective_slug if connection else "",
            "expense_type": connection.expense_type if connection else "GRANT",
        }
        if request.method == "GET"
        else None
    )

    def show(status: int) -> tuple[str, int]:
        return render_template("payouts/connect.html", circle=circle, form=form, connection=connection), status

    if not form.validate_on_submit():
        return show(400 if form.is_submitted() else 200)
    data = services.ConnectionInput(
        api_url=form.api_url.data or "",
        slug=form.slug.data or "",
        token=form.token.data or "",
        expense_type=form.expense_type.data,
    )
    try:
        connection = services.connect_open_collective(current_user, circle, data, utcnow())
    except FundCircleError as error:
        refuse()
        attach_error(form, error)
        return show(error.status)
    flash(gettext("Connected to “%(name)s” on Open Collective.", name=connection.collective_name), "success")
    if connection.token_two_factor:
        flash(gettext(services.TWO_FACTOR_WARNING), "warning")
    return redirect(url_for("payouts.treasury", circle_id=circle.id))


@bp.route("/circles/<int:circle_id>/treasury/sync", methods=["POST"])
@requires(TREASURER)
def sync(circle_id: int) -> Response:
    """Ask Open Collective now: request what is approved, follow what is requested, refresh the balance."""
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("payouts.treasury", circle_id=circle_id))
    end_read_transaction()  # each payout is requested and followed in transactions of its own
    submit_due_payouts(circle_id=circle_id)
    changed, problems = sync_open_payouts(circle_id=circle_id)
    for problem in problems:
        flash(problem, "error")
    flash(
        ngettext(
            "Checked Open Collective: %(num)d payout(s) changed.",
            "Checked Open Collective: %(num)d payout(s) changed.",
            changed,
        ),
        "success" if not problems else "info",
    )
    return redirect(url_for("payouts.treasury", circle_id=circle_id))


def _payout_page(payout: Payout, status: int = 200, **forms: Any) -> tuple[str, int]:
    circle: Circle = g.circle
    connection = services.connection_of(circle.id)
    context: dict[str, Any] = {
        "circle": circle,
        "payout": payout,
        "title": payout_titles([payout]).get(payout.proposal_id, gettext("proposal %(id)s", id=payout.proposal_id)),
        "needed": services.approvals_needed(payout),
        "waiting_for": services.approvals_waiting_for(payout),
        "refused_approval": services.approval_refusal(current_user, payout),
        "has_totp": current_user.has_totp,
        "connection": connection,
        "sandbox": connection is not None and services.is_sandbox_url(connection.api_url),
        "approve_form": ApproveForm(formdata=None),
        "funds": services.funds_of(circle),
        "where_it_stands": where_it_stands(payout),
        "expense_link": services.expense_link(payout, connection, _here(payout_id=payout.id)) if connection else None,
        "beyond_balance": services.beyond_balance(payout),
        "cancel_form": CancelForm(formdata=None),
        "retry_form": ConfirmForm(),
        "refusal": None,
    }
    context.update(forms)
    return render_template("payouts/payout.html", **context), status


#: What each status means for the circle, in words (the raw statuses are in the page's technical details).
WHERE_IT_STANDS = {
    "awaiting_approval": N_("Waiting for a treasurer to approve it with a code from their authenticator app."),
    "approved": N_("Approved by the treasurers. Fund Circle is about to request it from Open Collective."),
    "requesting": N_("Being requested from Open Collective right now."),
    "requested": N_("Requested from Open Collective, waiting for the host to approve and pay it."),
    "invited": N_(
        "Open Collective has e-mailed %(payee)s an invitation to fill in their payment details; once they do, "
        "the host approves and pays it."
    ),
    "approved_on_oc": N_("Approved by the host on Open Collective, waiting to be paid."),
    "paid": N_("Paid: Open Collective says the money has gone to the payee."),
    "rejected": N_("The host rejected it on Open Collective. Look there for their reason; it is not paid."),
    "failed": N_("The request to Open Collective did not work: a treasurer needs to look at it (below)."),
    "held": N_("Held back: it does not match what the circle's ledger recorded, so it was not requested (below)."),
    "cancelled": N_("Cancelled by a treasurer: it will not be paid."),
}


def where_it_stands(payout: Payout) -> str:
    message = WHERE_IT_STANDS[payout.status]
    if "%(payee)s" not in message:
        return gettext(message)
    return gettext(message, payee=payout.payee_name or gettext("the payee"))


def _unless_on_field(error: FundCircleError, field: str) -> str | None:
    """The message for the top of the page, unless the form shows it at its field (where the form may be hidden)."""
    return None if field in error.fields else error.message


@bp.route("/payouts/<int:payout_id>")
@requires(TREASURER)
def view(payout_id: int) -> tuple[str, int]:
    return _payout_page(services.get_payout(payout_id))


@bp.route("/payouts/<int:payout_id>/approve", methods=["POST"])
@requires(TREASURER)
def approve(payout_id: int) -> Response | tuple[str, int]:
    payout = services.get_payout(payout_id)
    form = ApproveForm()
    if not form.validate_on_submit():
        return _payout_page(payout, 400, approve_form=form)
    try:
        services.approve_payout(
            current_user,
            payout,
            form.totp.data or "",
            utcnow(),
            confirm_beyond_balance=bool(form.confirm_beyond_balance.data),
        )
    except FundCircleError as error:
        refuse()
        attach_error(form, error)
        return _payout_page(
            services.get_payout(payout_id), error.status, approve_form=form, refusal=_unless_on_field(error, "totp")
        )
    if payout.status == "approved":
        flash(gettext("Approved. The payout is fully approved and goes to Open Collective."), "success")
        after_commit(lambda: submit_after_approval(payout_id))
    elif (waiting_for := services.approvals_waiting_for(payout)) is not None:
        flash(gettext("Approved. %(waiting_for)s", waiting_for=waiting_for), "success")
    else:
        flash(gettext("Approved. It needs another treasurer's approval too."), "success")
    return redirect(url_for("payouts.view", payout_id=payout.id))


@bp.route("/payouts/<int:payout_id>/cancel", methods=["POST"])
@requires(TREASURER)
def cancel(payout_id: int) -> Response | tuple[str, int]:
    payout = services.get_payout(payout_id)
    form = CancelForm()
    if not form.validate_on_submit():
        return _payout_page(payout, 400, cancel_form=form)
    try:
        services.cancel_payout(current_user, payout, form.reason.data or "", utcnow())
    except FundCircleError as error:
        refuse()
        attach_error(form, error)
        return _payout_page(
            services.get_payout(payout_id), error.status, cancel_form=form, refusal=_unless_on_field(error, "reason")
        )
    flash(gettext("The payout is cancelled."), "success")
    return redirect(url_for("payouts.view", payout_id=payout.id))


@bp.route("/payouts/<int:payout_id>/retry", methods=["POST"])
@requires(TREASURER)
def retry(payout_id: int) -> Response | tuple[str, int]:
    payout = services.get_payout(payout_id)
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("payouts.view", payout_id=payout.id))
    try:
        services.retry_payout(current_user, payout, utcnow())
    except FundCircleError as error:
        refuse()
        flash(error.message, "error")
        return redirect(url_for("payouts.view", payout_id=payout.id))
    after_commit(lambda: submit_after_approval(payout_id))
    flash(gettext("Requested again."), "success")
    return redirect(url_for("payouts.view", payout_id=payout.id))


@bp.route("/hooks/opencollective/<secret>", methods=["POST"])
@requires(PUBLIC)
def webhook(secret: str) -> Response | tuple[Response, int]:
    """A delivery from Open Collective. It is not signed, so it is only a hint: the named expense is fetched from
    Open Collective and the payout follows what Open Collective says, never what the body says."""
    connection = db.session.scalar(
        select(OpenCollectiveConnection).where(OpenCollectiveConnection.webhook_secret == secret)
    )
    if connection is None:
        raise NotFound(gettext("There is no such webhook."))
    body = request.get_json(silent=True)
    kind = body.get("type") if isinstance(body, dict) else None
    if not isinstance(kind, str) or not kind.startswith("collective.expense."):
        return jsonify({"result": "ignored", "reason": "not an expense event"}), 202
    expense_id = _expense_id_of(body)
    if expense_id is None:
        # Open Collective sends `data: {}` for activities such as collective.expense.invite.drafted: nothing to
        # re-fetch; `payouts sync` follows every open payout anyway.
        return jsonify({"result": "ignored", "reason": "the event names no expense"}), 202
    payout = db.session.scalar(
        select(Payout).where(Payout.circle_id == connection.circle_id, Payout.expense_id == expense_id)
    )
    if payout is None:
        return jsonify({"result": "ignored", "reason": "no payout of this circle has that expense"}), 202
    try:
        changed = sync_payout(payout.id, via="webhook")
    except (PayoutGatewayError, FundCircleError) as error:
        return jsonify({"result": "not synced", "reason": error.message}), 503
    return jsonify(
        {"result": "changed" if changed else "unchanged", "status": db.session.get(Payout, payout.id).status}
    )


def _expense_id_of(body: dict[str, Any]) -> str | None:
    """The expense's GraphQL id in Open Collective's payload (server/lib/webhooks.ts): `data.expense.idV2`, or its
    `publicId`. `data.expense.id` is the integer database id, which the GraphQL API does not take."""
    data = body.get("data")
    expense = data.get("expense") if isinstance(data, dict) else None
    if not isinstance(expense, dict):
        return None
    candidates = [expense.get("idV2"), expense.get("publicId")]
    return next((c for c in candidates if isinstance(c, str) and 0 < len(c) <= 64), None)
