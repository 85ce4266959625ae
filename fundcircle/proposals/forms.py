from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext
from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    FieldList,
    Form,
    FormField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, Optional

from fundcircle.i18n import current_language, lazy_gettext, translated
from fundcircle.money import MoneyError, parse_money
from fundcircle.phrases import PhrasedError
from fundcircle.proposals.services import (
    MAX_BODY,
    MAX_COST_LINE_TEXT,
    MAX_COST_LINES,
    MAX_SUMMARY,
    MAX_TITLE,
    CostLineInput,
    Problems,
    ProposalInput,
)
from fundcircle.rounds.models import Round

#: Empty cost lines the form offers below the ones written, so that a few can be added without a script.
SPARE_COST_LINES = 2
#: The proposal form's words for the two ways a grant is paid.
PAYEE_PERSON = lazy_gettext(
    "A person, by e-mail (choose this if you are not sure): Open Collective e-mails them an invitation to say how "
    "they want to be paid. They need no account of their own."
)
PAYEE_ACCOUNT = lazy_gettext(
    "An account that already exists on Open Collective: a collective, an organisation or a person with a page at "
    "opencollective.com/short-name."
)


def money_message(error: MoneyError) -> str:
    """Why a typed amount is refused, in the reader's language (money.py's errors are phrased, or plain English)."""
    phrased: Exception = error
    return translated(phrased) if isinstance(phrased, PhrasedError) else str(error)


class CostLineForm(Form):
    """One line of the costs: what, and how much. A line left empty on both is not a line."""

    description = StringField(lazy_gettext("What it pays for"), render_kw={"maxlength": MAX_COST_LINE_TEXT})
    amount = StringField(lazy_gettext("Amount"), validators=[Length(max=30)], render_kw={"inputmode": "decimal"})

    def is_blank(self) -> bool:
        return not (self.description.data or "").strip() and not (self.amount.data or "").strip()


