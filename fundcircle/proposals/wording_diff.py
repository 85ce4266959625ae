"""What changed in a proposal's text as a reader sees it: the rendered Markdown compared word by word.

Pure: no Flask, no database. The input is HTML that `fundcircle.markdown.render_markdown` produced (rendered and
sanitised, the way the proposal page shows it); only its text and its block structure (paragraphs, headings, list
items, quotes, code, table rows) are kept, so the output is plain words that the page escapes like any other text.
No markup from a member's text ever reaches the diff page as markup.

Worked example: the old text "We buy seeds." and the new text "We buy local seeds." give
`[Piece("kept", ("We", "buy")), Piece("inserted", ("local",)), Piece("kept", ("seeds.",))]`: the kept and inserted
words read as the new text, the kept and deleted words as the old one.
"""

from __future__ import annotations

import difflib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Literal, TypeVar

#: A piece of the diff: words that both versions have, that only the new one has, or that only the old one had.
Change = Literal["kept", "inserted", "deleted"]

#: What kind of block of the rendered text a run of words sits in; the page styles each kind.
BlockKind = Literal["paragraph", "heading", "item", "quote", "code", "row"]

Token = TypeVar("Token", bound=Hashable)


@dataclass(frozen=True)
class Piece:
    """A run of words with the same change."""

    change: Change
    words: tuple[str, ...]

    @property
    def text(self) -> str:
        return " ".join(self.words)


def diff_tokens(old: Sequence[Token], new: Sequence[Token]) -> list[tuple[Change, Token]]:
    """Every token of `old` and `new` once, in reading order, marked kept, deleted (only in old) or inserted (only in
    new). Where a run is replaced, its deleted tokens come before the inserted ones, as a reader expects.

    autojunk is off: with it, difflib ignores words that occur often ("the", "and") in texts of 200 words or more,
    and a diff of a long proposal would show whole sentences removed and added again."""
    marked: list[tuple[Change, Token]] = []
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for operation, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        if operation == "equal":
            marked.extend(("kept", token) for token in new[new_start:new_end])
            continue
        marked.extend(("deleted", token) for token in old[old_start:old_end])
        marked.extend(("inserted", token) for token in new[new_start:new_end])
    return marked


def diff_words(old: Sequence[str], new: Sequence[str]) -> list[Piece]:
    """The word-level diff of two lists of words, as runs of words with the same change (the module's docstring
    has an example)."""
    return _runs(diff_tokens(old, new))


def _runs(marked: Sequence[tuple[Change, str]]) -> list[Piece]:
    runs: list[tuple[Change, list[str]]] = []
    for change, word in marked:
        if runs and runs[-1][0] == change:
            runs[-1][1].append(word)
        else:
            runs.append((change, [word]))
    return [Piece(change, tuple(words)) for change, words in runs]


# --- the rendered text's blocks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    """One block of rendered text: a paragraph, a heading, a list item, a quoted paragraph, code or a table row."""

    kind: BlockKind
    words: tuple[str, ...]


_HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
#: Elements that end the text before them and start a new block. A table cell does not: its row is the block.
_BLOCK_ELEMENTS = {"p", "li", "pre", "blockquote", "tr", "hr", "ul", "ol", "table", *_HEADINGS}
#: What separates a table row's cells in its block, so "a | b" does not read as the one cell "a b".
CELL_SEPARATOR = "|"


