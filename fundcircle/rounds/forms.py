from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask_babel import gettext
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from fundcircle.errors import ValidationFailed
from fundcircle.i18n import current_language, lazy_gettext, translated
from fundcircle.money import MoneyError, parse_money
from fundcircle.phrases import PhrasedError
from fundcircle.rounds.models import DEFAULT_REPORT_DUE_DAYS, DEFAULT_REPORT_QUESTIONS
from fundcircle.rounds.retrospective import RetrospectiveInput
from fundcircle.rounds.services import MAX_REPORT_DUE_DAYS, RoundInput, problems_with
from fundcircle.timezones import DEFAULT_TIME_ZONE, TimeZoneError, to_utc

DEADLINE_FIELDS = ("proposals_close_at", "deliberation_close_at", "deciding_close_at")

#: The settings that only one kind of decision uses, by method: the form shows them only for that method, and the
#: server ignores what is sent for another method (the fields stay in the page for browsers without scripts).
METHOD_SETTINGS: dict[str, frozenset[str]] = {
    "quadratic": frozenset({"allocation_rule", "credits", "allow_negative", "secret_ballot"}),
    "cumulative": frozenset({"allocation_rule", "credits", "secret_ballot"}),
    "approval": frozenset({"allocation_rule", "max_approvals", "secret_ballot"}),
    "consent": frozenset({"consent_rules"}),
}
ALL_METHOD_SETTINGS = frozenset().union(*METHOD_SETTINGS.values())


def _said(error: Exception) -> str:
    """An error's message in the reader's language, where the rule that raised it phrased it for translation."""
    return translated(error) if isinstance(error, PhrasedError) else str(error)


def _deadline_help(zone: str) -> str:
    return lazy_gettext("Time in %(zone)s. Leave empty to move the round on by hand.", zone=zone)  # type: ignore[return-value]


