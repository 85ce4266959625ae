"""Form helpers shared by the areas."""

from __future__ import annotations

from flask_wtf import FlaskForm

from fundcircle.errors import FundCircleError


def attach_error(form: FlaskForm, error: FundCircleError, *, aliases: dict[str, str] | None = None) -> None:
    """Show a service's error next to the fields it names, or at the top of the form."""
    placed = False
    for name, messages in error.fields.items():
        field = getattr(form, (aliases or {}).get(name, name), None)
        if field is not None and hasattr(field, "errors"):
            field.errors = list(field.errors or []) + list(messages if isinstance(messages, list) else [messages])
            placed = True
    if not placed:
        form.form_errors.append(error.message)


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token."""
