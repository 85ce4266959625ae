"""Read a Pabulib `.pb` file into plain, typed data. Pure: no Flask, no database, no clock.

Pabulib (pabulib.org/format) files have three sections in this order, each a title line (`META`, `PROJECTS`,
`VOTES`), a header line, then rows; cells are separated by semicolons and quoted as in CSV (a cell holding `;` or
`"` is written in double quotes, a `"` inside doubled). What this reader accepts, and why:

- Lines are counted as an editor counts them (a line ends at a line feed; a carriage return before it is dropped),
  so an error's line number points at the line to fix. A quoted cell cannot span lines: pabutools and the checker
  read the file line by line too, so such a file would mean something else to them. Blank lines are skipped.
- META needs `budget` and `vote_type`; `num_projects` and `num_votes`, when given, must match the rows. The vote
  types read are `approval`, `cumulative`, `scoring` and `ordinal`; the spec's `choose-1` (approval of exactly one
  project) is read as approval, and every ballot must then list exactly one project.
- Amounts (`budget`, `cost`) and points are exact: whole numbers or decimals with a point, read as fractions, never
  through a float. A decimal comma is refused rather than guessed (the checker refuses it too): `1,5` could be one
  and a half or a list.
- PROJECTS needs `project_id` first and `cost`; `name`, `votes`, `score` and `selected` are read when present
  (`none` or an empty cell, pabutools' spelling of a missing value, is None); other columns are kept as text.
- VOTES needs `voter_id` first and `vote`, a comma-separated list of project ids (for `ordinal`, most preferred
  first). `cumulative` and `scoring` ballots need `points`, one per project; cumulative points cannot be negative,
  scoring points can. Approval and ordinal ballots carry no points. An empty `vote` (or `none`) is an empty ballot.
- A file over `MAX_FILE_BYTES` is refused before it is read: the largest files in the Pabulib collection (a city's
  hundreds of thousands of paper and online ballots) are a few tens of megabytes, and reading is done in memory.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

#: The largest file read, in bytes (UTF-8).
MAX_FILE_BYTES = 64 * 1024 * 1024

VOTE_TYPES = ("approval", "choose-1", "cumulative", "scoring", "ordinal")
SECTIONS = ("meta", "projects", "votes")

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
#: How pabutools spells a missing value; the checker also takes an empty cell.
_MISSING = ("", "none")


class PabulibImportError(ValueError):
    """A file that is not a Pabulib file this reader can take; `line` is the 1-based line at fault, if one is."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message if line is None else f"Line {line}: {message}")
        self.line = line


@dataclass(frozen=True)
class ImportedProject:
    project_id: str
    cost: Fraction
    name: str | None
    #: The file's own counts, as written (None when the column is absent or the cell empty).
    votes: int | None
    score: Fraction | None
    #: 1 funded, 0 not; the spec also has 2 and 3 for projects funded or not by rules outside the budget.
    selected: int | None
    #: Every other column, as written (category, target, latitude, ...).
    fields: Mapping[str, str]


@dataclass(frozen=True)
class ImportedVote:
    voter_id: str
    #: The projects the ballot lists, in the file's order (for an ordinal ballot, most preferred first).
    projects: tuple[str, ...]
    #: One per project for cumulative and scoring ballots; None for approval and ordinal ones.
    points: tuple[Fraction, ...] | None
    fields: Mapping[str, str]

    def points_by_project(self) -> dict[str, Fraction]:
        """{project id: points}; an approval or ordinal ballot gives each project it lists 1."""
        if self.points is None:
            return dict.fromkeys(self.projects, Fraction(1))
        return dict(zip(self.projects, self.points, strict=True))


@dataclass(frozen=True)
class PabulibFile:
    meta: Mapping[str, str]
    #: One of VOTE_TYPES.
    vote_type: str
    budget: Fraction
    projects: tuple[ImportedProject, ...]
    votes: tuple[ImportedVote, ...]


def parse_pabulib(data: str | bytes, *, max_bytes: int = MAX_FILE_BYTES) -> PabulibFile:
    """Read a Pabulib file's text (or its UTF-8 bytes).

    :raises PabulibImportError: for a file over `max_bytes`, one that is not UTF-8, or one that breaks the format,
        with the line at fault.
    """
    text = _decoded(data, max_bytes)
    reader = _Reader()
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if line.strip():
            reader.feed(number, _cells(line, number))
    return reader.finish()


def _decoded(data: str | bytes, max_bytes: int) -> str:
    # a character is at least one byte, so a text longer than the limit is over it without encoding it
    if len(data) > max_bytes or (isinstance(data, str) and len(data.encode("utf-8")) > max_bytes):
        raise PabulibImportError(f"The file is larger than {max_bytes:,} bytes, the most that is read.")
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PabulibImportError("The file is not UTF-8 text.", data.count(b"\n", 0, error.start) + 1) from None