class _TextBlocks(HTMLParser):
    """Splits sanitised HTML into blocks of words. Character references are decoded (the page escapes the words
    again when it shows them)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self._open: list[str] = []
        # The block's text so far: words are split only when the block ends, as "**shelves**." is one word.
        self._text: list[str] = []
        self._cells_in_row = 0

    def _kind(self) -> BlockKind:
        if any(tag in _HEADINGS for tag in self._open):
            return "heading"
        if "pre" in self._open:
            return "code"
        if "tr" in self._open:
            return "row"
        if "li" in self._open:
            return "item"
        if "blockquote" in self._open:
            return "quote"
        return "paragraph"

    def _flush(self) -> None:
        words = tuple("".join(self._text).split())
        if words:
            self.blocks.append(Block(self._kind(), words))
        self._text = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_ELEMENTS:
            self._flush()
        if tag == "tr":
            self._cells_in_row = 0
        if tag in ("td", "th"):
            if self._cells_in_row:
                self._text.append(f" {CELL_SEPARATOR} ")
            self._cells_in_row += 1
        if tag == "br":
            self._text.append(" ")
        if tag not in ("br", "hr"):  # void elements have no end tag
            self._open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_ELEMENTS:
            self._flush()
        if tag in self._open:
            # Drop everything opened inside it too: sanitised HTML is well nested, but a stray tag must not stick.
            del self._open[len(self._open) - 1 - self._open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        self._text.append(data)

    def close(self) -> None:
        super().close()
        self._flush()


def text_blocks(html: str) -> list[Block]:
    """The blocks of words of rendered (sanitised) HTML, in reading order; empty blocks are left out."""
    parser = _TextBlocks()
    parser.feed(html)
    parser.close()
    return parser.blocks


# --- the diff of two rendered texts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BlockStart:
    """The token that starts a block in the token stream, so a new paragraph or a heading made of a paragraph shows
    as a change, and the pieces after it are laid out in their own block."""

    kind: BlockKind


@dataclass
class DiffBlock:
    """A block of the diff page: its kind, the change of the block as a whole ("inserted" when all its words are
    new, "deleted" when all were removed, otherwise "kept") and its runs of words."""

    kind: BlockKind
    change: Change
    pieces: list[Piece] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(piece.change != "kept" for piece in self.pieces)


def _tokens(blocks: list[Block]) -> list[BlockStart | str]:
    tokens: list[BlockStart | str] = []
    for block in blocks:
        tokens.append(BlockStart(block.kind))
        tokens.extend(block.words)
    return tokens


#: The most pairs of tokens (old × new) compared word by word in one changed stretch of blocks. difflib's work grows
#: with that product: a 20,000-character proposal of one-letter words rewritten whole would take seconds. Past it,
#: the stretch shows as its old blocks removed and its new blocks added, which is what such a rewrite is anyway.
WORD_DIFF_LIMIT = 400_000


def rendered_diff(old_html: str, new_html: str) -> list[DiffBlock]:
    """The word-level diff of two rendered texts, laid out in blocks.

    The blocks are matched first, whole; a stretch of blocks that changed is then diffed word by word as one
    stream of tokens (a block start, then the block's words), so a sentence moved to the next paragraph, or a
    paragraph split in two, still matches word for word."""
    old_blocks, new_blocks = text_blocks(old_html), text_blocks(new_html)
    marked: list[tuple[Change, BlockStart | str]] = []
    matcher = difflib.SequenceMatcher(None, old_blocks, new_blocks, autojunk=False)
    for operation, old_start, old_end, new_start, new_end in matcher.get_opcodes():
        old_tokens, new_tokens = _tokens(old_blocks[old_start:old_end]), _tokens(new_blocks[new_start:new_end])
        if operation == "equal":
            marked.extend(("kept", token) for token in new_tokens)
        elif len(old_tokens) * len(new_tokens) <= WORD_DIFF_LIMIT:
            marked.extend(diff_tokens(old_tokens, new_tokens))
        else:
            marked.extend(("deleted", token) for token in old_tokens)
            marked.extend(("inserted", token) for token in new_tokens)
    return _laid_out(marked)


def _laid_out(marked: Sequence[tuple[Change, BlockStart | str]]) -> list[DiffBlock]:
    """Blocks for the page from the marked tokens.

    A deleted word goes to the block it was in (the latest block start the old text has), an inserted one to the
    block it is in now (the latest start the new text has), so in a run where difflib lists every deleted token
    before every inserted one, a replaced list item still shows its new words in its own item, not in a removed
    block above it. A kept word goes to the block it is in now too. But a word never goes to a block before one
    that already holds a later word of its side: each side then reads, block after block, in its own order."""
    starts: list[BlockKind] = []
    words_of_block: list[list[tuple[Change, str]]] = []
    old_block = new_block = -1  # the latest block start of each side
    old_last = new_last = -1  # the latest block holding a word of each side
    for change, token in marked:
        if isinstance(token, BlockStart):
            starts.append(token.kind)
            words_of_block.append([])
            if change != "inserted":
                old_block = len(starts) - 1
            if change != "deleted":
                new_block = len(starts) - 1
            continue
        if change == "deleted":
            index = old_last = max(old_block, old_last)
        elif change == "inserted":
            index = new_last = max(new_block, new_last)
        else:
            index = old_last = new_last = max(new_block, old_last, new_last)
        if index >= 0:  # always: both streams start with a block start
            words_of_block[index].append((change, token))
    blocks: list[DiffBlock] = []
    for kind, words in zip(starts, words_of_block, strict=True):
        changes = {change for change, _ in words}
        if changes:
            whole: Change = changes.pop() if len(changes) == 1 and "kept" not in changes else "kept"
            blocks.append(DiffBlock(kind, whole, _runs(words)))
    return blocks


def side_of(blocks: list[DiffBlock], side: Literal["old", "new"]) -> list[list[str]]:
    """The words of each block as one side reads them (kept and deleted words for the old text, kept and inserted
    for the new one), for checking a diff against the texts it came from."""
    dropped: Change = "inserted" if side == "old" else "deleted"
    return [[word for piece in block.pieces if piece.change != dropped for word in piece.words] for block in blocks]