class RoundForm(FlaskForm):
    title = StringField(
        lazy_gettext("Title"), validators=[DataRequired(lazy_gettext("Enter a title.")), Length(max=120)]
    )
    description = TextAreaField(lazy_gettext("What this round funds"), validators=[Length(max=10000)])
    budget = StringField(
        lazy_gettext("Budget"),
        validators=[DataRequired(lazy_gettext("Enter the whole pot, like 1000.00.")), Length(max=30)],
        description=lazy_gettext("The whole pot, e.g. 1000.00"),
    )
    per_proposal_cap = StringField(
        lazy_gettext("Most a proposal may ask for"),
        validators=[
            DataRequired(lazy_gettext("Enter the most one proposal may ask for, like 400.00.")),
            Length(max=30),
        ],
        description=lazy_gettext("e.g. 400.00"),
    )
    method = RadioField(
        lazy_gettext("How the circle decides"),
        choices=[
            SelectChoice(
                "quadratic",
                lazy_gettext(
                    "Quadratic voting: each circle member spreads voice credits, n votes on a proposal costing n×n"
                ),
            ),
            SelectChoice(
                "approval", lazy_gettext("Approval voting: each circle member ticks every proposal they support")
            ),
            SelectChoice(
                "cumulative",
                lazy_gettext("Cumulative voting: each circle member spreads points, one point costing one"),
            ),
            SelectChoice(
                "consent", lazy_gettext("Consent: the circle consents to each proposal, or objects and improves it")
            ),
        ],
        default="quadratic",
    )
    allocation_rule = RadioField(
        lazy_gettext("How the votes fund proposals"),
        choices=[
            SelectChoice(
                "greedy",
                lazy_gettext("Greedy by score: the most supported proposals are funded in turn while the budget lasts"),
            ),
            SelectChoice(
                "equal_shares",
                lazy_gettext(
                    "Equal shares: each voter holds an equal share of the budget, and a proposal is funded when its "
                    "supporters can pay for it from their shares"
                ),
            ),
        ],
        default="greedy",
    )
    credits = IntegerField(
        lazy_gettext("Voice credits (quadratic) or points (cumulative) per circle member"),
        default=100,
        validators=[InputRequired(), NumberRange(1, 10000)],
    )
    max_approvals = IntegerField(
        lazy_gettext("Most proposals one ballot may approve"),
        validators=[Optional(), NumberRange(1, 1000)],
        description=lazy_gettext("Leave empty to let each member approve any number."),
    )
    allow_negative = BooleanField(lazy_gettext("Allow votes against a proposal"))
    quorum_percent = IntegerField(
        lazy_gettext("Quorum (% of circle members who must take part)"),
        default=50,
        validators=[InputRequired(), NumberRange(0, 100)],
    )
    consent_rules = RadioField(
        lazy_gettext("Consent rules"),
        choices=[
            SelectChoice(
                "sociocratic",
                lazy_gettext("Sociocratic: consent, concern or objection; an objection must be resolved"),
            ),
            SelectChoice("consensus", lazy_gettext("Consensus: agree, stand aside or block")),
        ],
        default="sociocratic",
    )
    secret_ballot = BooleanField(lazy_gettext("Secret ballot: nobody sees how an individual voted"))
    categories = TextAreaField(lazy_gettext("Categories, one per line"), validators=[Length(max=2000)])
    max_proposals_per_member = IntegerField(
        lazy_gettext("Most proposals per member"), default=3, validators=[InputRequired(), NumberRange(1, 100)]
    )
    remind_before_hours = IntegerField(
        lazy_gettext("Remind this many hours before each deadline"),
        default=24,
        validators=[Optional(), NumberRange(0, 336)],
        description=lazy_gettext("Those who still have something to do get one reminder; 0: no reminders."),
    )
    report_due_days = IntegerField(
        lazy_gettext("Learning report due, in days after the payout is paid"),
        default=DEFAULT_REPORT_DUE_DAYS,
        validators=[Optional(), NumberRange(0, MAX_REPORT_DUE_DAYS)],
        description=lazy_gettext(
            "The authors of each funded proposal tell the circle what they learned; 0: no reports."
        ),
    )
    midway_update_days = IntegerField(
        lazy_gettext("Mid-way update due, in days after the payout is paid"),
        validators=[Optional(), NumberRange(1, MAX_REPORT_DUE_DAYS)],
        description=lazy_gettext("Optional: leave empty for no mid-way update."),
    )
    report_questions = TextAreaField(
        lazy_gettext("Questions of the learning report, one per line"),
        default=lambda: "\n".join(gettext(question) for question in DEFAULT_REPORT_QUESTIONS),
        validators=[Length(max=2000)],
        description=lazy_gettext("Between 1 and 8 questions."),
    )
    proposals_close_at = DateTimeLocalField(
        lazy_gettext("Proposals close"),
        validators=[Optional()],
        format="%Y-%m-%dT%H:%M",
        description=_deadline_help(DEFAULT_TIME_ZONE),
    )
    deliberation_close_at = DateTimeLocalField(
        lazy_gettext("Deliberation closes"),
        validators=[Optional()],
        format="%Y-%m-%dT%H:%M",
        description=_deadline_help(DEFAULT_TIME_ZONE),
    )
    deciding_close_at = DateTimeLocalField(
        lazy_gettext("Decision closes"),
        validators=[Optional()],
        format="%Y-%m-%dT%H:%M",
        description=_deadline_help(DEFAULT_TIME_ZONE),
    )

    #: Service field names that this form shows under another name.
    ALIASES = {"budget_minor": "budget", "per_proposal_cap_minor": "per_proposal_cap"}
    #: The answer's status after `check`: 400 for what the form refuses, 422 for settings that do not hold together.
    status: int = 200

    def __init__(self, *args: Any, zone: str = DEFAULT_TIME_ZONE, **kwargs: Any) -> None:
        """`zone` is the circle's time zone: the deadlines are typed (and prefilled) as wall times in it."""
        super().__init__(*args, **kwargs)
        self.zone = zone
        for name in DEADLINE_FIELDS:
            self[name].description = _deadline_help(zone)

    def _deadlines(self, errors: dict[str, list[str]] | None = None) -> dict[str, datetime | None]:
        """The deadlines as UTC instants. A wall time that does not exist in the zone (the hour skipped in spring)
        counts as none here, and faults its field, or goes into `errors` under its name when they are given."""
        deadlines: dict[str, datetime | None] = {}
        for name in DEADLINE_FIELDS:
            field = self[name]
            deadlines[name] = None
            if field.data is None:
                continue
            try:
                deadlines[name] = to_utc(field.data, self.zone)
            except TimeZoneError as error:
                if errors is not None:
                    errors[name] = [_said(error)]
                elif not field.errors:
                    field.errors = [_said(error)]
        return deadlines

    def check(self, currency: str, kept: Mapping[str, Any] | None = None) -> bool:
        """Validate the form and the round's own rules in one pass, so that every mistake shows on the first submit
        (a cap above the budget together with an empty title). The chosen method's settings only: another method's
        fields take `kept` (the round's values when it is edited) or their defaults, whatever was sent.

        Returns True when nothing is wrong; otherwise the messages are on the fields."""
        ignored = ALL_METHOD_SETTINGS - METHOD_SETTINGS.get(self.method.data or "", ALL_METHOD_SETTINGS)
        form_ok = super().validate()
        for name in ignored:
            field = self[name]
            field.errors = []
            field.data = (kept or {}).get(name, field.default)
        form_ok = form_ok or not self.errors
        rules = problems_with(self._lenient_input(currency), currency)
        for name, messages in rules.items():
            field = getattr(self, self.ALIASES.get(name, name), None)
            # A field the form already faults keeps its own message: the service's would say the same again.
            if field is not None and not field.errors:
                field.errors = list(messages)
            elif field is None:
                self.form_errors.extend(messages)
        self.status = 200 if not self.errors else 400 if not form_ok else 422
        return not self.errors

    def _lenient_input(self, currency: str) -> RoundInput:
        """The settings as far as they could be read: an amount that is not a number faults its field here and
        counts as none for the checks across fields; a number field left unreadable counts as its default."""
        amounts: dict[str, int] = {}
        for name in ("budget", "per_proposal_cap"):
            field = getattr(self, name)
            try:
                amounts[name] = parse_money(field.data or "", currency, current_language())
            except MoneyError as error:
                amounts[name] = 0
                if not field.errors:
                    field.errors = [_said(error)]
        return self._input(amounts["budget"], amounts["per_proposal_cap"], self._deadlines())

    def to_input(self, currency: str) -> RoundInput:
        """:raises ValidationFailed: for an amount that is not a number in the currency, or a deadline that does not
        exist in the circle's time zone."""
        amounts: dict[str, int] = {}
        errors: dict[str, list[str]] = {}
        for name in ("budget", "per_proposal_cap"):
            try:
                amounts[name] = parse_money(getattr(self, name).data or "", currency, current_language())
            except MoneyError as error:
                errors[f"{name}_minor"] = [_said(error)]
        deadlines = self._deadlines(errors)
        if errors:
            raise ValidationFailed(gettext("Some amounts or deadlines are not valid."), fields=errors)
        return self._input(amounts["budget"], amounts["per_proposal_cap"], deadlines)

    def _input(
        self, budget_minor: int, per_proposal_cap_minor: int, deadlines: Mapping[str, datetime | None]
    ) -> RoundInput:

        return RoundInput(
            title=self.title.data or "",
            description=self.description.data or "",
            budget_minor=budget_minor,
            per_proposal_cap_minor=per_proposal_cap_minor,
            method=self.method.data or "",
            credits=self.credits.data if self.credits.data is not None else 100,
            allow_negative=bool(self.allow_negative.data),
            quorum_percent=self.quorum_percent.data if self.quorum_percent.data is not None else 50,
            consent_rules=self.consent_rules.data or "",
            allocation_rule=self.allocation_rule.data or "",
            max_approvals=self.max_approvals.data,
            secret_ballot=bool(self.secret_ballot.data),
            categories=(self.categories.data or "").splitlines(),
            max_proposals_per_member=self.max_proposals_per_member.data
            if self.max_proposals_per_member.data is not None
            else 3,
            remind_before_hours=self.remind_before_hours.data if self.remind_before_hours.data is not None else 24,
            report_due_days=self.report_due_days.data
            if self.report_due_days.data is not None
            else DEFAULT_REPORT_DUE_DAYS,
            midway_update_days=self.midway_update_days.data,
            report_questions=(self.report_questions.data or "").splitlines(),
            proposals_close_at=deadlines["proposals_close_at"],
            deliberation_close_at=deadlines["deliberation_close_at"],
            deciding_close_at=deadlines["deciding_close_at"],
        )


