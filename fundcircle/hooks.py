"""Points where a lower area lets the areas above it take part, without importing them.

Dependencies between areas point one way (auth <- circles <- rounds <- proposals <- deliberation <- voting <-
consent <- payouts <- the ledger's pages). When a lower area's work needs an upper area (deciding a round creates
payouts; the round page lists the round's proposals), the lower area declares a hook and calls what is connected to
it, and the upper area connects a function when it is imported. `fundcircle.create_app` imports every area, so every
hook is connected before any request or command runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Hook(Generic[F]):
    """An ordered set of functions that upper areas connect; the declaring area calls each of them."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: dict[str, F] = {}

    def connect(self, receiver: F) -> F:
        """Connect `receiver` (usable as a decorator). Connecting the same function twice keeps one."""
        self._receivers[f"{receiver.__module__}.{receiver.__qualname__}"] = receiver
        return receiver

    def receivers(self) -> tuple[F, ...]:
        """The connected functions, in the order they were connected (the order of the areas)."""
        return tuple(self._receivers.values())

    def __repr__(self) -> str:
        return f"<Hook {self.name}: {len(self._receivers)} connected>"


class Registry(Generic[F]):
    """One function per key, provided by an upper area (the decision method that decides a round)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._by_key: dict[str, F] = {}

    def provide(self, key: str) -> Callable[[F], F]:
        def decorate(function: F) -> F:
            self._by_key[key] = function
            return function

        return decorate

    def __getitem__(self, key: str) -> F:
        try:
            return self._by_key[key]
        except KeyError:
            raise LookupError(f"nothing provides {self.name} for {key!r}") from None

    def __contains__(self, key: object) -> bool:
        return key in self._by_key

    def keys(self) -> tuple[str, ...]:
        return tuple(self._by_key)


class PageParts:
    """What upper areas add to a page of a lower one: each part returns template variables for the page.

    The round page (rounds) lists the round's proposals (proposals) and shows its result (voting): the proposals
    area connects a part to `round_page`, and the round page's view renders with everything the parts return.
    """

    def __init__(self, page: str) -> None:
        self.page = page
        self._parts: Hook[Callable[..., dict[str, Any]]] = Hook(f"parts of the {page}")

    def part(self, function: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        return self._parts.connect(function)

    def context(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """Every part's variables; parts are called with the page's own arguments."""
        merged: dict[str, Any] = {}
        for part in self._parts.receivers():
            merged.update(part(*args, **kwargs))
        return merged
