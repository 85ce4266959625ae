"""Reading the ledger: a page of entries in words, exports (JSON Lines and CSV) and verification of the chains."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext, ngettext, pgettext
from sqlalchemy import Text, cast, or_, select, type_coerce
from sqlalchemy.orm import Session

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle, Membership, MembershipRole
from fundcircle.consent.models import ConsentRound
from fundcircle.extensions import db
from fundcircle.i18n import money_text
from fundcircle.ledger.chain import (
    EntryContent,
    StoredEntry,
    VerifyResult,
    format_at,
    receipt_prefix,
    sqlite_at_text,
    verify_chain,
)
from fundcircle.ledger.models import LedgerChain, LedgerEntry
from fundcircle.ledger.replay import REPLAYED_ACTIONS, TABLES, Key, Mismatch, ReplayEntry, StoredRow, reconcile, replay
from fundcircle.ledger.words import Names, Phrasebook, describe
from fundcircle.payouts.binding import email_digest
from fundcircle.payouts.models import Payout
from fundcircle.payouts.services import PAYOUT_STATUS_OF_EXPENSE
from fundcircle.phrases import N_
from fundcircle.proposals.models import Proposal, ProposalVersion
from fundcircle.rounds.models import Round
from fundcircle.spreadsheets import spreadsheet_safe
from fundcircle.voting.models import Ballot, BallotVote, ProposalResult, RoundTally
from fundcircle.voting.services import commitment

_ENTRY_COLUMNS = (
    LedgerEntry.seq,
    LedgerEntry.at,
    LedgerEntry.circle_id,
    LedgerEntry.actor_id,
    LedgerEntry.action,
    LedgerEntry.subject_type,
    LedgerEntry.subject_id,
    LedgerEntry.data,
    LedgerEntry.prev_hash,
    LedgerEntry.hash,
)


def _stored(row: Any) -> StoredEntry:
    # Unpacked by position (in _ENTRY_COLUMNS' order): much cheaper than a lookup by name for each of ten columns.
    seq, at, circle_id, actor_id, action, subject_type, subject_id, data, prev_hash, hash_ = row
    return StoredEntry(
        EntryContent(seq, at, circle_id, actor_id, action, subject_type, subject_id, data), prev_hash, hash_
    )


_NO_DATA: dict[str, Any] = {}
#: The entry's columns with `data` as the text the database holds, not parsed (see StoredEntry.data_text).
_ENTRY_COLUMNS_WITH_DATA_TEXT = tuple(
    cast(LedgerEntry.data, Text) if column is LedgerEntry.data else column for column in _ENTRY_COLUMNS
)


#: The same with the timestamp as the text SQLite holds (type_coerce: no cast in SQL, no result processing).
_ENTRY_COLUMNS_AS_TEXT = tuple(
    type_coerce(column, Text) if column is LedgerEntry.at else column for column in _ENTRY_COLUMNS_WITH_DATA_TEXT
)


def stored_entries(chain_id: int, batch_size: int = 2000, *, data_as_text: bool = False) -> Iterator[StoredEntry]:
    """A chain's entries in `seq` order, read in batches so that a long ledger fits in constant memory. With
    `data_as_text`, each entry's data is left as the stored JSON text (for verification, which hashes it as is),
    and on SQLite its timestamp too (`sqlite_at_text`): parsing and formatting back every timestamp was a fifth of
    the time `ledger verify` took there."""
    connection = db.session.connection()
    at_as_text = data_as_text and connection.dialect.name == "sqlite"
    columns = _ENTRY_COLUMNS_AS_TEXT if at_as_text else _ENTRY_COLUMNS_WITH_DATA_TEXT
    # Core rather than ORM execution: the rows are plain columns, and verification reads every one of them.
    query = select(*columns).where(LedgerEntry.chain_id == chain_id).order_by(LedgerEntry.seq)
    result = connection.execution_options(yield_per=batch_size).execute(query)
    try:
        for seq, at, circle_id, actor_id, action, subject_type, subject_id, data_text, prev_hash, hash_ in result:
            at_text = None
            if at_as_text:
                at_text = sqlite_at_text(at)
                at = datetime.fromisoformat(at).replace(tzinfo=UTC)
            data = _NO_DATA if data_as_text else json.loads(data_text)
            content = EntryContent(seq, at, circle_id, actor_id, action, subject_type, subject_id, data)
            yield StoredEntry(content, prev_hash, hash_, data_text if data_as_text else None, at_text)
    finally:
        result.close()  # verification may stop early, at the first bad entry


@dataclass(frozen=True)
class ChainReport:
    chain_id: int
    circle_id: int | None
    label: str
    result: VerifyResult
    #: The first row of the circle's tables that disagrees with its (verified) chain, if any.
    mismatch: Mismatch | None = None


def replay_entries(session: Session, chain_id: int, batch_size: int = 2000) -> Iterator[ReplayEntry]:
    """The chain's entries that describe the reconciled tables, in `seq` order, with their data parsed."""
    query = (
        select(LedgerEntry.seq, LedgerEntry.hash, LedgerEntry.action, LedgerEntry.actor_id, LedgerEntry.subject_type,
               LedgerEntry.subject_id, LedgerEntry.data)
        .where(LedgerEntry.chain_id == chain_id, LedgerEntry.action.in_(REPLAYED_ACTIONS))
        .order_by(LedgerEntry.seq)
    )  # fmt: skip
    result = session.connection().execution_options(yield_per=batch_size).execute(query)
    try:
        for row in result:
            yield ReplayEntry(*row)
    finally:
        result.close()


