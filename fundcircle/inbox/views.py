"""The inbox page, the "your turn" part of the circle page, and the facilitator's reminder on the round page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user
from werkzeug.wrappers import Response

from fundcircle.access import SIGNED_IN, circle_role, has_role, requires
from fundcircle.circles.models import Circle
from fundcircle.circles.views import circle_page
from fundcircle.db import utcnow
from fundcircle.errors import FundCircleError
from fundcircle.extensions import db
from fundcircle.forms import ConfirmForm
from fundcircle.inbox import services
from fundcircle.inbox.notifications import unread_count
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import get_round
from fundcircle.rounds.views import round_page
from fundcircle.unit_of_work import refuse

bp = Blueprint("inbox", __name__)

#: Notices on one page of the inbox.
PAGE_SIZE = 50


@bp.route("/inbox")
@requires(SIGNED_IN)
def view() -> str:
    before = request.args.get("before", type=int)
    notices = services.notifications_page(current_user, before=before if before and before > 0 else None,
                                          limit=PAGE_SIZE)  # fmt: skip
    circle_ids = {notice.circle_id for notice in notices if notice.circle_id is not None}
    circles = {
        row.id: row.name
        for row in db.session.execute(db.select(Circle.id, Circle.name).where(Circle.id.in_(circle_ids)))
    }
    return render_template(
        "inbox/view.html",
        your_turn=services.your_turn(current_user, utcnow()),
        notices=notices,
        circle_names=circles,
        next_before=notices[-1].id if len(notices) == PAGE_SIZE else None,
        unread=unread_count(current_user.id),
        form=ConfirmForm(),
    )


@bp.route("/inbox/read", methods=["POST"])
@requires(SIGNED_IN)
def mark_all_read() -> Response:
    form = ConfirmForm()
    if form.validate_on_submit():
        marked = services.mark_read(current_user, ids=None, everything=True, now=utcnow())
        flash(
            ngettext("%(num)d notice marked read.", "%(num)d notices marked read.", marked)
            if marked
            else gettext("Nothing was unread."),
            "success",
        )
    else:
        flash(gettext("The form expired; try again."), "error")
    return redirect(url_for("inbox.view"))


@bp.route("/rounds/<int:round_id>/remind", methods=["POST"])
@requires(circle_role("admin"))
def remind(round_id: int) -> Response:
    """The facilitator reminds the circle members who have not voted or answered (at most once an hour)."""
    round_ = get_round(round_id)
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash(gettext("The form expired; try again."), "error")
        return redirect(url_for("rounds.view", round_id=round_id))
    try:
        reminded = services.remind_undecided(current_user, round_, utcnow())
    except FundCircleError as error:
        refuse()
        flash(error.message, "error")
        return redirect(url_for("rounds.view", round_id=round_id))
    flash(
        ngettext(
            "Reminded %(num)d circle member who have not decided yet.",
            "Reminded %(num)d circle members who have not decided yet.",
            reminded,
        ),
        "success",
    )
    return redirect(url_for("rounds.view", round_id=round_id))


@circle_page.part
def your_turn_here(circle: Circle, membership: Any) -> dict[str, Any]:
    """What is the viewer's turn in this circle."""
    if membership is None or not current_user.is_authenticated:
        return {"your_turn": []}
    return {"your_turn": services.your_turn(current_user, utcnow(), circle_id=circle.id)}


@round_page.part
def reminder_button(round_: Round) -> dict[str, Any]:
    """For the facilitator while the round is deciding: when the next reminder to the undecided may go."""
    if not has_role("admin") or round_.phase_at(utcnow()) != "deciding":
        return {"reminder": None}
    following = services.next_manual_reminder_at(round_)
    return {"reminder": {"next_at": following if following and following > utcnow() else None}}
