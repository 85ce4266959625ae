from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, RadioField, SelectChoice, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from fundcircle.errors import ValidationFailed
from fundcircle.money import MoneyError, parse_major
from fundcircle.proposals.services import MAX_BODY, MAX_SUMMARY, MAX_TITLE, ProposalInput
from fundcircle.rounds.models import Round


class ProposalForm(FlaskForm):
    # Content rules (lengths, categories) are the service's, so that the pages and the API say the same thing.
    title = StringField("Title", render_kw={"maxlength": MAX_TITLE})
    summary = StringField(
        "Summary", render_kw={"maxlength": MAX_SUMMARY}, description="One line that says what it is for."
    )
    body = TextAreaField(
        "Proposal",
        render_kw={"maxlength": MAX_BODY},
        description="What, why, who and when. Markdown works: **bold**, lists, [links](https://example.org).",
    )
    amount = StringField("Amount requested", validators=[DataRequired(), Length(max=30)])
    category = SelectField("Category", validators=[Optional()], validate_choice=False)
    payee_kind = RadioField(
        "Who is paid",
        choices=[
            SelectChoice("account", "An Open Collective account (collective, organisation or person)"),
            SelectChoice("person", "A person Open Collective will invite to give their payout details"),
        ],
        default="account",
        description="An account: if the circle's own Open Collective token administers it, the expense is made in "
        "its name at once; otherwise Open Collective asks the account's admins to complete it. A person: Open "
        "Collective e-mails them to add their payout details.",
    )
    payee_slug = StringField(
        "Open Collective account",
        validators=[Optional(), Length(max=100)],
        description="Its short name, as in opencollective.com/short-name. It is checked on Open Collective when you "
        "save.",
    )
    payee_name = StringField("Name of the person paid", validators=[Optional(), Length(max=120)])
    payee_email = EmailField("Their e-mail address", validators=[Optional(), Length(max=254)])
    change_note = TextAreaField(
        "What changed, and why",
        validators=[Optional(), Length(max=2000)],
        description="Shown with the new version. Required for an amendment during deliberation.",
    )

    #: Service field names that this form shows under another name.
    ALIASES = {"amount_minor": "amount", "payee": "payee_kind"}

    def for_round(self, round_: Round) -> ProposalForm:
        self.category.choices = [SelectChoice("", "Choose a category")] + [SelectChoice(c) for c in round_.categories]
        return self

    def to_input(self, round_: Round) -> ProposalInput:
        """:raises ValidationFailed: on `amount_minor` for an amount that is not a number in the round's currency."""
        try:
            amount = parse_major(self.amount.data or "", round_.currency)
        except MoneyError as error:
            raise ValidationFailed(str(error), field="amount_minor") from None
        account = self.payee_kind.data == "account"
        return ProposalInput(
            title=self.title.data or "",
            summary=self.summary.data or "",
            body=self.body.data or "",
            amount_minor=amount,
            category=self.category.data or None,
            payee_slug=(self.payee_slug.data or None) if account else None,
            payee_name=None if account else (self.payee_name.data or None),
            payee_email=None if account else (self.payee_email.data or None),
        )