def stored_state(session: Session, circle_id: int) -> dict[str, dict[Key, StoredRow]]:
    """The rows of the circle's tables that the ledger describes, keyed and named as `ledger.replay` expects."""
    state: dict[str, dict[Key, StoredRow]] = {table: {} for table in TABLES}
    roles: dict[int, list[str]] = {}
    for membership_id, role in session.execute(
        select(MembershipRole.membership_id, MembershipRole.role)
        .join(Membership, Membership.id == MembershipRole.membership_id)
        .where(Membership.circle_id == circle_id)
    ):
        roles.setdefault(membership_id, []).append(role)
    for membership_id, user_id in session.execute(
        select(Membership.id, Membership.user_id).where(Membership.circle_id == circle_id)
    ):
        state["memberships"][(membership_id,)] = StoredRow(
            str(membership_id), {"user_id": user_id, "roles": sorted(roles.get(membership_id, []))}
        )
    rounds = select(Round.id).where(Round.circle_id == circle_id)
    for tally in session.scalars(select(RoundTally).where(RoundTally.round_id.in_(rounds))):
        state["round_tallies"][(tally.round_id,)] = StoredRow(str(tally.round_id), {
            "ballots_cast": tally.ballots_cast, "eligible_voters": tally.eligible_voters,
            "quorum_percent": tally.quorum_percent, "quorum_met": tally.quorum_met,
            "budget_minor": tally.budget_minor, "funded_minor": tally.funded_minor, "currency": tally.currency,
            "checkpoint_seq": tally.checkpoint_seq, "checkpoint_hash": tally.checkpoint_hash,
        })  # fmt: skip
    for result in session.scalars(select(ProposalResult).where(ProposalResult.round_id.in_(rounds))):
        state["proposal_results"][(result.round_id, result.proposal_id)] = StoredRow(
            f"round {result.round_id}, proposal {result.proposal_id}",
            {"version": result.version, "score": result.score, "amount_minor": result.amount_minor,
             "funded": result.funded, "reason": result.reason},
        )  # fmt: skip
    votes: dict[int, dict[int, int]] = {}
    for ballot_id, proposal_id, count in session.execute(
        select(BallotVote.ballot_id, BallotVote.proposal_id, BallotVote.votes)
        .join(Ballot, Ballot.id == BallotVote.ballot_id)
        .where(Ballot.round_id.in_(rounds))
    ):
        votes.setdefault(ballot_id, {})[proposal_id] = count
    # Columns, not Ballot objects: those would load their votes once more (their relationship is selectin).
    for ballot_id, round_id, user_id, revision, credits_spent, receipt, salt in session.execute(
        select(Ballot.id, Ballot.round_id, Ballot.user_id, Ballot.revision, Ballot.credits_spent, Ballot.receipt,
               Ballot.salt).where(Ballot.round_id.in_(rounds))
    ):  # fmt: skip
        mine = votes.get(ballot_id, {})
        fields: dict[str, Any] = {
            "revision": revision, "credits_spent": credits_spent, "receipt": receipt,
            "votes": {str(pid): count for pid, count in sorted(mine.items())},
        }  # fmt: skip
        if salt is not None:
            fields["commitment"] = commitment(salt, mine)
        state["ballots"][(round_id, user_id)] = StoredRow(str(ballot_id), fields)
    for consent_round in session.scalars(select(ConsentRound).where(ConsentRound.round_id.in_(rounds))):
        state["consent_rounds"][(consent_round.id,)] = StoredRow(str(consent_round.id), {
            "proposal_id": consent_round.proposal_id, "version": consent_round.version,
            "amount_minor": consent_round.amount_minor, "outcome": consent_round.outcome,
            "reason": consent_round.reason,
        })  # fmt: skip
    for payout in session.scalars(select(Payout).where(Payout.circle_id == circle_id)):
        state["payouts"][(payout.id,)] = StoredRow(str(payout.id), {
            "proposal_id": payout.proposal_id, "amount_minor": payout.amount_minor, "currency": payout.currency,
            "payee_slug": payout.payee_slug, "payee_name": payout.payee_name,
            "payee_email_sha256": email_digest(payout.payee_email), "status": payout.status,
        })  # fmt: skip
    return state