class ProposalForm(FlaskForm):
    # Content rules (lengths, categories) are the service's, so that the pages and the API say the same thing.
    title = StringField(lazy_gettext("Title"), render_kw={"maxlength": MAX_TITLE})
    summary = StringField(
        lazy_gettext("Summary"),
        render_kw={"maxlength": MAX_SUMMARY},
        description=lazy_gettext("One line that says what it is for."),
    )
    body = TextAreaField(
        lazy_gettext("Proposal"),
        render_kw={"maxlength": MAX_BODY},
        description=lazy_gettext(
            "What, why, who and when. Markdown works: **bold**, lists, [links](https://example.org)."
        ),
    )
    amount = StringField(
        lazy_gettext("Amount requested"),
        validators=[Length(max=30)],
        description=lazy_gettext("Or leave it empty and list the costs below: the amount asked is then their total."),
        render_kw={"inputmode": "decimal"},
    )
    cost_lines = FieldList(FormField(CostLineForm), min_entries=SPARE_COST_LINES, max_entries=MAX_COST_LINES + 5)
    category = SelectField(lazy_gettext("Category"), validators=[Optional()], validate_choice=False)
    payee_kind = RadioField(
        lazy_gettext("Who is paid"),
        # The person first and chosen: it works for anyone with an e-mail address, where an account name that
        # does not exist would only come to light when the treasurer approves the payout.
        choices=[SelectChoice("person", PAYEE_PERSON), SelectChoice("account", PAYEE_ACCOUNT)],
        default="person",
        description=lazy_gettext(
            "Open Collective holds the circle's money and pays the grant. A person: they get an e-mail from Open "
            "Collective and add their payout details there. An account: if the circle's own Open Collective token "
            "administers it, the expense is made in its name at once; otherwise Open Collective asks the account's "
            "admins to complete it."
        ),
    )
    payee_slug = StringField(
        lazy_gettext("Open Collective account"),
        validators=[Optional(), Length(max=100)],
        description=lazy_gettext("Its short name, as in opencollective.com/short-name."),
    )
    payee_name = StringField(lazy_gettext("Name of the person paid"), validators=[Optional(), Length(max=120)])
    payee_email = EmailField(lazy_gettext("Their e-mail address"), validators=[Optional(), Length(max=254)])
    change_note = TextAreaField(
        lazy_gettext("What changed, and why"),
        validators=[Optional(), Length(max=2000)],
        description=lazy_gettext("Shown with the new version. Required for an amendment during deliberation."),
    )

    #: Service field names that this form shows under another name.
    ALIASES = {"amount_minor": "amount", "payee": "payee_kind"}

    def for_round(self, round_: Round) -> ProposalForm:
        self.category.choices = [SelectChoice("", gettext("Choose a category"))] + [
            SelectChoice(c) for c in round_.categories
        ]
        return self

    def with_room_for_lines(self) -> ProposalForm:
        """Keep the lines written and offer spare empty ones below them (a form without a script adds lines so)."""
        entries = self.cost_lines.entries
        written = [entry for entry in entries if not entry.form.is_blank() or entry.errors]
        # Only empty lines at the end go: a line written below empty ones stays where it was typed.
        while len(entries) > len(written) + SPARE_COST_LINES and entries[-1].form.is_blank():
            self.cost_lines.pop_entry()
        wanted = min(len(written) + SPARE_COST_LINES, self.cost_lines.max_entries or MAX_COST_LINES)
        while len(self.cost_lines.entries) < wanted:
            self.cost_lines.append_entry()
        return self

    def written_lines(self, currency: str) -> list[tuple[str, int | None]]:
        """The cost lines filled in, each (what, amount in minor units or None when it is not a number, which
        faults its field)."""
        lines: list[tuple[str, int | None]] = []
        for entry in self.cost_lines.entries:
            line: Any = entry.form
            if line.is_blank():
                continue
            text = (line.amount.data or "").strip()
            amount: int | None = 0
            if text:
                try:
                    amount = parse_money(text, currency, current_language())
                except MoneyError as error:
                    line.amount.errors = [money_message(error)]
                    amount = None
            lines.append(((line.description.data or "").strip(), amount))
        return lines

    def read(self, round_: Round) -> ReadProposal:
        """The proposal as far as the form can read it, for the service to check in the same pass: an amount that
        is not a number faults its own field here (a cost line's at the line) and counts as none for the service,
        so that every other mistake shows beside it on the first submit."""
        lines: list[CostLineInput] = []
        entries: list[int] = []
        unreadable: set[int] = set()
        for index, entry in enumerate(self.cost_lines.entries):
            line: Any = entry.form
            if line.is_blank():
                continue
            text = (line.amount.data or "").strip()
            amount = 0
            if text:
                try:
                    amount = parse_money(text, round_.currency, current_language())
                except MoneyError as error:
                    line.amount.errors = [*line.amount.errors, money_message(error)]
                    unreadable.add(len(lines))
            lines.append(CostLineInput((line.description.data or "").strip(), amount))
            entries.append(index)
        text = (self.amount.data or "").strip()
        amount = 0
        amount_faulty = False
        # Left empty beside cost lines: the service asks for their total.
        if text or not lines:
            try:
                amount = parse_money(text, round_.currency, current_language())
            except MoneyError as error:
                if not self.amount.errors:
                    self.amount.errors = [*self.amount.errors, money_message(error)]
                amount_faulty = True
        account = self.payee_kind.data == "account"
        data = ProposalInput(
            title=self.title.data or "",
            summary=self.summary.data or "",
            body=self.body.data or "",
            amount_minor=amount,
            category=self.category.data or None,
            payee_slug=(self.payee_slug.data or None) if account else None,
            payee_name=None if account else (self.payee_name.data or None),
            payee_email=None if account else (self.payee_email.data or None),
            cost_lines=tuple(lines),
        )
        return ReadProposal(data, frozenset(unreadable), tuple(entries), faulty=bool(unreadable) or amount_faulty)

    def place(self, problems: Problems, read: ReadProposal) -> None:
        """Put each of the service's `problems` at its field: a cost line's at that line, the proposal's own at
        the top. A field the form already faults keeps its own message (the service's would say the same again,
        as for an amount that is not a number)."""
        for name, messages in problems.fields.items():
            if name == "cost_lines":
                self.cost_lines.errors = [*self.cost_lines.errors, *messages]
                continue
            target = getattr(self, self.ALIASES.get(name, name), None)
            if target is None or not hasattr(target, "errors"):
                self.form_errors.extend(messages)
            elif not target.errors:
                target.errors = list(messages)
        for (index, part), messages in sorted(problems.lines.items()):
            line: Any = self.cost_lines.entries[read.entries[index]].form
            subfield = line.description if part == "description" else line.amount
            if not subfield.errors:
                subfield.errors = list(messages)
        self.form_errors.extend(problems.general)
        # The top of the form says that fields below are marked too, also beside a message of its own (the limit
        # per member), and when only a cost line is (a line's errors are not counted in the form's `errors`).
        if self.has_marked_fields():
            self.form_errors.append(
                gettext("Please correct the fields marked below as well.")
                if self.form_errors
                else gettext("Please correct the fields marked below.")
            )

    def has_marked_fields(self) -> bool:
        """Whether any field shows a mistake, a cost line's included."""
        lines: list[Any] = [entry.form for entry in self.cost_lines.entries]
        return (
            any(name != "cost_lines" and field.errors for name, field in self._fields.items())
            or any(isinstance(message, str) for message in self.cost_lines.errors)
            or any(line.description.errors or line.amount.errors for line in lines)
        )


@dataclass(frozen=True)
class ReadProposal:
    """What `ProposalForm.read` made of the form."""

    data: ProposalInput
    #: The places (among `data.cost_lines`) of the lines whose amount is not a number: their fields say so.
    unreadable_lines: frozenset[int]
    #: The form's entry of each line of `data.cost_lines` (empty lines are not lines).
    entries: tuple[int, ...]
    #: Whether an amount was not a number (the form's own mistake, at its field).
    faulty: bool


class CoauthorInviteForm(FlaskForm):
    """The author chooses a member of the circle to invite as co-author (the choices: `coauthors.invitable_members`).
    Whether the person may be invited is the service's to say."""

    user_id = SelectField(
        lazy_gettext("Invite a member to co-author"),
        coerce=int,
        validate_choice=False,
        description=lazy_gettext(
            "They may edit the proposal and answer its questions once they accept; it then counts among their "
            "proposals in the round."
        ),
    )
