from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from fundcircle.deliberation.services import MAX_COMMENT


class CommentForm(FlaskForm):
    body = TextAreaField(
        "Your comment", validators=[DataRequired(), Length(max=MAX_COMMENT)], description="Markdown works."
    )
    question = BooleanField("This is a question for the author")
    parent_id = HiddenField(validators=[Optional()])


class CommentEditForm(FlaskForm):
    body = TextAreaField("Comment", validators=[DataRequired(), Length(max=MAX_COMMENT)])


class HideForm(FlaskForm):
    reason = TextAreaField("Why it is hidden (everyone sees this)", validators=[DataRequired(), Length(max=1000)])