class AdvanceForm(FlaskForm):
    to = HiddenField(validators=[DataRequired()])


RATING_CHOICES = [
    SelectChoice(str(n), label)
    for n, label in ((1, lazy_gettext("1 (poor)")), (2, "2"), (3, "3"), (4, "4"), (5, lazy_gettext("5 (very good)")))
]


class RetrospectiveForm(FlaskForm):
    """A member's answer to a closed round's retrospective (the shape only; the service checks the rest)."""

    worked = TextAreaField(lazy_gettext("What worked in the process"), validators=[Length(max=2000)])
    change = TextAreaField(lazy_gettext("What to change next time"), validators=[Length(max=2000)])
    fairness = RadioField(
        lazy_gettext("How fair was the process?"),
        choices=RATING_CHOICES,
        validators=[InputRequired(lazy_gettext("Choose a rating from 1 to 5."))],
    )
    effort = RadioField(
        lazy_gettext("Was the effort it took worth it?"),
        choices=RATING_CHOICES,
        validators=[InputRequired(lazy_gettext("Choose a rating from 1 to 5."))],
    )
    anonymous = BooleanField(
        lazy_gettext("Answer anonymously"),
        description=lazy_gettext(
            "Your name is not shown with your answer nor kept with it; you can still change it until the "
            "next round opens."
        ),
    )

    def to_input(self) -> RetrospectiveInput:
        return RetrospectiveInput(
            worked=self.worked.data or "",
            change=self.change.data or "",
            fairness=int(self.fairness.data or 0),
            effort=int(self.effort.data or 0),
            anonymous=bool(self.anonymous.data),
        )
