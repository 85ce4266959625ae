from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from fundcircle.i18n import lazy_gettext
from fundcircle.learning.services import MAX_ANSWER_LENGTH, MAX_COMMENT_LENGTH
from fundcircle.rounds.services import MAX_REPORT_QUESTIONS


class ReportForm(FlaskForm):
    """One answer per guiding question: the round has at most MAX_REPORT_QUESTIONS of them, and the page shows as
    many fields as the report has questions (each labelled with its question)."""


for _number in range(MAX_REPORT_QUESTIONS):
    setattr(
        ReportForm,
        f"answer_{_number}",
        TextAreaField(
            # The page labels each field with its question; this label is what a field without one would say.
            lazy_gettext("Answer %(number)d", number=_number + 1),
            validators=[Optional(), Length(max=MAX_ANSWER_LENGTH)],
            description=lazy_gettext("Markdown works. Leave it empty if the question does not apply."),
        ),
    )


class ReportCommentForm(FlaskForm):
    body = TextAreaField(
        lazy_gettext("Your comment"),
        validators=[DataRequired(lazy_gettext("Write a comment.")), Length(max=MAX_COMMENT_LENGTH)],
        description=lazy_gettext("Markdown works."),
    )
