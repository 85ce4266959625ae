"""Which page of a long list a request gets: page numbers from a query string, and the items a page shows."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundcircle.pagination import page_number, page_window


@pytest.mark.parametrize(("text", "number"), [("1", 1), ("2", 2), ("007", 7), ("999999", 999_999)])
def test_a_whole_number_from_one_is_a_page_number(text: str, number: int) -> None:
    assert page_number(text) == number


@pytest.mark.parametrize("text", ["", "0", "000", "-1", "+2", " 3", "3 ", "1.5", "3_0", "٣", "²", "1e3", "1000000"])
def test_anything_else_is_not_a_page_number(text: str) -> None:
    assert page_number(text) is None


def test_a_page_in_the_middle_shows_its_items_counted_on_from_the_pages_before() -> None:
    window = page_window(total=120, per_page=50, asked=2)
    assert (window.page, window.pages, window.offset, window.first, window.last) == (2, 3, 50, 51, 100)
    assert window.has_previous and window.has_next and not window.past_end


def test_the_last_page_holds_what_is_left() -> None:
    window = page_window(total=120, per_page=50, asked=3)
    assert (window.first, window.last, window.has_next, window.past_end) == (101, 120, False, False)


def test_a_page_past_the_end_is_the_last_page_and_says_it_was_past_the_end() -> None:
    window = page_window(total=120, per_page=50, asked=40)
    assert (window.page, window.first, window.last, window.past_end) == (3, 101, 120, True)


def test_an_empty_list_has_one_empty_page() -> None:
    window = page_window(total=0, per_page=50, asked=1)
    assert (window.page, window.pages, window.first, window.last) == (1, 1, 0, 0)
    assert not window.has_previous and not window.has_next and not window.past_end
    assert page_window(total=0, per_page=50, asked=2).past_end


@pytest.mark.parametrize(("total", "per_page", "asked"), [(10, 0, 1), (10, 5, 0), (-1, 5, 1)])
def test_impossible_arguments_are_refused(total: int, per_page: int, asked: int) -> None:
    with pytest.raises(ValueError):
        page_window(total=total, per_page=per_page, asked=asked)


@given(st.integers(0, 5_000), st.integers(1, 200))
def test_the_pages_together_show_every_item_once_in_order(total: int, per_page: int) -> None:
    shown: list[int] = []
    window = page_window(total, per_page, 1)
    while True:
        shown.extend(range(window.first, window.last + 1) if total else [])
        if not window.has_next:
            break
        window = page_window(total, per_page, window.page + 1)
    assert shown == list(range(1, total + 1))
