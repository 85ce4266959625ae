from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from flask import Blueprint, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext, ngettext
from flask_login import current_user

from fundcircle.access import circle_role, current_membership, enforce, requires
from fundcircle.db import utcnow
from fundcircle.errors import FundCircleError
from fundcircle.extensions import db
from fundcircle.forms import ConfirmForm
from fundcircle.hooks import PageParts
from fundcircle.i18n import lazy_gettext, translated
from fundcircle.ledger.chain import short_receipt
from fundcircle.links import RowLinks
from fundcircle.money import format_minor
from fundcircle.pagination import page_message, page_number
from fundcircle.rounds.models import VOTING_METHODS, Round
from fundcircle.rounds.services import get_round
from fundcircle.rounds.views import round_page
from fundcircle.spreadsheets import spreadsheet_safe
from fundcircle.unit_of_work import refuse
from fundcircle.voting import services
from fundcircle.voting.chart import budget_line, score_chart
from fundcircle.voting.models import RoundTally
from fundcircle.voting.pabulib_import import PabulibImportError, parse_pabulib
from fundcircle.voting.reasons import reason_text
from fundcircle.voting.replay import Replay, ReplayError, replay_of_file

bp = Blueprint("voting", __name__)
# A stored reason of a result, in the reader's language: {{ row.reason|reason }}.
bp.add_app_template_filter(reason_text, "reason")

#: What the areas above add to the results page (where each funded proposal's money stands); called with the round
#: and the ids of the proposals on the page's table.
results_page = PageParts("results page")


@round_page.part
def result_of_round(round_: Round) -> dict[str, Any]:
    """The round page's stored result, once it is decided."""
    return {"tally": db.session.get(RoundTally, round_.id)}


def spent_words(method: str, spent: int) -> str:
    """What a saved ballot spent, by ballot type."""
    if method == "cumulative":
        return ngettext("%(num)d point", "%(num)d points", spent)
    if method == "approval":
        return ngettext("%(num)d approved", "%(num)d approved", spent)
    # English said "1 credits" before the words were translated, and the tests hold it to that.
    return ngettext("%(num)d credits", "%(num)d credits", spent)


def saved_message(method: str, spent: int, receipt: str) -> str:
    return gettext(
        "Your ballot is saved (%(spent)s). Receipt: %(receipt)s", spent=spent_words(method, spent), receipt=receipt
    )


#: Ballots shown on one page of the results, proposals in the chart (the highest-ranked), and proposals on one page
#: of the table below it (which lists them all, a page at a time: a city-wide round has thousands).
BALLOTS_PER_PAGE = 100
CHART_ROWS = 50
RESULTS_PER_PAGE = 50


@dataclass(frozen=True)
class NextStep:
    """What the next press of + or − on a ballot line would do to the credits (or points) left, so the page can
    say what the next vote costs and grey out a button that would spend more than is left.

    `more` is the cost of one vote (point) more, `fewer` of one less; a negative cost gives credits back. A step
    below the lowest the round allows (0, unless it allows votes against) is `fewer_allowed=False`."""

    more: int
    fewer: int
    fewer_allowed: bool
    left: int

    @property
    def more_affordable(self) -> bool:
        return self.more <= self.left

    @property
    def fewer_affordable(self) -> bool:
        return self.fewer_allowed and self.fewer <= self.left


def next_step(round_: Round, votes: int, left: int) -> NextStep:
    """The next step of a line with `votes` votes (points) when `left` credits (points) are left: n votes cost n×n,
    so the (n+1)-th costs 2n+1 more and taking one back from n gives 2n−1 back; a point always costs one."""
    if round_.method == "cumulative":
        return NextStep(more=1, fewer=-1, fewer_allowed=votes > 0, left=left)
    return NextStep(
        more=2 * votes + 1, fewer=1 - 2 * votes, fewer_allowed=votes > 0 or bool(round_.allow_negative), left=left
    )


