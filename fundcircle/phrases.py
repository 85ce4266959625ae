"""Words that pure rules give to people, marked for translation without Flask (the rules stay pure).

A rule that explains itself to a person (a refused amount, an unknown time zone) raises a `PhrasedError`: it keeps
the English message id and its values apart, so that the page or the API can say it in the reader's language
(`fundcircle.i18n.translated`), while `str(error)` stays the English sentence for logs and the command line.
`N_` marks a message id for `pybabel extract` without translating it (the keyword list is in fundcircle/i18n.py).
"""

from __future__ import annotations

from typing import Any


def N_(message: str) -> str:  # noqa: N802  # the conventional gettext marker's name
    """Mark `message` for extraction; it is translated where it is shown."""
    return message


class PhrasedError(ValueError):
    """An error whose message a person reads: `message_id` (English, with %(name)s places) and its `params`."""

    def __init__(self, message_id: str, **params: Any) -> None:
        self.message_id = message_id
        self.params = params
        super().__init__(message_id % params if params else message_id)