@contextmanager
def _snapshot() -> Iterator[Session]:
    """A session that sees the entries and the tables as of one moment, so that a change committed while verify
    reads (a ballot and its entry) is seen on both sides or on neither. On PostgreSQL a REPEATABLE READ transaction
    of its own; on SQLite the session's own transaction, whose BEGIN IMMEDIATE already keeps writers out (a second
    connection would wait for that very lock)."""
    if db.engine.dialect.name != "postgresql":
        yield db.session()
        return
    with db.engine.connect() as connection:
        connection.execution_options(isolation_level="REPEATABLE READ")
        with Session(bind=connection) as session:
            try:
                yield session
            finally:
                session.rollback()  # it only read


def reconcile_circle(chain_id: int, circle_id: int) -> Mismatch | None:
    """Replay the circle's chain into the state it describes and name the first stored row that differs."""
    with _snapshot() as session:
        expected = replay(replay_entries(session, chain_id), expense_statuses=PAYOUT_STATUS_OF_EXPENSE)
        return reconcile(expected, stored_state(session, circle_id))


def verify_ledger(
    circle_ids: Iterable[int] | None = None,
    *,
    include_site: bool = True,
    checkpoint: tuple[int, str] | None = None,
) -> list[ChainReport]:
    """Recompute chains against their stored heads: every chain, or only the circles in `circle_ids` (and the
    site's chain when `include_site`). A `checkpoint` (count, hash) published earlier must still be passed through.
    A circle's chain that verifies is then replayed against its tables (`reconcile_circle`)."""
    query = select(LedgerChain, Circle.slug).outerjoin(Circle, Circle.id == LedgerChain.circle_id)
    if circle_ids is not None:
        wanted = LedgerChain.circle_id.in_(list(circle_ids))
        query = query.where(wanted | LedgerChain.circle_id.is_(None) if include_site else wanted)
    elif not include_site:
        query = query.where(LedgerChain.circle_id.is_not(None))
    reports = []
    for chain, slug in db.session.execute(query.order_by(LedgerChain.id)).all():
        label = f"circle {slug}" if slug is not None else "site"
        result = verify_chain(
            stored_entries(chain.id, data_as_text=True),
            expected_head=(chain.head_seq, chain.head_hash),
            checkpoint=checkpoint,
        )
        mismatch = None
        if result.ok and chain.circle_id is not None:
            mismatch = reconcile_circle(chain.id, chain.circle_id)
        reports.append(ChainReport(chain.id, chain.circle_id, label, result, mismatch))
    return reports


