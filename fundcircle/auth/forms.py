"""Forms check shape only; rules that need the database live in the services."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField("E-mail address", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1000)])


class SignupForm(FlaskForm):
    name = StringField(
        "Your name", validators=[DataRequired(), Length(max=80)], description="As the circle will see it."
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(min=10, max=1000)],
        description="At least 10 characters.",
    )
    password_confirm = PasswordField(
        "Password again",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
    )


class ApiTokenForm(FlaskForm):
    name = StringField(
        "Token name",
        validators=[DataRequired(), Length(max=80)],
        description="What will use it, e.g. 'reporting script'.",
    )


class NoticesForm(FlaskForm):
    email_notices = BooleanField(
        "E-mail me about new comments on proposals I follow, replies to me, answers to my questions, "
        "and phase changes in rounds I take part in"
    )


class TotpStartForm(FlaskForm):
    password = PasswordField(
        "Your password",
        validators=[DataRequired(), Length(max=1000)],
        description="Asked again, so that nobody with your open session can move your second factor.",
    )


def totp_code_field(label: str) -> StringField:
    """A field for the 6 digits of an authenticator app, which phones offer to fill in from the app."""
    return StringField(
        label,
        validators=[DataRequired(message="Enter the 6-digit code your authenticator app shows."), Length(max=10)],
        render_kw={"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9 ]*"},
    )


class TotpConfirmForm(FlaskForm):
    code = totp_code_field("The code your app shows")


class NameForm(FlaskForm):
    name = StringField(
        "Your name",
        validators=[DataRequired(), Length(max=80)],
        description="As the circles will see it.",
        id="profile-name",
    )


class EmailChangeForm(FlaskForm):
    email = EmailField(
        "New e-mail address",
        validators=[DataRequired(), Length(max=254)],
        description="We e-mail a link to it; the address changes once you open that link.",
        id="new-email",
    )
    current_password = PasswordField(
        "Your current password",
        validators=[DataRequired(), Length(max=1000)],
        description="Asked again, so that nobody with your open session can take your account.",
        id="email-current-password",
    )


class PasswordChangeForm(FlaskForm):
    current_password = PasswordField(
        "Your current password", validators=[DataRequired(), Length(max=1000)], id="current-password"
    )
    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=10, max=1000)],
        description="At least 10 characters. Every other place where you are signed in is signed out.",
        id="new-password",
    )
    password_confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
        id="new-password-confirm",
    )


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Your account's e-mail address", validators=[DataRequired(), Length(max=254)])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(
        "New password",
        validators=[DataRequired(), Length(min=10, max=1000)],
        description="At least 10 characters.",
    )
    password_confirm = PasswordField(
        "New password again",
        validators=[DataRequired(), EqualTo("password", message="The two passwords differ.")],
    )
