from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import StringField
from wtforms.validators import Length

from fundcircle.attachments.services import MAX_DESCRIPTION
from fundcircle.i18n import lazy_gettext


class AttachForm(FlaskForm):
    """A file and its description; what the file is, and whether it may be attached, the service decides."""

    file = FileField(lazy_gettext("File"), validators=[FileRequired(lazy_gettext("Choose a file to attach."))])
    description = StringField(
        lazy_gettext("Description"),
        validators=[Length(max=MAX_DESCRIPTION)],
        description=lazy_gettext("Required for an image: what it shows, for those who cannot see it."),
    )