# --- reading the ledger as people do ------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntryView:
    """An entry as the ledger page shows it."""

    seq: int
    at: datetime
    actor_id: int | None
    actor_name: str | None
    action: str
    words: str
    subject_type: str | None
    subject_id: int | None
    data: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class LedgerFilter:
    action: str | None = None
    #: One of ACTION_GROUPS: the entries whose action starts with one of its prefixes.
    group: str | None = None
    actor_id: int | None = None
    proposal_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    hash: str | None = None


#: The ledger page's "What" filter: groups a member recognises, each the action prefixes it covers (a new action of
#: an area falls in its group without a change here).
#: The names are the filter's values in the address too, so they stay English there; the page translates them.
ACTION_GROUPS: dict[str, tuple[str, ...]] = {
    N_("Votes and answers"): ("ballot.", "consent.", "consent_round."),
    N_("Proposals and discussion"): ("proposal.", "comment."),
    N_("Payouts"): ("payout.", "opencollective."),
    N_("Membership"): ("member.", "invitation.", "circle."),
    N_("Round steps"): ("round.",),
}

#: The entries' words in the request's language (or a recipient's, under `fundcircle.i18n.in_language`).
READERS_WORDS = Phrasebook(gettext=gettext, ngettext=ngettext, pgettext=pgettext, money=money_text)


def problem_words(result: VerifyResult) -> str | None:
    """Why a chain does not verify, in the reader's language."""
    if result.problem_id is None:
        return result.problem
    return gettext(result.problem_id, **result.problem_params)


def mismatch_words(mismatch: Mismatch) -> str:
    """The first stored row that disagrees with the ledger, in the reader's language (the table, row and field are
    the database's own names)."""
    values = {
        "table": mismatch.table,
        "row": mismatch.row,
        "field": mismatch.field,
        "stored": mismatch.stored,
        "ledger": mismatch.ledger,
    }
    if mismatch.seq is None:
        return gettext(
            "table %(table)s, row %(row)s, field %(field)s: stored %(stored)s, the ledger says %(ledger)s", **values
        )
    return gettext(
        "table %(table)s, row %(row)s, field %(field)s: stored %(stored)s, the ledger says %(ledger)s (entry %(seq)s)",
        seq=mismatch.seq,
        **values,
    )


#: The most proposals the ledger page offers to filter by (the newest); older ones are still found by date.
PROPOSAL_CHOICES = 500


def proposal_choices(circle_id: int) -> list[tuple[int, str]]:
    """The circle's proposals (not drafts) by title and round, newest first, for the ledger's proposal filter."""
    rows = db.session.execute(
        select(Proposal.id, ProposalVersion.title, Round.title)
        .join(
            ProposalVersion,
            (ProposalVersion.proposal_id == Proposal.id) & (ProposalVersion.number == Proposal.current_version),
        )
        .join(Round, Round.id == Proposal.round_id)
        .where(Round.circle_id == circle_id, Proposal.status != "draft")
        .order_by(Proposal.id.desc())
        .limit(PROPOSAL_CHOICES)
    )
    return [(proposal_id, f"{title} ({round_title})") for proposal_id, title, round_title in rows]


def chain_of_circle(circle_id: int) -> LedgerChain:
    chain = db.session.scalar(select(LedgerChain).where(LedgerChain.circle_id == circle_id))
    assert chain is not None, "every circle has its chain"  # nosec B101  # type narrowing, not a check
    return chain


