"""Run several callables at the same moment, each in its own thread, for the "two people click at once" tests."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import Any

from flask import Flask


def all_at_once(
    work: Sequence[Callable[[], Any]], *, app: Flask | None = None, timeout: float = 120, reraise: bool = False
) -> list[Any]:
    """Start the callables together (a Barrier) in threads of their own; return their results in order, an exception
    in place of the result of a callable that raised it (or, with `reraise`, raise the first of them).

    With `app`, each callable runs inside an app context of its own (for callables that call services). Without it
    none is pushed: callables that drive the test client need none, since each request pushes its own (and would
    otherwise share the thread's).
    """
    barrier = threading.Barrier(len(work), timeout=timeout)
    results: list[Any] = [None] * len(work)

    def run(index: int) -> None:
        try:
            with app.app_context() if app is not None else nullcontext():
                barrier.wait()
                results[index] = work[index]()
        except Exception as error:  # noqa: BLE001 - reported as the thread's result
            results[index] = error

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    stuck = sum(thread.is_alive() for thread in threads)
    assert not stuck, f"{stuck} of {len(threads)} threads had not finished after {timeout} s"
    if reraise:
        for result in results:
            if isinstance(result, Exception):
                raise result
    return results
