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
from typing import Any

from fundcircle.phrases import N_, PhrasedError

#: The largest file read, in bytes (UTF-8).
MAX_FILE_BYTES = 64 * 1024 * 1024

VOTE_TYPES = ("approval", "choose-1", "cumulative", "scoring", "ordinal")
SECTIONS = ("meta", "projects", "votes")

_NUMBER = re.compile(r"-?\d+(\.\d+)?")
#: How pabutools spells a missing value; the checker also takes an empty cell.
_MISSING = ("", "none")


class PabulibImportError(PhrasedError):
    """A file that is not a Pabulib file this reader can take; `line` is the 1-based line at fault, if one is.

    The problem itself is `problem_id` with `problem_params`, for the page to say in the reader's language after
    the line number; `str(error)` is the English "Line 3: ..." as before."""

    def __init__(self, problem_id: str, line: int | None = None, **params: Any) -> None:
        self.line = line
        self.problem_id, self.problem_params = problem_id, params
        if line is None:
            super().__init__(problem_id, **params)
        else:
            problem = problem_id % params if params else problem_id
            super().__init__(N_("Line %(line)s: %(problem)s"), line=line, problem=problem)


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
        raise PabulibImportError(
            N_("The file is larger than %(most)s bytes, the most that is read."), most=f"{max_bytes:,}"
        )
    if isinstance(data, str):
        return data.removeprefix("\ufeff")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise PabulibImportError(N_("The file is not UTF-8 text."), data.count(b"\n", 0, error.start) + 1) from None