def _names_for(entries: list[StoredEntry], currency: str | None) -> Names:
    """The names and titles the words of these entries need, in three queries whatever their number
    (people, proposals, rounds)."""
    contents = [entry.content for entry in entries]
    user_ids = {c.actor_id for c in contents if c.actor_id is not None}
    user_ids |= {c.data["user"] for c in contents if isinstance(c.data.get("user"), int)}
    proposal_ids = {c.data["proposal"] for c in contents if isinstance(c.data.get("proposal"), int)}
    proposal_ids |= {c.subject_id for c in contents if c.subject_type == "proposal" and c.subject_id is not None}
    users: dict[int, str] = {}
    if user_ids:
        users = {
            user_id: name
            for user_id, name in db.session.execute(select(User.id, User.name).where(User.id.in_(user_ids)))
        }
    round_ids = {c.subject_id for c in contents if c.subject_type == "round" and c.subject_id is not None}
    round_ids |= {c.data["round"] for c in contents if isinstance(c.data.get("round"), int)}
    rounds: dict[int, str] = {}
    if round_ids:
        rounds = {
            round_id: title
            for round_id, title in db.session.execute(select(Round.id, Round.title).where(Round.id.in_(round_ids)))
        }
    titles: dict[int, str] = {}
    if proposal_ids:
        rows = db.session.execute(
            select(Proposal.id, ProposalVersion.title)
            .join(
                ProposalVersion,
                (ProposalVersion.proposal_id == Proposal.id) & (ProposalVersion.number == Proposal.current_version),
            )
            .where(Proposal.id.in_(proposal_ids), Proposal.status != "draft")
        )
        titles = {proposal_id: title for proposal_id, title in rows}
        titles.update({pid: gettext("a draft") for pid in proposal_ids if pid not in titles})
    return Names(users=users, proposals=titles, currency=currency, rounds=rounds)


def _view(entry: StoredEntry, names: Names) -> EntryView:
    content = entry.content
    return EntryView(
        seq=content.seq,
        at=content.at,
        actor_id=content.actor_id,
        actor_name=names.users.get(content.actor_id) if content.actor_id is not None else None,
        action=content.action,
        words=describe(
            content.action,
            content.data,
            actor_id=content.actor_id,
            subject_type=content.subject_type,
            subject_id=content.subject_id,
            names=names,
            book=READERS_WORDS,
        ),
        subject_type=content.subject_type,
        subject_id=content.subject_id,
        data=dict(content.data),
        prev_hash=entry.prev_hash,
        hash=entry.hash,
    )


def ledger_page(
    circle_id: int,
    currency: str | None,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
    filters: LedgerFilter = LedgerFilter(),
) -> tuple[list[EntryView], int | None]:
    """A page of a circle's chain, keyset-paginated by `seq`: newest first below `before`, or oldest first above
    `after`. Returns the entries and the `seq` to continue from (None at the end). Five queries whatever the size."""
    chain = chain_of_circle(circle_id)
    query = select(*_ENTRY_COLUMNS).where(LedgerEntry.chain_id == chain.id)
    if filters.action:
        query = query.where(LedgerEntry.action == filters.action)
    if filters.group in ACTION_GROUPS:
        query = query.where(or_(*(LedgerEntry.action.startswith(prefix) for prefix in ACTION_GROUPS[filters.group])))
    if filters.actor_id is not None:
        query = query.where(LedgerEntry.actor_id == filters.actor_id)
    if filters.proposal_id is not None:
        query = query.where(
            ((LedgerEntry.subject_type == "proposal") & (LedgerEntry.subject_id == filters.proposal_id))
            | (LedgerEntry.data["proposal"].as_integer() == filters.proposal_id)
        )
    if filters.since is not None:
        query = query.where(LedgerEntry.at >= filters.since)
    if filters.until is not None:
        query = query.where(LedgerEntry.at < filters.until)
    if filters.hash:
        # A whole hash, or a receipt as a person copied it ("7f3a-9c21-b4"): the entries whose hash starts with it.
        # Anything shorter than a receipt matches nothing rather than a sixteenth of the ledger.
        prefix = receipt_prefix(filters.hash)
        if prefix is None:
            query = query.where(LedgerEntry.hash == filters.hash.strip().lower())
        else:
            query = query.where(LedgerEntry.hash >= prefix, LedgerEntry.hash < prefix + "g")
    if after is not None:
        query = query.where(LedgerEntry.seq > after).order_by(LedgerEntry.seq)
    else:
        if before is not None:
            query = query.where(LedgerEntry.seq < before)
        query = query.order_by(LedgerEntry.seq.desc())
    rows = [_stored(row) for row in db.session.execute(query.limit(limit + 1))]
    more = len(rows) > limit
    rows = rows[:limit]
    names = _names_for(rows, currency)
    return [_view(row, names) for row in rows], (rows[-1].content.seq if more and rows else None)


