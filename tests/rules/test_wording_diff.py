"""The word-level diff of a proposal's rendered text (fundcircle.proposals.wording_diff): worked examples, and the
property that makes it trustworthy: the kept and inserted words read as the new text, the kept and deleted words as
the old one, word for word and block for block."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from fundcircle.markdown import render_markdown
from fundcircle.proposals.wording_diff import (
    WORD_DIFF_LIMIT,
    Block,
    DiffBlock,
    Piece,
    diff_words,
    rendered_diff,
    side_of,
    text_blocks,
)


def _words(pieces: list[Piece], side: str) -> list[str]:
    dropped = "inserted" if side == "old" else "deleted"
    return [word for piece in pieces if piece.change != dropped for word in piece.words]


def _shown(blocks: list[DiffBlock]) -> list[tuple[str, str, list[tuple[str, str]]]]:
    return [(block.kind, block.change, [(piece.change, piece.text) for piece in block.pieces]) for block in blocks]


# --- worked examples ----------------------------------------------------------------------------------------------


def test_a_word_added_in_a_sentence_is_the_only_change() -> None:
    assert diff_words("We buy seeds.".split(), "We buy local seeds.".split()) == [
        Piece("kept", ("We", "buy")),
        Piece("inserted", ("local",)),
        Piece("kept", ("seeds.",)),
    ]


def test_a_replaced_word_lists_the_old_word_before_the_new_one() -> None:
    assert diff_words("Ana keeps the key.".split(), "Bea keeps the key.".split()) == [
        Piece("deleted", ("Ana",)),
        Piece("inserted", ("Bea",)),
        Piece("kept", ("keeps", "the", "key.")),
    ]


def test_common_words_still_match_in_a_long_text() -> None:
    """With difflib's autojunk, "the" in a text of 200 words or more would be ignored and whole sentences shown as
    rewritten; the diff must show the one word that changed."""
    old = [word for number in range(200) for word in ("the", f"seed{number}", "and")]
    new = [*old[:301], "shared", *old[301:]]
    assert diff_words(old, new) == [
        Piece("kept", tuple(old[:301])),
        Piece("inserted", ("shared",)),
        Piece("kept", tuple(old[301:])),
    ]


def test_the_rendered_text_is_compared_not_the_markdown() -> None:
    """Markdown marks (**, _, line breaks inside a paragraph) are not words: only what a reader sees changed."""
    old = render_markdown("We build **shelves**.\nWe buy seeds.")
    new = render_markdown("We build _shelves_. We buy local seeds.")
    assert _shown(rendered_diff(old, new)) == [
        ("paragraph", "kept", [("kept", "We build shelves. We buy"), ("inserted", "local"), ("kept", "seeds.")])
    ]


def test_paragraphs_items_headings_and_table_rows_are_their_own_blocks() -> None:
    html = render_markdown("# Plan\n\nWe buy seeds.\n\n- spades\n- rakes\n\n> Ask Ana.\n\n| item | cost |\n|---|---|\n"
                           "| spade | 10 |\n\n```\nrun it\n```")  # fmt: skip
    assert text_blocks(html) == [
        Block("heading", ("Plan",)),
        Block("paragraph", ("We", "buy", "seeds.")),
        Block("item", ("spades",)),
        Block("item", ("rakes",)),
        Block("quote", ("Ask", "Ana.")),
        Block("row", ("item", "|", "cost")),
        Block("row", ("spade", "|", "10")),
        Block("code", ("run", "it")),
    ]


def test_a_new_list_item_and_a_removed_paragraph_show_as_whole_blocks() -> None:
    old = render_markdown("We buy seeds.\n\nAna keeps the key.\n\n- spades")
    new = render_markdown("We buy seeds.\n\n- spades\n- rakes")
    assert _shown(rendered_diff(old, new)) == [
        ("paragraph", "kept", [("kept", "We buy seeds.")]),
        ("paragraph", "deleted", [("deleted", "Ana keeps the key.")]),
        ("item", "kept", [("kept", "spades")]),
        ("item", "inserted", [("inserted", "rakes")]),
    ]


def test_a_replaced_list_item_shows_its_new_words_in_the_item_not_in_the_block_before() -> None:
    old = render_markdown("- one\n- two\n\n| a |\n|---|\n| 1 |")
    new = render_markdown("- one\n- three")
    assert _shown(rendered_diff(old, new)) == [
        ("item", "kept", [("kept", "one")]),
        ("item", "kept", [("deleted", "two"), ("inserted", "three")]),
        ("row", "deleted", [("deleted", "a")]),
        ("row", "deleted", [("deleted", "1")]),
    ]


def test_markup_in_a_members_text_arrives_as_words_for_the_page_to_escape() -> None:
    """The sanitiser shows raw HTML as text (and a javascript: link as the Markdown typed); the diff keeps it as
    text, which the template escapes again."""
    old = render_markdown("Hello")
    new = render_markdown("Hello <script>alert(1)</script> [x](javascript:alert(1))")
    assert _shown(rendered_diff(old, new)) == [
        ("paragraph", "kept", [("kept", "Hello"), ("inserted", "<script>alert(1)</script> [x](javascript:alert(1))")])
    ]


def test_no_change_gives_only_kept_blocks() -> None:
    html = render_markdown("We buy seeds.\n\n- spades")
    blocks = rendered_diff(html, html)
    assert [block.changed for block in blocks] == [False, False]


def test_a_whole_rewrite_of_a_long_text_of_few_distinct_words_stays_fast() -> None:
    """difflib's work grows with old × new tokens; past WORD_DIFF_LIMIT a changed stretch is shown as removed and
    added blocks, so the largest proposal (20,000 characters) of one-letter words is diffed in well under a second."""
    old = render_markdown(" ".join("ab"[i % 2] for i in range(10_000)))
    new = render_markdown(" ".join("ba"[i % 3 % 2] for i in range(10_000)))
    started = time.perf_counter()
    blocks = rendered_diff(old, new)
    assert time.perf_counter() - started < 1.0
    assert 10_000 * 10_000 > WORD_DIFF_LIMIT
    assert [block.change for block in blocks] == ["deleted", "inserted"]
    assert side_of(blocks, "new") == [[], [word for block in text_blocks(new) for word in block.words]]


# --- properties ---------------------------------------------------------------------------------------------------

_word = st.sampled_from(["seed", "tool", "the", "and", "Ana", "library", "10", "€", "<b>", "&amp;"])


@given(st.lists(_word, max_size=40), st.lists(_word, max_size=40))
def test_kept_and_inserted_words_are_the_new_text_and_kept_and_deleted_the_old(old: list[str], new: list[str]) -> None:
    pieces = diff_words(old, new)
    assert _words(pieces, "new") == new
    assert _words(pieces, "old") == old
    assert all(piece.words for piece in pieces)
    # Runs are maximal: two neighbours never have the same change.
    assert all(left.change != right.change for left, right in zip(pieces, pieces[1:], strict=False))


_line = st.lists(_word, min_size=1, max_size=6).map(" ".join)
_markdown_block = st.one_of(
    _line,
    _line.map(lambda text: f"# {text}"),
    _line.map(lambda text: f"- {text}"),
    _line.map(lambda text: f"> {text}"),
)
_markdown = st.lists(_markdown_block, max_size=8).map("\n\n".join)


@settings(deadline=None)
@given(_markdown, _markdown)
def test_each_side_of_a_rendered_diff_reads_as_its_own_rendered_text(old: str, new: str) -> None:
    """Block by block, in order, with every word: what a reader of either version sees is in the diff."""
    old_html, new_html = render_markdown(old), render_markdown(new)
    blocks = rendered_diff(old_html, new_html)
    for side, html in (("old", old_html), ("new", new_html)):
        expected = [word for block in text_blocks(html) for word in block.words]
        assert [word for words in side_of(blocks, side) for word in words] == expected
    assert all(block.pieces for block in blocks)
    for block in blocks:
        changes = {piece.change for piece in block.pieces}
        assert block.change == (changes.pop() if changes in ({"inserted"}, {"deleted"}) else "kept")


# --- the cost lines' diff (fundcircle.proposals.diff.cost_lines_changes) ---------------------------------------------


def test_cost_lines_added_removed_and_changed_in_amount() -> None:
    from fundcircle.proposals.diff import CostLine, CostLineChange, cost_lines_changes

    old = [CostLine("Seeds", 12_000), CostLine("Shelf", 9_550), CostLine("Labels", 450)]
    new = [CostLine("Seeds", 15_000), CostLine("Labels", 450), CostLine("Watering can", 2_000)]
    diff = cost_lines_changes(old, new, old_total_minor=22_000, new_total_minor=17_450)
    assert diff.changes == [
        CostLineChange("amount changed", "Seeds", 12_000, 15_000),
        CostLineChange("same", "Labels", 450, 450),
        CostLineChange("added", "Watering can", None, 2_000),
        CostLineChange("removed", "Shelf", 9_550, None),
    ]
    assert diff.changed and diff.has_lines
    assert (diff.old_total_minor, diff.new_total_minor) == (22_000, 17_450)


def test_cost_lines_the_same_are_no_change_and_a_reworded_line_is_removed_and_added() -> None:
    from fundcircle.proposals.diff import CostLine, CostLineChange, cost_lines_changes

    lines = [CostLine("Seeds", 12_000), CostLine("Shelf", 9_550)]
    same = cost_lines_changes(lines, list(lines), old_total_minor=21_550, new_total_minor=21_550)
    assert not same.changed and same.has_lines
    reworded = cost_lines_changes(
        [CostLine("Seeds", 12_000)], [CostLine("Local seeds", 12_000)], old_total_minor=12_000, new_total_minor=12_000
    )
    assert reworded.changes == [
        CostLineChange("added", "Local seeds", None, 12_000),
        CostLineChange("removed", "Seeds", 12_000, None),
    ]


def test_two_lines_with_the_same_words_are_two_lines() -> None:
    from fundcircle.proposals.diff import CostLine, CostLineChange, cost_lines_changes

    old = [CostLine("Bus ticket", 300), CostLine("Bus ticket", 300)]
    new = [CostLine("Bus ticket", 300)]
    assert cost_lines_changes(old, new, old_total_minor=600, new_total_minor=300).changes == [
        CostLineChange("same", "Bus ticket", 300, 300),
        CostLineChange("removed", "Bus ticket", 300, None),
    ]


def test_versions_without_lines_have_no_line_changes_but_keep_their_totals() -> None:
    from fundcircle.proposals.diff import CostLine, CostLineChange, cost_lines_changes

    neither = cost_lines_changes([], [], old_total_minor=25_000, new_total_minor=21_000)
    assert (neither.changes, neither.changed, neither.has_lines) == ([], False, False)
    assert (neither.old_total_minor, neither.new_total_minor) == (25_000, 21_000)
    # From one sum to lines: every line is added.
    split = cost_lines_changes([], [CostLine("Seeds", 25_000)], old_total_minor=25_000, new_total_minor=25_000)
    assert split.changes == [CostLineChange("added", "Seeds", None, 25_000)] and split.changed


@given(
    st.lists(st.tuples(st.sampled_from(["Seeds", "Shelf", "Labels", "Tools"]), st.integers(1, 10_000)), max_size=6),
    st.lists(st.tuples(st.sampled_from(["Seeds", "Shelf", "Labels", "Tools"]), st.integers(1, 10_000)), max_size=6),
)
@settings(max_examples=200, deadline=None)
def test_the_cost_lines_diff_accounts_for_every_line_of_both_versions(
    old_pairs: list[tuple[str, int]], new_pairs: list[tuple[str, int]]
) -> None:
    from fundcircle.proposals.diff import CostLine, cost_lines_changes

    old = [CostLine(what, amount) for what, amount in old_pairs]
    new = [CostLine(what, amount) for what, amount in new_pairs]
    diff = cost_lines_changes(old, new, old_total_minor=1, new_total_minor=1)
    # The new version's lines, in order, are every change but the removed ones; the old version's lines, as a
    # multiset, are every change but the added ones.
    assert [CostLine(c.description, c.new_minor or 0) for c in diff.changes if c.kind != "removed"] == new
    assert sorted((c.description, c.old_minor or 0) for c in diff.changes if c.kind != "added") == sorted(old_pairs)
    # Nothing changed exactly when both versions list the same lines, whatever their order.
    assert diff.changed == (sorted(old_pairs) != sorted(new_pairs))
