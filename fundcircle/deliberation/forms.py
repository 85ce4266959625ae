from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from fundcircle.deliberation.services import MAX_COMMENT
from fundcircle.phrases import N_
from fundcircle.proposals.forms import lazy_text


class CommentForm(FlaskForm):
    body = TextAreaField(
        lazy_text(N_("Your comment")),
        validators=[DataRequired(), Length(max=MAX_COMMENT)],
        description=lazy_text(N_("Markdown works.")),
    )
    question = BooleanField(lazy_text(N_("This is a question for the author")))
    parent_id = HiddenField(validators=[Optional()])


class CommentEditForm(FlaskForm):
    body = TextAreaField(lazy_text(N_("Comment")), validators=[DataRequired(), Length(max=MAX_COMMENT)])


class HideForm(FlaskForm):
    reason = TextAreaField(
        lazy_text(N_("Why it is hidden (everyone sees this)")), validators=[DataRequired(), Length(max=1000)]
    )