def _cells(line: str, number: int) -> list[str]:
    try:
        (row,) = csv.reader([line], delimiter=";", quotechar='"', strict=True)
    except csv.Error as error:
        raise PabulibImportError(
            f'the quoting is broken ({error}); a cell with ; or " is written in double quotes, and a " in it doubled.',
            number,
        ) from None
    return [cell.strip() for cell in row]


class _Reader:
    """Reads the file row by row, section by section."""

    def __init__(self) -> None:
        self.section: str | None = None
        self.header: list[str] | None = None
        self.header_line = 0
        self.meta: dict[str, str] = {}
        self.meta_lines: dict[str, int] = {}
        self.projects: dict[str, ImportedProject] = {}
        self.vote_rows: list[tuple[int, dict[str, str]]] = []
        self.seen: list[str] = []

    def feed(self, number: int, row: list[str]) -> None:
        marker = row[0].lower()
        if marker in SECTIONS and not any(row[1:]):
            self._start(number, marker)
        elif self.section is None:
            raise PabulibImportError("a Pabulib file starts with the line META.", number)
        elif self.header is None:
            self._set_header(number, row)
        else:
            self._row(number, row)

    def _start(self, number: int, section: str) -> None:
        expected = SECTIONS[len(self.seen)] if len(self.seen) < len(SECTIONS) else None
        if section != expected:
            raise PabulibImportError(
                f"{section.upper()} is not expected here: a Pabulib file has the sections META, PROJECTS and VOTES, "
                "each once, in that order.",
                number,
            )
        if self.section is not None and self.header is None:
            raise PabulibImportError(f"the {self.section.upper()} section has no header line.", number)
        self.seen.append(section)
        self.section, self.header = section, None

    def _set_header(self, number: int, row: list[str]) -> None:
        header = [cell.lower() for cell in row]
        first = {"meta": "key", "projects": "project_id", "votes": "voter_id"}[self.section or ""]
        if self.section == "meta" and header != ["key", "value"]:
            raise PabulibImportError("the META section's header line is key;value.", number)
        if header[0] != first:
            raise PabulibImportError(f"the {(self.section or '').upper()} header starts with {first}.", number)
        if "" in header or len(set(header)) != len(header):
            raise PabulibImportError("a header names every column once.", number)
        needed = {"projects": "cost", "votes": "vote"}.get(self.section or "")
        if needed and needed not in header:
            raise PabulibImportError(f"the {(self.section or '').upper()} header needs a {needed} column.", number)
        if self.section == "projects":
            self._check_meta()
        self.header, self.header_line = header, number

    def _row(self, number: int, row: list[str]) -> None:
        header = self.header or []
        if len(row) != len(header):
            raise PabulibImportError(f"{len(row)} cells, but the header line has {len(header)}.", number)
        cells = dict(zip(header, row, strict=True))
        if self.section == "meta":
            key, value = row
            if not key:
                raise PabulibImportError("a META row needs a key.", number)
            if key in self.meta:
                raise PabulibImportError(f"META has {key} twice (first on line {self.meta_lines[key]}).", number)
            self.meta[key], self.meta_lines[key] = value, number
        elif self.section == "projects":
            project = _project(number, cells)
            if project.project_id in self.projects:
                raise PabulibImportError(f"project {project.project_id} is listed twice.", number)
            self.projects[project.project_id] = project
        else:
            self.vote_rows.append((number, cells))

    def _check_meta(self) -> None:
        for key in ("budget", "vote_type"):
            if key not in self.meta:
                raise PabulibImportError(f"META has no {key}.")
        if self.meta["vote_type"] not in VOTE_TYPES:
            raise PabulibImportError(
                f"vote_type {self.meta['vote_type']!r} is not one of {', '.join(VOTE_TYPES)}.",
                self.meta_lines["vote_type"],
            )
        _amount(self.meta["budget"], "the budget", self.meta_lines["budget"])

    def finish(self) -> PabulibFile:
        if self.seen != list(SECTIONS) or self.header is None:
            missing = [name.upper() for name in SECTIONS if name not in self.seen]
            raise PabulibImportError(
                f"the file has no {', '.join(missing)} section." if missing else "the VOTES section has no header."
            )
        vote_type = self.meta["vote_type"]
        voters: set[str] = set()
        votes = []
        for number, cells in self.vote_rows:
            vote = _vote(number, cells, vote_type, self.projects)
            if vote.voter_id in voters:
                raise PabulibImportError(f"voter {vote.voter_id} is listed twice.", number)
            voters.add(vote.voter_id)
            votes.append(vote)
        for key, count in (("num_projects", len(self.projects)), ("num_votes", len(votes))):
            if key in self.meta and self.meta[key] != str(count):
                raise PabulibImportError(
                    f"META's {key} is {self.meta[key]!r}, but the file lists {count}.", self.meta_lines[key]
                )
        return PabulibFile(
            meta=dict(self.meta),
            vote_type=vote_type,
            budget=_amount(self.meta["budget"], "the budget", self.meta_lines["budget"]),
            projects=tuple(self.projects.values()),
            votes=tuple(votes),
        )


