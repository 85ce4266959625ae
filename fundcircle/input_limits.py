"""Limits on what a request may hold, checked once before any view reads it: bytes nobody types (NUL) and JSON
whose cost is out of proportion to its size (integers of thousands of digits, nesting a thousand levels deep).

Pure functions over text, so the request hook in fundcircle/__init__.py stays one call and these are tested alone.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from fundcircle.phrases import N_, PhrasedError

#: No number the API takes has more digits than this (amounts and ids fit in 32 bits); parsing an integer costs
#: time quadratic in its digits, so longer ones are refused before they are converted.
MAX_JSON_INTEGER_DIGITS = 20
#: Fund Circle's documents nest a few levels (a proposal's payee, a ballot's votes); deeper is never a real request,
#: and recursive code downstream (parsers, validators, the ledger's canonical JSON) must not be made to recurse.
MAX_JSON_DEPTH = 32

#: Marked for translation; the request hook says them in the request's language (gettext).
NUL_MESSAGE = N_("Text may not contain NUL characters.")
UNNAMED_PART_MESSAGE = N_(
    "Every part of a multipart form needs a field name (Content-Disposition: form-data; name=...)."
)


class InputRefused(PhrasedError):
    """The input is refused before it is read; the message says why, for the person who sent it."""


def contains_nul(texts: Iterable[str]) -> bool:
    return any("\x00" in text for text in texts)


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_JSON_INTEGER_DIGITS:
        raise InputRefused(
            N_("A number in the JSON has %(digits)d digits; numbers have at most %(most)d."),
            digits=digits,
            most=MAX_JSON_INTEGER_DIGITS,
        )
    return int(text)


def _depth(value: Any) -> int:
    """How deep `value` nests, without recursion (the point is not to recurse on hostile input)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if depth > MAX_JSON_DEPTH:
            return depth
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_json(body: bytes) -> None:
    """Refuse JSON that is costly beyond its size. Malformed JSON is left to the API's own parser and messages.

    :raises InputRefused: for an integer of more than MAX_JSON_INTEGER_DIGITS digits or nesting deeper than
        MAX_JSON_DEPTH.
    """
    too_deep = InputRefused(
        N_("The JSON is nested too deeply: at most %(most)d levels are accepted."), most=MAX_JSON_DEPTH
    )
    try:
        value = json.loads(body, parse_int=_bounded_int)
    except InputRefused:
        raise
    except RecursionError:
        raise too_deep from None
    except ValueError:
        return  # not JSON (or not UTF-8): the API's parser answers that in its own words
    if _depth(value) > MAX_JSON_DEPTH:
        raise too_deep