def _cells(line: str, number: int) -> list[str]:
    try:
        (row,) = csv.reader([line], delimiter=";", quotechar='"', strict=True)
    except csv.Error as error:
        raise PabulibImportError(
            N_(
                'the quoting is broken (%(error)s); a cell with ; or " is written in double quotes, and a " in it '
                "doubled."
            ),
            number,
            error=str(error),
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
            raise PabulibImportError(N_("a Pabulib file starts with the line META."), number)
        elif self.header is None:
            self._set_header(number, row)
        else:
            self._row(number, row)

    def _start(self, number: int, section: str) -> None:
        expected = SECTIONS[len(self.seen)] if len(self.seen) < len(SECTIONS) else None
        if section != expected:
            raise PabulibImportError(
                N_(
                    "%(section)s is not expected here: a Pabulib file has the sections META, PROJECTS and VOTES, "
                    "each once, in that order."
                ),
                number,
                section=section.upper(),
            )
        if self.section is not None and self.header is None:
            raise PabulibImportError(
                N_("the %(section)s section has no header line."), number, section=self.section.upper()
            )
        self.seen.append(section)
        self.section, self.header = section, None

    def _set_header(self, number: int, row: list[str]) -> None:
        header = [cell.lower() for cell in row]
        first = {"meta": "key", "projects": "project_id", "votes": "voter_id"}[self.section or ""]
        if self.section == "meta" and header != ["key", "value"]:
            raise PabulibImportError(N_("the META section's header line is key;value."), number)
        if header[0] != first:
            raise PabulibImportError(
                N_("the %(section)s header starts with %(first)s."),
                number,
                section=(self.section or "").upper(),
                first=first,
            )
        if "" in header or len(set(header)) != len(header):
            raise PabulibImportError(N_("a header names every column once."), number)
        needed = {"projects": "cost", "votes": "vote"}.get(self.section or "")
        if needed and needed not in header:
            raise PabulibImportError(
                N_("the %(section)s header needs a %(column)s column."),
                number,
                section=(self.section or "").upper(),
                column=needed,
            )
        if self.section == "projects":
            self._check_meta()
        self.header, self.header_line = header, number

    def _row(self, number: int, row: list[str]) -> None:
        header = self.header or []
        if len(row) != len(header):
            raise PabulibImportError(
                N_("%(cells)s cells, but the header line has %(header)s."), number, cells=len(row), header=len(header)
            )
        cells = dict(zip(header, row, strict=True))
        if self.section == "meta":
            key, value = row
            if not key:
                raise PabulibImportError(N_("a META row needs a key."), number)
            if key in self.meta:
                raise PabulibImportError(
                    N_("META has %(key)s twice (first on line %(first)s)."),
                    number,
                    key=key,
                    first=self.meta_lines[key],
                )
            self.meta[key], self.meta_lines[key] = value, number
        elif self.section == "projects":
            project = _project(number, cells)
            if project.project_id in self.projects:
                raise PabulibImportError(N_("project %(project)s is listed twice."), number, project=project.project_id)
            self.projects[project.project_id] = project
        else:
            self.vote_rows.append((number, cells))

    def _check_meta(self) -> None:
        for key in ("budget", "vote_type"):
            if key not in self.meta:
                raise PabulibImportError(N_("META has no %(key)s."), key=key)
        if self.meta["vote_type"] not in VOTE_TYPES:
            raise PabulibImportError(
                N_("vote_type %(given)s is not one of %(types)s."),
                self.meta_lines["vote_type"],
                given=repr(self.meta["vote_type"]),
                types=", ".join(VOTE_TYPES),
            )
        _amount(self.meta["budget"], _BUDGET, self.meta_lines["budget"])

    def finish(self) -> PabulibFile:
        if self.seen != list(SECTIONS) or self.header is None:
            missing = [name.upper() for name in SECTIONS if name not in self.seen]
            if missing:
                raise PabulibImportError(N_("the file has no %(sections)s section."), sections=", ".join(missing))
            raise PabulibImportError(N_("the VOTES section has no header."))
        vote_type = self.meta["vote_type"]
        voters: set[str] = set()
        votes = []
        for number, cells in self.vote_rows:
            vote = _vote(number, cells, vote_type, self.projects)
            if vote.voter_id in voters:
                raise PabulibImportError(N_("voter %(voter)s is listed twice."), number, voter=vote.voter_id)
            voters.add(vote.voter_id)
            votes.append(vote)
        for key, count in (("num_projects", len(self.projects)), ("num_votes", len(votes))):
            if key in self.meta and self.meta[key] != str(count):
                raise PabulibImportError(
                    N_("META's %(key)s is %(given)s, but the file lists %(count)s."),
                    self.meta_lines[key],
                    key=key,
                    given=repr(self.meta[key]),
                    count=count,
                )
        return PabulibFile(
            meta=dict(self.meta),
            vote_type=vote_type,
            budget=_amount(self.meta["budget"], _BUDGET, self.meta_lines["budget"]),
            projects=tuple(self.projects.values()),
            votes=tuple(votes),
        )


def _project(number: int, cells: dict[str, str]) -> ImportedProject:
    project_id = cells["project_id"]
    if not project_id or "," in project_id:
        raise PabulibImportError(N_("a project needs an id, without commas (votes list ids with commas)."), number)
    votes = _optional(cells.get("votes"))
    if votes is not None and not votes.isdigit():
        raise PabulibImportError(
            N_("project %(project)s's votes is %(given)s, not a whole number."),
            number,
            project=project_id,
            given=repr(votes),
        )
    score = _optional(cells.get("score"))
    selected = _optional(cells.get("selected"))
    if selected is not None and selected not in ("0", "1", "2", "3"):
        raise PabulibImportError(
            N_("project %(project)s's selected is %(given)s; it is 0, 1, 2 or 3."),
            number,
            project=project_id,
            given=repr(selected),
        )
    known = ("project_id", "cost", "name", "votes", "score", "selected")
    return ImportedProject(
        project_id=project_id,
        cost=_amount(cells["cost"], _Cell("cost", project_id), number),
        name=_optional(cells.get("name")),
        votes=None if votes is None else int(votes),
        score=None if score is None else _number(score, _Cell("score", project_id), number),
        selected=None if selected is None else int(selected),
        fields={key: value for key, value in cells.items() if key not in known},
    )


def _vote(number: int, cells: dict[str, str], vote_type: str, projects: Mapping[str, ImportedProject]) -> ImportedVote:
    voter_id = cells["voter_id"]
    if not voter_id:
        raise PabulibImportError(N_("a vote needs a voter_id."), number)
    listed = _list(cells["vote"], number)
    for project_id in listed:
        if project_id not in projects:
            raise PabulibImportError(
                N_("voter %(voter)s votes for %(project)s, which PROJECTS does not list."),
                number,
                voter=voter_id,
                project=repr(project_id),
            )
    if len(set(listed)) != len(listed):
        raise PabulibImportError(N_("voter %(voter)s lists a project twice."), number, voter=voter_id)
    if vote_type == "choose-1" and len(listed) != 1:
        raise PabulibImportError(
            N_("voter %(voter)s chooses %(count)s projects; choose-1 is exactly one."),
            number,
            voter=voter_id,
            count=len(listed),
        )
    raw_points = _list(cells.get("points", ""), number)
    points: tuple[Fraction, ...] | None = None
    if vote_type in ("cumulative", "scoring"):
        if len(raw_points) != len(listed):
            raise PabulibImportError(
                N_(
                    "voter %(voter)s lists %(projects)s projects and %(points)s points; a %(type)s ballot gives each "
                    "project it lists its points."
                ),
                number,
                voter=voter_id,
                projects=len(listed),
                points=len(raw_points),
                type=vote_type,
            )
        points = tuple(_number(value, _Cell("points", voter_id), number) for value in raw_points)
        if vote_type == "cumulative" and any(value < 0 for value in points):
            raise PabulibImportError(
                N_("voter %(voter)s gives negative points; cumulative points cannot be negative (scoring ones can)."),
                number,
                voter=voter_id,
            )
    elif raw_points:
        raise PabulibImportError(
            N_("voter %(voter)s has points, but a %(type)s ballot has none."), number, voter=voter_id, type=vote_type
        )
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
        raise PabulibImportError(N_("%(cell)s has an empty item; lists are written 1,2,3."), number, cell=repr(cell))
    return items


@dataclass(frozen=True)
class _Cell:
    """Which number a cell holds, for the messages about it: the budget, a project's cost or score, or a voter's
    points (`of` is the project or the voter)."""

    kind: str
    of: str | None = None


_BUDGET = _Cell("budget")

#: What is wrong with a number, a whole sentence for each kind of cell (the words around it change with it).
_NOT_A_NUMBER = {
    "budget": N_("the budget is %(cell)s, not a number."),
    "cost": N_("project %(of)s's cost is %(cell)s, not a number."),
    "score": N_("project %(of)s's score is %(cell)s, not a number."),
    "points": N_("voter %(of)s's points is %(cell)s, not a number."),
}
_DECIMAL_COMMA = {
    "budget": N_("the budget is %(cell)s, not a number (decimals are written with a point)."),
    "cost": N_("project %(of)s's cost is %(cell)s, not a number (decimals are written with a point)."),
    "score": N_("project %(of)s's score is %(cell)s, not a number (decimals are written with a point)."),
    "points": N_("voter %(of)s's points is %(cell)s, not a number (decimals are written with a point)."),
}
_NEGATIVE = {
    "budget": N_("the budget is %(cell)s; an amount cannot be negative."),
    "cost": N_("project %(of)s's cost is %(cell)s; an amount cannot be negative."),
}


def _number(cell: str, what: _Cell, number: int) -> Fraction:
    if not _NUMBER.fullmatch(cell):
        said = _DECIMAL_COMMA if "," in cell else _NOT_A_NUMBER
        raise PabulibImportError(said[what.kind], number, cell=repr(cell), of=what.of)
    return Fraction(cell)


def _amount(cell: str, what: _Cell, number: int) -> Fraction:
    amount = _number(cell, what, number)
    if amount < 0:
        raise PabulibImportError(_NEGATIVE[what.kind], number, cell=cell, of=what.of)
    return amount