def _project(number: int, cells: dict[str, str]) -> ImportedProject:
    project_id = cells["project_id"]
    if not project_id or "," in project_id:
        raise PabulibImportError("a project needs an id, without commas (votes list ids with commas).", number)
    votes = _optional(cells.get("votes"))
    if votes is not None and not votes.isdigit():
        raise PabulibImportError(f"project {project_id}'s votes is {votes!r}, not a whole number.", number)
    score = _optional(cells.get("score"))
    selected = _optional(cells.get("selected"))
    if selected is not None and selected not in ("0", "1", "2", "3"):
        raise PabulibImportError(f"project {project_id}'s selected is {selected!r}; it is 0, 1, 2 or 3.", number)
    known = ("project_id", "cost", "name", "votes", "score", "selected")
    return ImportedProject(
        project_id=project_id,
        cost=_amount(cells["cost"], f"project {project_id}'s cost", number),
        name=_optional(cells.get("name")),
        votes=None if votes is None else int(votes),
        score=None if score is None else _number(score, f"project {project_id}'s score", number),
        selected=None if selected is None else int(selected),
        fields={key: value for key, value in cells.items() if key not in known},
    )


def _vote(number: int, cells: dict[str, str], vote_type: str, projects: Mapping[str, ImportedProject]) -> ImportedVote:
    voter_id = cells["voter_id"]
    if not voter_id:
        raise PabulibImportError("a vote needs a voter_id.", number)
    listed = _list(cells["vote"], number)
    for project_id in listed:
        if project_id not in projects:
            raise PabulibImportError(
                f"voter {voter_id} votes for {project_id!r}, which PROJECTS does not list.", number
            )
    if len(set(listed)) != len(listed):
        raise PabulibImportError(f"voter {voter_id} lists a project twice.", number)
    if vote_type == "choose-1" and len(listed) != 1:
        raise PabulibImportError(f"voter {voter_id} chooses {len(listed)} projects; choose-1 is exactly one.", number)
    raw_points = _list(cells.get("points", ""), number)
    points: tuple[Fraction, ...] | None = None
    if vote_type in ("cumulative", "scoring"):
        if len(raw_points) != len(listed):
            raise PabulibImportError(
                f"voter {voter_id} lists {len(listed)} projects and {len(raw_points)} points; a {vote_type} ballot "
                "gives each project it lists its points.",
                number,
            )
        points = tuple(_number(value, f"voter {voter_id}'s points", number) for value in raw_points)
        if vote_type == "cumulative" and any(value < 0 for value in points):
            raise PabulibImportError(
                f"voter {voter_id} gives negative points; cumulative points cannot be negative (scoring ones can).",
                number,
            )
    elif raw_points:
        raise PabulibImportError(f"voter {voter_id} has points, but a {vote_type} ballot has none.", number)
    return ImportedVote(
        voter_id=voter_id,
        projects=listed,
        points=points,
        fields={key: value for key, value in cells.items() if key not in ("voter_id", "vote", "points")},
    )


def _optional(cell: str | None) -> str | None:
    return None if cell is None or cell.lower() in _MISSING else cell


def _list(cell: str, number: int) -> tuple[str, ...]:
    if cell.lower() in _MISSING:
        return ()
    items = tuple(item.strip() for item in cell.split(","))
    if "" in items:
        raise PabulibImportError(f"{cell!r} has an empty item; lists are written 1,2,3.", number)
    return items


def _number(cell: str, what: str, number: int) -> Fraction:
    if not _NUMBER.fullmatch(cell):
        hint = " (decimals are written with a point)" if "," in cell else ""
        raise PabulibImportError(f"{what} is {cell!r}, not a number{hint}.", number)
    return Fraction(cell)


def _amount(cell: str, what: str, number: int) -> Fraction:
    amount = _number(cell, what, number)
    if amount < 0:
        raise PabulibImportError(f"{what} is {cell}; an amount cannot be negative.", number)
    return amount
