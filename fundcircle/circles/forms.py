from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    EmailField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from fundcircle.circles.models import JOIN_NOTE_MAX, JOIN_REASON_MAX, ROLE_LABELS, ROLES
from fundcircle.money import CURRENCY_EXPONENTS
from fundcircle.timezones import MAX_TIME_ZONE_LENGTH


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _role_choices() -> list[SelectChoice]:
    return [SelectChoice(role, ROLE_LABELS[role]) for role in ROLES]


class CircleSettingsForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=80)])
    description = TextAreaField("What the fund is for", validators=[Length(max=5000)])
    public = BooleanField(
        "Public: anyone may see results and the ledger (members, proposals and discussion stay private)"
    )


class CircleSettingsWithZoneForm(CircleSettingsForm):
    # A text field rather than a list of ~600 names: the service checks it against zoneinfo, and the page offers
    # the names as suggestions (a datalist).
    time_zone = StringField(
        "Time zone",
        validators=[Optional(), Length(max=MAX_TIME_ZONE_LENGTH)],
        # Optional: a request without it (a script older than time zones) keeps the circle's zone.
        description="An IANA name like Europe/Berlin or America/New_York: round deadlines are typed and shown in it.",
        render_kw={"list": "time-zone-names", "autocomplete": "off", "spellcheck": "false"},
    )


class CircleSettingsWithPayoutsForm(CircleSettingsWithZoneForm):
    approvals_required = IntegerField(
        "Treasurer approvals each payout needs",
        validators=[InputRequired(), NumberRange(min=1, max=5)],
        description="Distinct treasurers; never the proposal's author or payee.",
    )
    two_approvals_from = StringField(
        "From this amount up, at least two approvals",
        validators=[Length(max=30)],
        description="An amount in the circle's currency, e.g. 500.00. Leave empty for no such threshold.",
    )


class CircleForm(CircleSettingsForm):
    slug = StringField(
        "Short address",
        validators=[
            DataRequired(),
            Length(max=60),
            Regexp(r"^[a-z0-9]+(?:-[a-z0-9]+)*$", message="Use lower-case letters, digits and single hyphens."),
        ],
        description="Lower-case letters, digits and hyphens, e.g. riverside-learning.",
    )
    currency = SelectField(
        "Currency",
        choices=[SelectChoice(code) for code in sorted(CURRENCY_EXPONENTS)],
        default="EUR",
        description="The currency of the fund on Open Collective; it cannot change later.",
    )


class InviteForm(FlaskForm):
    email = EmailField("E-mail address", validators=[DataRequired(), Length(max=254)])
    roles = MultiCheckboxField("Roles", choices=_role_choices(), default=["member"])


class RolesForm(FlaskForm):
    roles = MultiCheckboxField(
        "Roles",
        choices=_role_choices(),
        description="Untick every role to remove the person from the circle.",
    )


# --- joining by request (circles/joining.py) -----------------------------------------------------------------------


class JoinRequestForm(FlaskForm):
    note = TextAreaField(
        "A short note to the circle's admins (optional)",
        validators=[Length(max=JOIN_NOTE_MAX, message=f"Use at most {JOIN_NOTE_MAX} characters.")],
        description=f"Who you are and why you would like to join; at most {JOIN_NOTE_MAX} characters, plain text.",
    )


class DeclineJoinRequestForm(FlaskForm):
    reason = TextAreaField(
        "Reason (optional, shown only to the person)",
        validators=[Length(max=JOIN_REASON_MAX, message=f"Use at most {JOIN_REASON_MAX} characters.")],
    )


class JoinSettingsForm(FlaskForm):
    accepts_join_requests = BooleanField(
        "Take requests to join",
        description="A public circle then shows an “Ask to join” button; an admin accepts or declines each request.",
    )


# --- Rotating circles (issue 19) ---


class RotationCallForm(FlaskForm):
    """An admin's call for volunteers to be the next deciding members (circles/rotation.py checks it again)."""

    seats = IntegerField(
        "How many deciding members to draw",
        default=3,
        validators=[InputRequired("Say how many people to draw."), NumberRange(1, 50, "Choose between 1 and 50.")],
    )
    term_kind = RadioField(
        "How a term is counted",
        choices=[
            SelectChoice("days", "In days, from the draw"),
            SelectChoice("rounds", "In rounds: until that many of the circle's rounds have closed after the draw"),
        ],
        # Not required: a form without the choice (a script written before terms in rounds) means days.
        default="days",
    )
    # Only the field of the chosen kind is read (the view checks it is filled); the other is ignored.
    term_days = IntegerField(
        "How many days each serves",
        default=90,
        validators=[Optional(), NumberRange(1, 3650, "Between 1 and 3650 days.")],
        description="For a term in days. When it ends, the person stops being a deciding member.",
    )
    term_rounds = IntegerField(
        "How many rounds each serves",
        default=3,
        validators=[Optional(), NumberRange(1, 12, "Between 1 and 12 rounds.")],
        description="For a term in rounds: it ends when that many of the circle's rounds have closed.",
    )
    closes_at = DateTimeLocalField(
        "Volunteers can sign up until",
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired("Say when the call for volunteers closes.")],
        description="Time in UTC. The draw is made once this time has passed.",
    )
    newcomer_share = SelectField(
        "People new to the role",
        choices=[
            SelectChoice("0", "No rule: anyone may be drawn"),
            SelectChoice("34", "At least a third of those drawn have not served before"),
            SelectChoice("50", "At least half of those drawn have not served before"),
            SelectChoice("100", "All of those drawn have not served before, if enough volunteer"),
        ],
        default="50",
    )
