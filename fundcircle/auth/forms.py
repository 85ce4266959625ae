"""Forms check shape only; rules that need the database live in the services."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Optional

from fundcircle.i18n import LANGUAGES, LazyText, lazy_gettext
from fundcircle.timezones import MAX_TIME_ZONE_LENGTH

PASSWORDS_DIFFER = lazy_gettext("The two passwords differ.")


class LoginForm(FlaskForm):
    email = EmailField(lazy_gettext("E-mail address"), validators=[DataRequired(), Length(max=254)])
    password = PasswordField(lazy_gettext("Password"), validators=[DataRequired(), Length(max=1000)])


class SignupForm(FlaskForm):
    name = StringField(
        lazy_gettext("Your name"),
        validators=[DataRequired(), Length(max=80)],
        description=lazy_gettext("As the circle will see it."),
    )
    password = PasswordField(
        lazy_gettext("Password"),
        validators=[DataRequired(), Length(min=10, max=1000)],
        description=lazy_gettext("At least 10 characters."),
    )
    password_confirm = PasswordField(
        lazy_gettext("Password again"),
        validators=[DataRequired(), EqualTo("password", message=PASSWORDS_DIFFER)],
    )


class ApiTokenForm(FlaskForm):
    name = StringField(
        lazy_gettext("Token name"),
        validators=[DataRequired(), Length(max=80)],
        description=lazy_gettext("What will use it, e.g. 'reporting script'."),
    )


class NoticesForm(FlaskForm):
    email_notices = BooleanField(
        lazy_gettext(
            "E-mail me about new comments on proposals I follow, replies to me, answers to my questions, "
            "and phase changes in rounds I take part in"
        )
    )


class TotpStartForm(FlaskForm):
    password = PasswordField(
        lazy_gettext("Your password"),
        validators=[DataRequired(), Length(max=1000)],
        description=lazy_gettext("Asked again, so that nobody with your open session can move your second factor."),
    )


def totp_code_field(label: str | LazyText) -> StringField:
    """A field for the 6 digits of an authenticator app, which phones offer to fill in from the app."""
    return StringField(
        label,
        validators=[
            DataRequired(message=lazy_gettext("Enter the 6-digit code your authenticator app shows.")),
            Length(max=10),
        ],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9 ]*"},
    )


class TotpConfirmForm(FlaskForm):
    code = totp_code_field(lazy_gettext("The code your app shows"))


class NameForm(FlaskForm):
    name = StringField(
        lazy_gettext("Your name"),
        validators=[DataRequired(), Length(max=80)],
        description=lazy_gettext("As the circles will see it."),
        id="profile-name",
    )


class LanguageForm(FlaskForm):
    """The profile's choice of language, which (unlike the switcher in every page's header) may be left automatic."""

    # Each language named in itself, as a reader looks for their own; "" leaves it to the circle or the browser.
    language = SelectField(
        lazy_gettext("Language"),
        choices=[SelectChoice("", lazy_gettext("Automatic (your circle's language, else your browser's)"))]
        + [SelectChoice(code, name, render_kw={"lang": code}) for code, name in LANGUAGES.items()],
        validators=[Optional()],
        id="profile-language",
    )


class TimeZoneForm(FlaskForm):
    # A text field with the names as suggestions, as on the circle's settings: the service checks it.
    time_zone = StringField(
        lazy_gettext("Your time zone"),
        validators=[Optional(), Length(max=MAX_TIME_ZONE_LENGTH)],
        description=lazy_gettext(
            "An IANA name like Europe/Berlin or America/New_York: times are shown to you in it. "
            "Leave it empty to see each circle's times in the circle's own zone."
        ),
        render_kw={"list": "time-zone-names", "autocomplete": "off", "spellcheck": "false"},
        id="profile-time-zone",
    )


class EmailChangeForm(FlaskForm):
    email = EmailField(
        lazy_gettext("New e-mail address"),
        validators=[DataRequired(), Length(max=254)],
        description=lazy_gettext("We e-mail a link to it; the address changes once you open that link."),
        id="new-email",
    )
    current_password = PasswordField(
        lazy_gettext("Your current password"),
        validators=[DataRequired(), Length(max=1000)],
        description=lazy_gettext("Asked again, so that nobody with your open session can take your account."),
        id="email-current-password",
    )


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        lazy_gettext("Your current password"), validators=[DataRequired(), Length(max=1000)], id="current-password"
    )
    password = PasswordField(
        lazy_gettext("New password"),
        validators=[DataRequired(), Length(min=10, max=1000)],
        description=lazy_gettext("At least 10 characters. Every other place where you are signed in is signed out."),
        id="new-password",
    )
    password_confirm = PasswordField(
        lazy_gettext("New password again"),
        validators=[DataRequired(), EqualTo("password", message=PASSWORDS_DIFFER)],
        id="new-password-confirm",
    )


class ForgotPasswordForm(FlaskForm):
    email = EmailField(lazy_gettext("Your account's e-mail address"), validators=[DataRequired(), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        lazy_gettext("New password"),
        validators=[DataRequired(), Length(min=10, max=1000)],
        description=lazy_gettext("At least 10 characters."),
    )
    password_confirm = PasswordField(
        lazy_gettext("New password again"),
        validators=[DataRequired(), EqualTo("password", message=PASSWORDS_DIFFER)],
    )