def entry_as_export(entry: StoredEntry) -> dict[str, Any]:
    """An entry as the JSON Lines export writes it: what the hash covers, plus the two hashes."""
    return {**entry.content.as_json_object(), "prev_hash": entry.prev_hash, "hash": entry.hash}


def export_jsonl(circle_id: int) -> Iterator[str]:
    """A circle's chain as JSON Lines, oldest first, streamed in batches (memory does not grow with the ledger)."""
    chain = chain_of_circle(circle_id)
    for entry in stored_entries(chain.id):
        yield json.dumps(entry_as_export(entry), ensure_ascii=False, sort_keys=True) + "\n"


def export_csv(circle_id: int, currency: str | None) -> Iterator[str]:
    """A circle's chain as CSV with each entry in words, streamed."""
    chain = chain_of_circle(circle_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    writer.writerow(
        ["seq", "at", "actor_id", "action", "subject_type", "subject_id", "words", "data", "prev_hash", "hash"]
    )
    yield flush()
    batch: list[StoredEntry] = []
    for entry in stored_entries(chain.id):
        batch.append(entry)
        if len(batch) == 1000:
            yield from _csv_rows(batch, writer, flush, currency)
            batch = []
    if batch:
        yield from _csv_rows(batch, writer, flush, currency)


def _csv_rows(batch: list[StoredEntry], writer: Any, flush: Any, currency: str | None) -> Iterator[str]:
    names = _names_for(batch, currency)
    for entry in batch:
        view = _view(entry, names)
        writer.writerow([
            view.seq, format_at(view.at), view.actor_id or "", view.action, view.subject_type or "",
            view.subject_id if view.subject_id is not None else "", spreadsheet_safe(view.words),
            spreadsheet_safe(json.dumps(view.data, ensure_ascii=False, sort_keys=True)), view.prev_hash, view.hash,
        ])  # fmt: skip
    yield flush()


class ExportError(ValueError):
    """A line of an export file that is not an entry; the message names the line."""


def parse_export_line(line: str, number: int) -> StoredEntry:
    """One JSON Lines entry, as `export_jsonl` writes it, back into what verification needs.

    :raises ExportError: naming the line, if it is not such an entry.
    """
    try:
        raw = json.loads(line)
        subject = raw["subject"]
        at = datetime.strptime(raw["at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        return StoredEntry(
            content=EntryContent(
                seq=int(raw["seq"]),
                at=at,
                circle_id=raw["circle"],
                actor_id=raw["actor"],
                action=raw["action"],
                subject_type=subject["type"],
                subject_id=subject["id"],
                data=raw["data"],
            ),
            prev_hash=raw["prev_hash"],
            hash=raw["hash"],
        )
    except (ValueError, KeyError, TypeError) as error:
        raise ExportError(f"line {number} is not a ledger entry ({error})") from None