#: A ballot's words that change with a number, as (number, values) -> words: each said once here for the page and
#: for ballot.js, which gets them with their places left open (`script_words`). The numbers go in as %(count)s
#: so that those places stay open; `num` only picks the plural form.
_Words = Callable[..., str]
VOTE_WORDS: dict[str, _Words] = {
    "next": lambda n, **v: ngettext("Next vote: %(count)s credit", "Next vote: %(count)s credits", n, **v),
    "next_over": lambda n, **v: ngettext(
        "Next vote: %(count)s credit, more than the %(left)s left",
        "Next vote: %(count)s credits, more than the %(left)s left",
        n,
        **v,
    ),
    "next_none": lambda n, **v: ngettext(
        "Next vote: %(count)s credit, none left", "Next vote: %(count)s credits, none left", n, **v
    ),
    "back": lambda n, **v: ngettext(
        "One vote more gives back %(count)s credit", "One vote more gives back %(count)s credits", n, **v
    ),
    "against": lambda n, **v: ngettext(
        "next vote against: %(count)s credit", "next vote against: %(count)s credits", n, **v
    ),
    "against_over": lambda n, **v: ngettext(
        "next vote against: %(count)s credit, more than the %(left)s left",
        "next vote against: %(count)s credits, more than the %(left)s left",
        n,
        **v,
    ),
    "against_none": lambda n, **v: ngettext(
        "next vote against: %(count)s credit, none left", "next vote against: %(count)s credits, none left", n, **v
    ),
    # English has always said "1 more credits" here (and the tests hold it to that); other languages choose.
    "over_budget": lambda n, **v: ngettext(
        "This ballot costs %(count)s more credits than you have.",
        "This ballot costs %(count)s more credits than you have.",
        n,
        **v,
    ),
}
POINT_WORDS: dict[str, _Words] = {
    "next": lambda n, **v: ngettext("Next point: %(count)s point", "Next point: %(count)s points", n, **v),
    "next_over": lambda n, **v: ngettext(
        "Next point: %(count)s point, more than the %(left)s left",
        "Next point: %(count)s points, more than the %(left)s left",
        n,
        **v,
    ),
    "next_none": lambda n, **v: ngettext(
        "Next point: %(count)s point, none left", "Next point: %(count)s points, none left", n, **v
    ),
    "back": lambda n, **v: ngettext(
        "One point more gives back %(count)s point", "One point more gives back %(count)s points", n, **v
    ),
    "over_budget": lambda n, **v: ngettext(
        "This ballot costs %(count)s more points than you have.",
        "This ballot costs %(count)s more points than you have.",
        n,
        **v,
    ),
}


def ballot_words(method: str) -> dict[str, _Words]:
    return POINT_WORDS if method == "cumulative" else VOTE_WORDS


def next_words(step: NextStep, method: str, against: bool) -> str:
    """What the next vote (point) of a line costs, and the next vote against where the round allows them."""
    words = ballot_words(method)

    def cost(key: str, amount: int, affordable: bool) -> str:
        if affordable:
            return words[key](amount, count=amount)
        if step.left > 0:
            return words[f"{key}_over"](amount, count=amount, left=step.left)
        return words[f"{key}_none"](amount, count=amount)

    text = (
        cost("next", step.more, step.more_affordable) if step.more > 0 else words["back"](-step.more, count=-step.more)
    )
    if against and step.fewer > 0:
        # Two clauses, each whole.
        text += "; " + cost("against", step.fewer, step.fewer_affordable)
    return text


def script_words(method: str) -> dict[str, Any]:
    """The words ballot.js writes, in the reader's language, with their places open ({count}, {left}, {title}):
    each changing one in both its forms ("one", "other", as Intl.PluralRules names them; the languages Fund Circle
    speaks have these two)."""
    places = {"count": "{count}", "left": "{left}"}
    forms = {key: {"one": say(1, **places), "other": say(2, **places)} for key, say in ballot_words(method).items()}
    cumulative = method == "cumulative"
    return {
        **forms,
        "meter": gettext("%(spent)s of %(credits)s", spent="{spent}", credits="{credits}"),
        "less": gettext("One point less: %(title)s", title="{title}")
        if cumulative
        else gettext("One vote less: %(title)s", title="{title}"),
        "more": gettext("One point more: %(title)s", title="{title}")
        if cumulative
        else gettext("One vote more: %(title)s", title="{title}"),
        "this_proposal": gettext("this proposal"),
    }


