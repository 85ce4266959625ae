"""Links to many rows of one kind, built with one `url_for`.

`url_for` matches the endpoint's rule and quotes every value on each call; a table of hundreds of rows with one
call per row spends more time on its links than on its query (issue 22). The rows differ only by their id, so the
link is built once for a probe id, and each row's id takes the probe's place in it.
"""

from __future__ import annotations

from typing import Any

from flask import url_for

#: An id no row has, with digits unlikely to occur elsewhere in a URL; its place in the built URL is checked.
_PROBE_ID = 987_654_320_123_456_789


class RowLinks:
    """The URL of `endpoint` for any value of its integer argument `key`, the other `values` fixed.

    :raises ValueError: when the probe id does not appear exactly once in the built URL (a converter that
        rewrites the id, or a fixed value that contains it), so that a wrong link is never produced.
    """

    def __init__(self, endpoint: str, key: str, **values: Any) -> None:
        url = url_for(endpoint, **{key: _PROBE_ID}, **values)
        probe = str(_PROBE_ID)
        if (times := url.count(probe)) != 1:
            raise ValueError(f"cannot build row links for {endpoint}: {url!r} holds the id {times} times")
        self._before, _, self._after = url.partition(probe)

    def __call__(self, row_id: int) -> str:
        return f"{self._before}{int(row_id)}{self._after}"
