"""marshmallow fields shared by the areas' API schemas."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

from flask_babel import gettext
from marshmallow import Schema, ValidationError, fields, validate

#: Ids and amounts fit in the databases' 32-bit integer columns; anything larger is refused as input, not a crash.
INT_LIMIT = 2**31 - 1


class BoundedInteger(fields.Integer):
    """An integer within the range the database stores (query-string numbers arrive as text, so not strict)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        number: int = super()._deserialize(value, attr, data, **kwargs)
        if not -INT_LIMIT <= number <= INT_LIMIT:
            raise ValidationError(gettext("Must be between %(least)d and %(most)d.", least=-INT_LIMIT, most=INT_LIMIT))
        return number


class StrictInteger(BoundedInteger):
    """An integer given as a JSON number: no strings, no fractions, no booleans."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool):
            raise ValidationError(gettext("Not a valid integer."))
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    """true or false, as JSON has them (not 1, 0 or "true": in Python 1 == True, so sets of truthy values let
    them through)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


def utc_datetime(**kwargs: Any) -> fields.AwareDateTime:
    """An ISO 8601 time; one without a zone is taken as UTC."""
    return fields.AwareDateTime(format="iso", default_timezone=UTC, **kwargs)


class PageQuerySchema(Schema):
    """Keyset pagination: items in id order, from after `after`; `next_after` in the answer continues."""

    after = BoundedInteger(load_default=0, validate=validate.Range(min=0))
    limit = BoundedInteger(load_default=100, validate=validate.Range(min=1, max=500))


class NestedFrom(fields.Nested):
    """A nested schema over a value that a function computes from the object being dumped (the user's
    memberships), documented in OpenAPI as the nested schema."""

    def __init__(self, nested: Any, compute: Callable[[Any], Any], **kwargs: Any) -> None:
        super().__init__(nested, **kwargs)
        self.compute = compute

    def get_value(self, obj: Any, attr: str, accessor: Any = None, default: Any = None) -> Any:
        return self.compute(obj)