def _votes_from_form(round_: Any, lines: list[services.BallotLine]) -> tuple[dict[int, int], dict[int, str]]:
    """The votes (or points) typed in the form, or the approvals ticked; a field that is not a whole number gets a
    message of its own."""
    votes: dict[int, int] = {}
    errors: dict[int, str] = {}
    if round_.method == "approval":
        return {line.proposal_id: 1 if request.form.get(f"approve-{line.proposal_id}") else 0 for line in lines}, {}
    for line in lines:
        text = request.form.get(f"votes-{line.proposal_id}", "0").strip() or "0"
        try:
            votes[line.proposal_id] = int(text)
        except ValueError:
            errors[line.proposal_id] = (
                gettext("“%(text)s” is not a whole number of points.", text=text)
                if round_.method == "cumulative"
                else gettext("“%(text)s” is not a whole number of votes.", text=text)
            )
    return votes, errors


#: Who may see and save a ballot: a circle member with the role "circle".
BALLOT_VOTERS = circle_role("circle")

_FIELD = re.compile(r"(votes|approve)-([0-9]{1,10})")


def _ballot_access(view: Callable[..., Any]) -> Callable[..., Any]:
    """Enforce BALLOT_VOTERS on the ballot page. A save is checked from the one query it reads everything with
    (`services.ballot_context`); every other request, and any save that is not simply stored, goes through
    `enforce` as every route does (so the access tests see one policy, answered the same way)."""

    @wraps(view)
    def wrapper(round_id: int) -> Any:
        if request.method == "POST" and request.form.get("action") == "save" and current_user.is_authenticated:
            saved = _save_from_form(round_id)
            if saved is not None:
                return saved
        refused = enforce(BALLOT_VOTERS, {"round_id": round_id})
        if refused is not None:
            return refused
        return view(round_id)

    wrapper.access_policy = BALLOT_VOTERS  # type: ignore[attr-defined]
    return wrapper


def _save_from_form(round_id: int) -> Any:
    """Save the ballot the form sends, in one short transaction, and lead to the saved page; None to leave the
    request to the page (a form that had expired, numbers that are not whole, someone who may not vote here, a
    ballot the rules refuse: the page then says why, as it always has)."""
    if not ConfirmForm().validate_on_submit():
        return None
    fields: dict[str, dict[int, str]] = {"votes": {}, "approve": {}}
    for key, text in request.form.items():
        if (match := _FIELD.fullmatch(key)) is not None and int(match.group(2)) <= 2**31 - 1:
            fields[match.group(1)][int(match.group(2))] = text.strip() or "0"
    named = sorted(set(fields["votes"]) | set(fields["approve"]))
    if len(named) > services.MAX_BALLOT_ENTRIES:
        return None
    context = services.ballot_context(round_id, named, user_id=current_user.id)
    if context is None or not services.may_save(context):
        return None
    round_ = context.round_
    if round_.method == "approval":
        votes = {pid: 1 for pid in fields["approve"]}
    else:
        if not all(text.lstrip("-").isdigit() and len(text) <= 12 for text in fields["votes"].values()):
            return None
        votes = {pid: int(text) for pid, text in fields["votes"].items()}
    try:
        saved_ballot = services.save_ballot(context, votes, utcnow())
    except FundCircleError:
        refuse()  # the page saves again, the usual way, and shows why it cannot
        return None
    flash(saved_message(round_.method, saved_ballot.credits_spent, short_receipt(saved_ballot.receipt)), "success")
    # `saved` makes the page say "Saved", what happens next, and lead back to the round.
    return redirect(url_for("voting.ballot", round_id=round_id, saved=1))


