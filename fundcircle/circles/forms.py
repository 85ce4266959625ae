from __future__ import annotations

from typing import Any

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
from fundcircle.i18n import LANGUAGES, lazy_gettext
from fundcircle.money import CURRENCY_EXPONENTS
from fundcircle.timezones import DEFAULT_TIME_ZONE, MAX_TIME_ZONE_LENGTH


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _role_choices() -> list[SelectChoice]:
    return [SelectChoice(role, ROLE_LABELS[role]) for role in ROLES]


def _language_choices() -> list[SelectChoice]:
    # Each language is named in itself (as the switcher names it), whatever the page's language.
    no_default = SelectChoice("", lazy_gettext("None: each person's own choice, or their browser's language"))
    return [no_default, *(SelectChoice(code, name) for code, name in LANGUAGES.items())]


#: The circle's time zone: a text field rather than a list of ~600 names: the service checks it against zoneinfo,
#: and the page offers the names as suggestions (a datalist).
TIME_ZONE_HELP = lazy_gettext(
    "An IANA name like Europe/Berlin or America/New_York: round deadlines are typed and shown in it."
)
TIME_ZONE_ATTRIBUTES = {"list": "time-zone-names", "autocomplete": "off", "spellcheck": "false"}
LANGUAGE_HELP = lazy_gettext(
    "The language of the circle's pages and e-mails for members who have not chosen one for themselves."
)


class CircleSettingsForm(FlaskForm):
    name = StringField(lazy_gettext("Name"), validators=[DataRequired(), Length(max=80)])
    description = TextAreaField(lazy_gettext("What the fund is for"), validators=[Length(max=5000)])
    public = BooleanField(
        lazy_gettext("Public: anyone may see results and the ledger (members, proposals and discussion stay private)")
    )


class CircleSettingsWithZoneForm(CircleSettingsForm):
    time_zone = StringField(
        lazy_gettext("Time zone"),
        validators=[Optional(), Length(max=MAX_TIME_ZONE_LENGTH)],
        # Optional: a request without it (a script older than time zones) keeps the circle's zone.
        description=TIME_ZONE_HELP,
        render_kw=TIME_ZONE_ATTRIBUTES,
    )
    # Checked by the service (fundcircle.i18n.check_language), so that its refusal is on this field; a request
    # without it (a script older than languages) keeps the circle's language.
    language = SelectField(
        lazy_gettext("Language"), choices=_language_choices(), validate_choice=False, description=LANGUAGE_HELP
    )


class CircleSettingsWithPayoutsForm(CircleSettingsWithZoneForm):
    approvals_required = IntegerField(
        lazy_gettext("Treasurer approvals each payout needs"),
        validators=[InputRequired(), NumberRange(min=1, max=5)],
        description=lazy_gettext("Distinct treasurers; never the proposal's author or payee."),
    )
    two_approvals_from = StringField(
        lazy_gettext("From this amount up, at least two approvals"),
        validators=[Length(max=30)],
        description=lazy_gettext("An amount in the circle's currency, e.g. 500.00. Leave empty for no such threshold."),
    )


class CircleForm(CircleSettingsForm):
    slug = StringField(
        lazy_gettext("Short address"),
        validators=[
            DataRequired(),
            Length(max=60),
            Regexp(
                r"^[a-z0-9]+(?:-[a-z0-9]+)*$",
                message=lazy_gettext("Use lower-case letters, digits and single hyphens."),
            ),
        ],
        description=lazy_gettext("Lower-case letters, digits and hyphens, e.g. riverside-learning."),
    )
    currency = SelectField(
        lazy_gettext("Currency"),
        choices=[SelectChoice(code) for code in sorted(CURRENCY_EXPONENTS)],
        default="EUR",
        description=lazy_gettext("The currency of the fund on Open Collective; it cannot change later."),
    )
    # As on the settings page; the creator may change both later. A form without them (a script older than
    # them) makes a circle in UTC for each person's own language.
    time_zone = StringField(
        lazy_gettext("Time zone"),
        validators=[Optional(), Length(max=MAX_TIME_ZONE_LENGTH)],
        default=DEFAULT_TIME_ZONE,
        description=TIME_ZONE_HELP,
        render_kw=TIME_ZONE_ATTRIBUTES,
    )
    language = SelectField(
        lazy_gettext("Language"), choices=_language_choices(), validate_choice=False, description=LANGUAGE_HELP
    )


