from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from fundcircle.deliberation.services import MAX_COMMENT
from fundcircle.i18n import lazy_gettext


class CommentForm(FlaskForm):
    body = TextAreaField(
        lazy_gettext("Your comment"),
        validators=[DataRequired(), Length(max=MAX_COMMENT)],
        description=lazy_gettext("Markdown works."),
    )
    question = BooleanField(lazy_gettext("This is a question for the author"))
    parent_id = HiddenField(validators=[Optional()])


class CommentEditForm(FlaskForm):
    body = TextAreaField(lazy_gettext("Comment"), validators=[DataRequired(), Length(max=MAX_COMMENT)])


class HideForm(FlaskForm):
    reason = TextAreaField(
        lazy_gettext("Why it is hidden (everyone sees this)"), validators=[DataRequired(), Length(max=1000)]
    )