@bp.route("/rounds/<int:round_id>/ballot", methods=["GET", "POST"])
@_ballot_access
def ballot(round_id: int) -> Any:
    round_ = get_round(round_id)
    saved = services.votes_of(current_user, round_)
    lines = services.ballot_lines(round_, saved)
    form = ConfirmForm()
    status, message, field_errors = 200, None, {}
    if request.method == "POST" and form.validate_on_submit():
        votes, field_errors = _votes_from_form(round_, lines)
        lines = services.ballot_lines(round_, votes)
        if field_errors:
            status, message = 422, gettext("Some numbers are not whole numbers; nothing was saved.")
        elif request.form.get("action") == "save":
            try:
                saved_ballot = services.cast_ballot(current_user, round_, votes, utcnow())
            except FundCircleError as error:
                refuse()
                status, message = error.status, error.message
            else:
                receipt = short_receipt(saved_ballot.receipt or "")
                flash(saved_message(round_.method, saved_ballot.credits_spent, receipt), "success")
                # `saved` makes the page say "Saved", what happens next, and lead back to the round.
                return redirect(url_for("voting.ballot", round_id=round_id, saved=1))
    elif request.method == "POST":
        status, message = 400, gettext("The form had expired; nothing was saved. Try again.")
    cost = sum(line.cost for line in lines)
    phase = round_.phase_at(utcnow())  # after any save: a refusal at the deadline shows the page closed
    mine = services.ballot_of(current_user, round_)
    cast, eligible = services.turnout(round_)
    left = round_.credits - cost
    return (
        render_template(
            "voting/ballot.html",
            round=round_,
            circle=round_.circle,
            lines=lines,
            next_words={
                line.proposal_id: next_words(
                    next_step(round_, line.votes, left),
                    round_.method,
                    bool(round_.allow_negative) and round_.method == "quadratic",
                )
                for line in lines
            },
            over_budget=ballot_words(round_.method)["over_budget"](max(-left, 0), count=max(-left, 0)),
            script_words=script_words(round_.method),
            cost=cost,
            left=left,
            just_saved=mine is not None and request.method == "GET" and request.args.get("saved") == "1",
            message=message,
            field_errors=field_errors,
            ballot=mine,
            turnout=(cast, eligible),
            phase_now=phase,
            voting_open=phase == "deciding" and round_.method in VOTING_METHODS,
        ),
        status,
    )


@bp.route("/rounds/<int:round_id>/results")
@requires(circle_role(public_read=True))
def results(round_id: int) -> Any:
    round_ = get_round(round_id)
    asked_text = request.args.get("page", "1")
    asked = page_number(asked_text)
    found = services.result_page(round_, page=asked or 1, per_page=RESULTS_PER_PAGE, chart_rows=CHART_ROWS)
    if found is None:
        return render_template("voting/results.html", round=round_, circle=round_.circle, tally=None), 200
    window = found.window
    ballots_text = request.args.get("ballots", "1")
    ballots_page = page_number(ballots_text) or 1
    ballots = (
        services.open_ballots(round_, limit=BALLOTS_PER_PAGE + 1, offset=(ballots_page - 1) * BALLOTS_PER_PAGE)
        if current_membership() is not None
        else []
    )
    shown_ballots = ballots[:BALLOTS_PER_PAGE]
    voted_for = {proposal_id for _, votes in shown_ballots for proposal_id in votes}
    # Each query-string value of the page's links, so that turning a page of the table keeps the page of ballots
    # and the other way round (a first page is left out of the link).
    kept = {"page": window.page if window.page > 1 else None, "ballots": ballots_page if ballots_page > 1 else None}
    return (
        render_template(
            "voting/results.html",
            **results_page.context(round_, [row.proposal_id for row in found.rows]),
            round=round_,
            circle=round_.circle,
            tally=found.tally,
            rows=found.rows,
            window=window,
            page_message=page_message(asked_text, window),
            kept=kept,
            proposal_link=RowLinks("proposals.view", "proposal_id"),
            decided_link=RowLinks("proposals.view", "proposal_id", _anchor="consent"),
            not_counted=len(services.not_counted_of(round_)),
            titles=services.result_titles(round_, voted_for),
            chart=score_chart(found.chart, round_.currency),
            chart_rows=CHART_ROWS,
            budget_svg=budget_line(found.funded, found.tally.budget_minor, round_.currency),
            ballots=shown_ballots,
            ballots_page=ballots_page,
            more_ballots=len(ballots) > BALLOTS_PER_PAGE,
        ),
        400 if asked is None else 200,
    )