class InviteForm(FlaskForm):
    email = EmailField(lazy_gettext("E-mail address"), validators=[DataRequired(), Length(max=254)])
    roles = MultiCheckboxField(lazy_gettext("Roles"), choices=_role_choices(), default=["member"])


class RolesForm(FlaskForm):
    roles = MultiCheckboxField(
        lazy_gettext("Roles"),
        choices=_role_choices(),
        description=lazy_gettext("Untick every role to remove the person from the circle."),
    )


# --- joining by request (circles/joining.py) -----------------------------------------------------------------------


class JoinRequestForm(FlaskForm):
    note = TextAreaField(
        lazy_gettext("A short note to the circle's admins (optional)"),
        validators=[
            Length(max=JOIN_NOTE_MAX, message=lazy_gettext("Use at most %(num)d characters.", num=JOIN_NOTE_MAX))
        ],
        description=lazy_gettext(
            "Who you are and why you would like to join; at most %(num)d characters, plain text.", num=JOIN_NOTE_MAX
        ),
    )


class DeclineJoinRequestForm(FlaskForm):
    reason = TextAreaField(
        lazy_gettext("Reason (optional, shown only to the person)"),
        validators=[
            Length(max=JOIN_REASON_MAX, message=lazy_gettext("Use at most %(num)d characters.", num=JOIN_REASON_MAX))
        ],
    )


class JoinSettingsForm(FlaskForm):
    accepts_join_requests = BooleanField(
        lazy_gettext("Take requests to join"),
        description=lazy_gettext(
            "A public circle then shows an “Ask to join” button; an admin accepts or declines each request."
        ),
    )


# --- Rotating circles (issue 19) ---


class RotationCallForm(FlaskForm):
    """An admin's call for volunteers to be the next deciding members (circles/rotation.py checks it again)."""

    seats = IntegerField(
        lazy_gettext("How many deciding members to draw"),
        default=3,
        validators=[
            InputRequired(lazy_gettext("Say how many people to draw.")),
            NumberRange(1, 50, lazy_gettext("Choose between 1 and 50.")),
        ],
    )
    term_kind = RadioField(
        lazy_gettext("How a term is counted"),
        choices=[
            SelectChoice("days", lazy_gettext("In days, from the draw")),
            SelectChoice(
                "rounds",
                lazy_gettext("In rounds: until that many of the circle's rounds have closed after the draw"),
            ),
        ],
        # Not required: a form without the choice (a script written before terms in rounds) means days.
        default="days",
    )
    # Only the field of the chosen kind is read (the view checks it is filled); the other is ignored.
    term_days = IntegerField(
        lazy_gettext("How many days each serves"),
        default=90,
        validators=[Optional(), NumberRange(1, 3650, lazy_gettext("Between 1 and 3650 days."))],
        description=lazy_gettext("For a term in days. When it ends, the person stops being a deciding member."),
    )
    term_rounds = IntegerField(
        lazy_gettext("How many rounds each serves"),
        default=3,
        validators=[Optional(), NumberRange(1, 12, lazy_gettext("Between 1 and 12 rounds."))],
        description=lazy_gettext("For a term in rounds: it ends when that many of the circle's rounds have closed."),
    )
    # Typed as a wall time in the circle's zone (the view gives the zone, and says it in the description).
    closes_at = DateTimeLocalField(
        lazy_gettext("Volunteers can sign up until"),
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired(lazy_gettext("Say when the call for volunteers closes."))],
        description=lazy_gettext(
            "Time in %(zone)s. The draw is made once this time has passed.", zone=DEFAULT_TIME_ZONE
        ),
    )
    newcomer_share = SelectField(
        lazy_gettext("People new to the role"),
        choices=[
            SelectChoice("0", lazy_gettext("No rule: anyone may be drawn")),
            SelectChoice("34", lazy_gettext("At least a third of those drawn have not served before")),
            SelectChoice("50", lazy_gettext("At least half of those drawn have not served before")),
            SelectChoice("100", lazy_gettext("All of those drawn have not served before, if enough volunteer")),
        ],
        default="50",
    )

    def __init__(self, *args: Any, zone: str = DEFAULT_TIME_ZONE, **kwargs: Any) -> None:
        """`zone` is the circle's time zone: the close time is typed as a wall time in it."""
        super().__init__(*args, **kwargs)
        self.zone = zone
        self.closes_at.description = lazy_gettext(
            "Time in %(zone)s. The draw is made once this time has passed.", zone=zone
        )