def results_csv_text(round_id: int) -> str:
    round_ = get_round(round_id)
    stored = services.result_of(round_)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["rank", "proposal_id", "version", "title", "score", "amount_minor", "currency", "amount", "funded", "reason"]
    )
    if stored is not None:
        for row in stored[1]:
            writer.writerow([
                row.rank, row.proposal_id, row.version, spreadsheet_safe(row.title), row.score, row.amount_minor,
                round_.currency,
                format_minor(row.amount_minor, round_.currency, with_code=False),
                "yes" if row.funded else "no", spreadsheet_safe(row.reason),
            ])  # fmt: skip
    return buffer.getvalue()


@bp.route("/rounds/<int:round_id>/results.csv")
@requires(circle_role(public_read=True))
def results_csv(round_id: int) -> Response:
    return Response(
        results_csv_text(round_id),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=round-{round_id}-results.csv"},
    )


def _file_problem(error: PabulibImportError | ReplayError) -> str:
    """What is wrong with an uploaded file, in the reader's language ("Line 3: ..." for a line at fault)."""
    if isinstance(error, PabulibImportError) and error.line is not None:
        problem = gettext(error.problem_id, **error.problem_params)  # a marked id (pabulib_import)
        return gettext("Line %(line)s: %(problem)s", line=error.line, problem=problem)
    return translated(error)


#: Every allocation rule, as a replay's page names it.
RULE_NAMES = {"greedy": lazy_gettext("Greedy by score"), "equal_shares": lazy_gettext("The method of equal shares")}
#: The same inside a sentence ("decided by greedy by score"), where German and Spanish do not simply lower the case.
RULE_NAMES_IN_TEXT = {
    "greedy": lazy_gettext("greedy by score"),
    "equal_shares": lazy_gettext("the method of equal shares"),
}


def _replay_page(
    replay: Replay | None, *, source: str, status: int = 200, message: str | None = None, **more: Any
) -> Any:
    return (
        render_template(
            "voting/replay.html",
            replay=replay,
            source=source,
            message=message,
            rule_names=RULE_NAMES,
            rule_names_in_text=RULE_NAMES_IN_TEXT,
            **more,
        ),
        status,
    )


@bp.route("/rounds/<int:round_id>/replay")
@requires(circle_role())
def replay_round(round_id: int) -> Any:
    """A decided round's ballots under every allocation rule: a replay, never a decision."""
    round_ = get_round(round_id)
    try:
        replay = services.replay_of_round(round_)
    except FundCircleError as error:
        return _replay_page(None, source="round", status=error.status, message=error.message, round=round_,
                            circle=round_.circle)  # fmt: skip
    return _replay_page(replay, source="round", round=round_, circle=round_.circle)


@bp.route("/circles/<int:circle_id>/replay", methods=["GET", "POST"])
@requires(circle_role("admin"))
def replay_file(circle_id: int) -> Any:
    """An admin uploads a Pabulib file and sees what each rule would fund; nothing is stored."""
    circle = g.circle
    form = ConfirmForm()
    if request.method == "GET":
        return _replay_page(None, source="file", circle=circle, form=form)
    if not form.validate_on_submit():
        return _replay_page(None, source="file", status=400, message=gettext("The form had expired; try again."),
                            circle=circle, form=form)  # fmt: skip
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _replay_page(None, source="file", status=422, message=gettext("Choose a Pabulib (.pb) file to replay."),
                            circle=circle, form=form)  # fmt: skip
    try:
        replay = replay_of_file(parse_pabulib(upload.read()), default_currency=circle.currency)
    except (PabulibImportError, ReplayError) as error:
        message = gettext("The file cannot be replayed: %(why)s", why=_file_problem(error))
        return _replay_page(None, source="file", status=422, message=message, circle=circle, form=form)
    return _replay_page(replay, source="file", circle=circle, form=form, filename=upload.filename)
