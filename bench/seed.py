"""Seed a synthetic circle for the benchmark, by bulk inserts (COPY on PostgreSQL, executemany on SQLite).

At size s: 300s circle members, a quadratic round (deciding) with 500s proposals and a 12-proposal ballot per
member, a consent round with 50s proposals, 20,000s comments (1,000 of them on one proposal) and 100,000s entries in
the circle's ledger. The circle, its admin and its rounds are made through the app's services; everything else is
inserted in bulk, with the ledger's hash chain computed by `fundcircle.ledger.chain`, so `ledger verify` passes.

Besides, for the saves/s of one circle against four (the chain head serialises the saves of one circle): three
more circles, each with a quadratic round in deciding, VOTING_PROPOSALS proposals and TOKEN_USERS members who hold
API tokens and have saved a ballot, the same at every size (a few hundred rows and ledger entries each).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from fundcircle.auth.services import create_user, sha256_hex
from fundcircle.circles.models import Membership
from fundcircle.circles.services import CircleInput, create_circle
from fundcircle.extensions import db
from fundcircle.ledger.chain import EntryContent, entry_hash_and_leaf, json_text
from fundcircle.ledger.merkle import append_leaves, decode_frontier, encode_frontier
from fundcircle.ledger.models import LedgerChain
from fundcircle.ledger.record import ChainHead
from fundcircle.rounds.services import RoundInput, create_round

MEMBERS, PROPOSALS, CONSENT_PROPOSALS, COMMENTS, LEDGER = 300, 500, 50, 20_000, 100_000
BALLOT_SIZE, BUSY_COMMENTS = 12, 1_000
#: Members whose API tokens the load clients use to save ballots.
TOKEN_USERS = 64
#: Circles with a quadratic round in deciding whose members hold tokens: the big one and VOTING_CIRCLES - 1 more.
VOTING_CIRCLES, VOTING_PROPOSALS = 4, 100
VIEWER_EMAIL, VIEWER_PASSWORD = "viewer@bench.example.org", "bench-viewer-password"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class VotingRound:
    """A quadratic round in deciding, and the API tokens of members who may save ballots in it."""

    circle: int
    round: int
    tokens: list[str]
    proposal_ids: list[int]


@dataclass(frozen=True)
class Seeded:
    """What the measurements need to find in the seeded database."""

    circle: int
    circle_slug: str
    small_circle_slug: str
    quadratic_round: int
    consent_round: int
    busy_proposal: int
    proposal_ids: list[int]
    tokens: list[str]
    ledger_entries: int
    ballots: int
    #: The big circle's quadratic round first, then one in each of the other voting circles.
    voting: list[VotingRound]

    def url_ids(self) -> dict[str, int]:
        return {
            "circle": self.circle,
            "round": self.quadratic_round,
            "consent_round": self.consent_round,
            "proposal": self.busy_proposal,
        }


def _next_id(table: str) -> int:
    return int(db.session.scalar(text(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")) or 1)


class BulkWriter:
    """Bulk inserts on one raw DB-API connection: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self) -> None:
        self.connection = db.engine.raw_connection()
        self.postgresql = db.engine.dialect.name == "postgresql"
        if not self.postgresql:
            self.connection.cursor().execute("BEGIN IMMEDIATE")

    def _sqlite_value(self, value: Any) -> Any:
        if isinstance(value, datetime):
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        if isinstance(value, dict | list):
            return json_text(value)  # as the app stores JSON (sorted keys, no spaces)
        return value

    def insert(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        count = 0
        cursor = self.connection.cursor()
        if self.postgresql:
            with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows:
                    copy.write_row([json_text(v) if isinstance(v, dict | list) else v for v in row])
                    count += 1
        else:
            marks = ", ".join("?" for _ in columns)
            batch: list[list[Any]] = []
            for row in rows:
                batch.append([self._sqlite_value(v) for v in row])
                if len(batch) == 5000:
                    cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", batch)
                    count, batch = count + len(batch), []
            if batch:
                cursor.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", batch)
                count += len(batch)
        cursor.close()
        return count

    def execute(self, statement: str, parameters: Sequence[Any] = ()) -> None:
        cursor = self.connection.cursor()
        cursor.execute(statement.replace("?", "%s") if self.postgresql else statement, parameters)
        cursor.close()

    def finish(self) -> None:
        if self.postgresql:
            cursor = self.connection.cursor()
            for table in ("users", "memberships", "proposals", "proposal_versions", "comments", "ballots",
                          "ledger_entries", "api_tokens"):  # fmt: skip
                cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT MAX(id) FROM {table}))")
            cursor.close()
            self.connection.commit()
        else:
            self.connection.cursor().execute("COMMIT")
        # Statistics, as a database that grew by use has them (autovacuum would gather them in a while): without
        # them the planner takes millions of freshly copied rows for a handful and picks nested loops.
        cursor = self.connection.cursor()
        cursor.execute("ANALYZE")
        cursor.close()
        if self.postgresql:
            self.connection.commit()
        self.connection.close()


class Ledger:
    """Appends entries to one chain in memory, hashing as `record` does; written out in bulk at the end."""

    def __init__(
        self, chain_id: int, circle_id: int, head_seq: int, head_hash: str, first_id: int, frontier: str
    ) -> None:
        self.chain_id, self.circle_id = chain_id, circle_id
        self.seq, self.head = head_seq, head_hash
        self.start_seq, self.start_frontier = head_seq, decode_frontier(frontier, head_seq)
        self.leaves: list[bytes] = []
        self.next_id = first_id
        self.rows: list[tuple[Any, ...]] = []
        self.at = START

    def add(self, action: str, actor: int | None, subject: tuple[str, int] | None, data: dict[str, Any]) -> str:
        self.seq += 1
        self.at += timedelta(seconds=7)
        content = EntryContent(
            seq=self.seq, at=self.at, circle_id=self.circle_id, actor_id=actor, action=action,
            subject_type=subject[0] if subject else None, subject_id=subject[1] if subject else None, data=data,
        )  # fmt: skip
        new, leaf = entry_hash_and_leaf(self.head, content)
        self.leaves.append(leaf)
        self.rows.append((
            self.next_id, self.chain_id, self.seq, self.at, self.circle_id, actor, action, content.subject_type,
            content.subject_id, data, self.head, new,
        ))  # fmt: skip
        self.next_id += 1
        self.head = new
        return new

    def tree(self) -> tuple[list[tuple[int, int, int, str]], str]:
        """The Merkle tree nodes the entries complete, as rows, and the chain's new frontier (as `record` keeps)."""
        appended = append_leaves(self.start_seq, self.start_frontier, self.leaves)
        rows = [(self.chain_id, level, index, digest.hex()) for level, index, digest in appended.nodes]
        return rows, encode_frontier(appended.frontier)


LEDGER_COLUMNS = ("id", "chain_id", "seq", "at", "circle_id", "actor_id", "action", "subject_type", "subject_id",
                  "data", "prev_hash", "hash")  # fmt: skip


def seed(size: float, *, seed_value: int = 9) -> Seeded:
    """Seed the benchmark circle at `size` (1, 4, 16, …) into the app's (migrated, empty) database."""
    rng = random.Random(seed_value)
    members, proposals_q = int(MEMBERS * size), int(PROPOSALS * size)
    proposals_c, comments_n, ledger_n = int(CONSENT_PROPOSALS * size), int(COMMENTS * size), int(LEDGER * size)

    viewer = create_user(None, email=VIEWER_EMAIL, name="Vera Viewer", password=VIEWER_PASSWORD, superuser=True,
                         via="bench")  # fmt: skip
    circle = create_circle(viewer, CircleInput(name="Bench City Fund", slug="bench-city", currency="EUR", public=False))
    small = create_circle(viewer, CircleInput(name="Small Fund", slug="small", currency="EUR", public=False))
    far = START + timedelta(days=3650)
    rounds = {}
    for method, title in (("quadratic", "City-wide micro-grants"), ("consent", "Neighbourhood consent round")):
        rounds[method] = create_round(
            viewer,
            circle,
            RoundInput(
                title=title, budget_minor=int(30_000_00 * size), per_proposal_cap_minor=40_000, method=method,
                categories=["Learning", "Tools", "Events"], proposals_close_at=far,
                deliberation_close_at=far + timedelta(days=10), deciding_close_at=far + timedelta(days=20),
            ),
        )  # fmt: skip
    more_voting = []
    for number in range(2, VOTING_CIRCLES + 1):
        other = create_circle(viewer, CircleInput(name=f"Bench Fund {number}", slug=f"bench-{number}", currency="EUR",
                                                  public=False))  # fmt: skip
        other_round = create_round(
            viewer, other,
            RoundInput(
                title=f"Micro-grants {number}", budget_minor=30_000_00, per_proposal_cap_minor=40_000,
                method="quadratic", categories=["Learning"], proposals_close_at=far,
                deliberation_close_at=far + timedelta(days=10), deciding_close_at=far + timedelta(days=20),
            ),
        )  # fmt: skip
        more_voting.append((other, other_round))
    db.session.flush()
    viewer_membership = db.session.scalar(
        select(Membership.id).where(Membership.circle_id == circle.id, Membership.user_id == viewer.id)
    )
    # The quadratic round is deciding (ballots may be saved); the consent round is in deliberation.
    db.session.execute(text("UPDATE rounds SET phase = 'deciding' WHERE id = :q"), {"q": rounds["quadratic"].id})
    db.session.execute(text("UPDATE rounds SET phase = 'deliberation' WHERE id = :c"), {"c": rounds["consent"].id})
    for _, other_round in more_voting:
        db.session.execute(text("UPDATE rounds SET phase = 'deciding' WHERE id = :q"), {"q": other_round.id})
    chain = db.session.scalar(select(LedgerChain).where(LedgerChain.circle_id == circle.id))
    assert chain is not None
    other_heads = []
    for other, other_round in more_voting:
        other_chain = db.session.scalar(select(LedgerChain).where(LedgerChain.circle_id == other.id))
        assert other_chain is not None
        head = ChainHead(other_chain.id, other_chain.head_seq, other_chain.head_hash, other_chain.tree_frontier)
        other_heads.append((other.id, other_round.id, head))
    db.session.commit()

    first = {
        table: _next_id(table)
        for table in (
            "users",
            "memberships",
            "api_tokens",
            "proposals",
            "proposal_versions",
            "comments",
            "ballots",
            "ledger_entries",
        )
    }
    chain_id, chain_seq, chain_hash, chain_frontier = chain.id, chain.head_seq, chain.head_hash, chain.tree_frontier
    viewer_id, circle_id, small_slug = viewer.id, circle.id, small.slug
    round_ids = {method: round_.id for method, round_ in rounds.items()}
    db.session.close()  # SQLite: the session must not hold the write lock the bulk writer takes

    ledger = Ledger(chain_id, circle_id, chain_seq, chain_hash, first["ledger_entries"], chain_frontier)
    writer = BulkWriter()
    user0, membership0 = first["users"], first["memberships"]
    user_ids = list(range(user0, user0 + members))
    writer.insert(
        "users",
        ("id", "email", "name", "password_hash", "is_superuser", "email_notices", "created_at"),
        ((uid, f"m{uid}@bench.example.org", f"Member {uid}", "!", False, True, START) for uid in user_ids),
    )
    writer.insert(
        "memberships",
        ("id", "circle_id", "user_id", "joined_at"),
        ((membership0 + i, circle_id, uid, START) for i, uid in enumerate(user_ids)),
    )
    roles = [(membership0 + i, role, START) for i in range(members) for role in ("member", "circle")]
    roles += [(viewer_membership, role, START) for role in ("circle", "treasurer")]  # admin and member already
    writer.insert("membership_roles", ("membership_id", "role", "granted_at"), roles)
    # The ledger describes the roles too (`ledger verify` replays them against membership_roles).
    change = {"user": viewer_id, "from": ["admin", "member"], "to": ["admin", "circle", "member", "treasurer"]}
    ledger.add("member.roles_changed", viewer_id, ("membership", viewer_membership), change)
    for i, uid in enumerate(user_ids):
        data = {"user": uid, "roles": ["member", "circle"]}
        ledger.add("member.added", viewer_id, ("membership", membership0 + i), data)

    tokens = [f"fc_bench{uid:08d}{rng.getrandbits(64):016x}" for uid in user_ids[:TOKEN_USERS]]
    writer.insert(
        "api_tokens",
        ("id", "user_id", "name", "prefix", "token_hash", "created_at"),
        ((first["api_tokens"] + i, user_ids[i], "bench", token[:10], sha256_hex(token), START)
         for i, token in enumerate(tokens)),
    )  # fmt: skip

    proposal0, version0 = first["proposals"], first["proposal_versions"]
    proposal_rows, version_rows, by_round = [], [], {"quadratic": [], "consent": []}
    for index in range(proposals_q + proposals_c):
        method = "quadratic" if index < proposals_q else "consent"
        pid, author = proposal0 + index, user_ids[index % members]
        submitted = START + timedelta(minutes=index)
        by_round[method].append(pid)
        amount = rng.randint(5, 400) * 100
        proposal_rows.append((pid, round_ids[method], author, "submitted", 1, submitted, submitted))
        body = f"We would run **project {pid}**: a workshop series, materials and a small fee for the host."
        version_rows.append((
            version0 + index, pid, 1, f"Project {pid}", f"Summary of project {pid}", body, f"<p>{body}</p>", amount,
            "EUR", rng.choice(["Learning", "Tools", "Events"]), f"project-{pid}", "", author, submitted,
        ))  # fmt: skip
        ledger.add("proposal.created", author, ("proposal", pid), {"version": 1, "amount_minor": amount})
        ledger.add("proposal.submitted", author, ("proposal", pid), {"version": 1})
    writer.insert("proposals", ("id", "round_id", "author_id", "status", "current_version", "created_at",
                                "submitted_at"), proposal_rows)  # fmt: skip
    writer.insert("proposal_versions", ("id", "proposal_id", "number", "title", "summary", "body", "body_html",
                                        "amount_minor", "currency", "category", "payee_slug", "change_note",
                                        "created_by_id", "created_at"), version_rows)  # fmt: skip

    busy = by_round["quadratic"][0]
    comment0 = first["comments"]
    all_proposals = by_round["quadratic"] + by_round["consent"]

    def comments() -> Iterable[tuple[Any, ...]]:
        tops: dict[int, int] = {}
        for index in range(comments_n):
            cid = comment0 + index
            pid = busy if index < BUSY_COMMENTS else all_proposals[1 + index % (len(all_proposals) - 1)]
            author = user_ids[(index * 7) % members]
            parent = tops.get(pid) if index % 3 == 2 else None
            question = parent is None and index % 10 == 0
            if parent is None and not question:
                tops[pid] = cid
            body = f"Comment {cid}: how would this reach people who are new to the neighbourhood?"
            at = START + timedelta(seconds=30 * index)
            ledger.add("comment.created", author, ("comment", cid), {"proposal": pid, "version": 1,
                                                                     "parent": parent, "question": question,
                                                                     "body": body})  # fmt: skip
            yield (cid, pid, parent, author, 1, body, f"<p>{body}</p>", question, at)

    writer.insert("comments", ("id", "proposal_id", "parent_id", "author_id", "version_number", "body", "body_html",
                               "is_question", "created_at"), comments())  # fmt: skip

    ballot0 = first["ballots"]
    candidates = by_round["quadratic"]
    ballot_rows, vote_rows = [], []
    for index, uid in enumerate(user_ids):
        chosen = sorted(rng.sample(candidates, BALLOT_SIZE))
        votes = {pid: rng.choice([1, 1, 2, 2, 3]) for pid in chosen}
        cost = sum(v * v for v in votes.values())
        receipt = ledger.add(
            "ballot.cast", uid, None,
            {"round": round_ids["quadratic"], "revision": 1, "credits_spent": cost,
             "votes": {str(pid): count for pid, count in votes.items()}},
        )  # fmt: skip
        ballot_rows.append((ballot0 + index, round_ids["quadratic"], uid, 1, cost, ledger.at, receipt))
        vote_rows += [(ballot0 + index, pid, count) for pid, count in votes.items()]
    writer.insert("ballots", ("id", "round_id", "user_id", "revision", "credits_spent", "saved_at", "receipt"),
                  ballot_rows)  # fmt: skip
    writer.insert("ballot_votes", ("ballot_id", "proposal_id", "votes"), vote_rows)

    # The rest of a busy history: people following and unfollowing proposals.
    filler = ledger_n - (ledger.seq - chain_seq)
    for index in range(max(0, filler)):
        pid = all_proposals[index % len(all_proposals)]
        action = "proposal.followed" if index % 2 == 0 else "proposal.unfollowed"
        ledger.add(action, user_ids[index % members], ("proposal", pid), {"proposal": pid})
    writer.insert("ledger_entries", LEDGER_COLUMNS, ledger.rows)
    node_rows, frontier = ledger.tree()
    writer.insert("ledger_tree_nodes", ("chain_id", "level", "idx", "hash"), node_rows)
    writer.execute("UPDATE ledger_chains SET head_seq = ?, head_hash = ?, tree_frontier = ? WHERE id = ?",
                   (ledger.seq, ledger.head, frontier, chain_id))  # fmt: skip

    # The other voting circles, their ids following the big circle's.
    next_ids = {
        "users": user0 + members, "memberships": membership0 + members, "api_tokens": first["api_tokens"] + len(tokens),
        "proposals": proposal0 + len(proposal_rows), "proposal_versions": version0 + len(version_rows),
        "ballots": ballot0 + len(ballot_rows), "ledger_entries": ledger.next_id,
    }  # fmt: skip
    voting = [VotingRound(circle_id, round_ids["quadratic"], tokens, candidates)]
    for voting_circle, voting_round, head in other_heads:
        voting.append(_seed_voting_circle(writer, rng, next_ids, viewer_id, voting_circle, voting_round, head))
    writer.finish()
    db.session.expire_all()
    return Seeded(
        circle=circle_id, circle_slug="bench-city", small_circle_slug=small_slug,
        quadratic_round=round_ids["quadratic"], consent_round=round_ids["consent"], busy_proposal=busy,
        proposal_ids=candidates, tokens=tokens, ledger_entries=ledger.seq, ballots=len(ballot_rows), voting=voting,
    )  # fmt: skip


def _seed_voting_circle(
    writer: BulkWriter,
    rng: random.Random,
    next_ids: dict[str, int],
    viewer_id: int,
    circle_id: int,
    round_id: int,
    head: ChainHead,
) -> VotingRound:
    """Seed one more voting circle (its circle, round and chain made by the services): TOKEN_USERS members with
    tokens, VOTING_PROPOSALS submitted proposals and a ballot per member, each in the circle's ledger. Takes ids
    from `next_ids` and moves them on."""
    ledger = Ledger(head.chain_id, circle_id, head.seq, head.hash, next_ids["ledger_entries"], head.frontier)
    user0, membership0 = next_ids["users"], next_ids["memberships"]
    user_ids = list(range(user0, user0 + TOKEN_USERS))
    writer.insert(
        "users",
        ("id", "email", "name", "password_hash", "is_superuser", "email_notices", "created_at"),
        ((uid, f"m{uid}@bench.example.org", f"Member {uid}", "!", False, True, START) for uid in user_ids),
    )
    writer.insert(
        "memberships",
        ("id", "circle_id", "user_id", "joined_at"),
        ((membership0 + i, circle_id, uid, START) for i, uid in enumerate(user_ids)),
    )
    roles = [(membership0 + i, role, START) for i in range(len(user_ids)) for role in ("member", "circle")]
    writer.insert("membership_roles", ("membership_id", "role", "granted_at"), roles)
    for i, uid in enumerate(user_ids):
        ledger.add(
            "member.added", viewer_id, ("membership", membership0 + i), {"user": uid, "roles": ["member", "circle"]}
        )
    tokens = [f"fc_bench{uid:08d}{rng.getrandbits(64):016x}" for uid in user_ids]
    writer.insert(
        "api_tokens",
        ("id", "user_id", "name", "prefix", "token_hash", "created_at"),
        ((next_ids["api_tokens"] + i, uid, "bench", token[:10], sha256_hex(token), START)
         for i, (uid, token) in enumerate(zip(user_ids, tokens, strict=True))),
    )  # fmt: skip

    proposal0, version0 = next_ids["proposals"], next_ids["proposal_versions"]
    proposal_ids = list(range(proposal0, proposal0 + VOTING_PROPOSALS))
    proposal_rows, version_rows = [], []
    for index, pid in enumerate(proposal_ids):
        author, submitted, amount = user_ids[index % len(user_ids)], START + timedelta(minutes=index), 10_000
        proposal_rows.append((pid, round_id, author, "submitted", 1, submitted, submitted))
        body = f"We would run **project {pid}**."
        version_rows.append((
            version0 + index, pid, 1, f"Project {pid}", f"Summary of project {pid}", body, f"<p>{body}</p>", amount,
            "EUR", "Learning", f"project-{pid}", "", author, submitted,
        ))  # fmt: skip
        ledger.add("proposal.created", author, ("proposal", pid), {"version": 1, "amount_minor": amount})
        ledger.add("proposal.submitted", author, ("proposal", pid), {"version": 1})
    writer.insert("proposals", ("id", "round_id", "author_id", "status", "current_version", "created_at",
                                "submitted_at"), proposal_rows)  # fmt: skip
    writer.insert("proposal_versions", ("id", "proposal_id", "number", "title", "summary", "body", "body_html",
                                        "amount_minor", "currency", "category", "payee_slug", "change_note",
                                        "created_by_id", "created_at"), version_rows)  # fmt: skip

    ballot0 = next_ids["ballots"]
    ballot_rows, vote_rows = [], []
    for index, uid in enumerate(user_ids):
        votes = {pid: rng.choice([1, 2]) for pid in sorted(rng.sample(proposal_ids, BALLOT_SIZE))}
        cost = sum(v * v for v in votes.values())
        receipt = ledger.add(
            "ballot.cast", uid, None,
            {"round": round_id, "revision": 1, "credits_spent": cost,
             "votes": {str(pid): count for pid, count in votes.items()}},
        )  # fmt: skip
        ballot_rows.append((ballot0 + index, round_id, uid, 1, cost, ledger.at, receipt))
        vote_rows += [(ballot0 + index, pid, count) for pid, count in votes.items()]
    writer.insert("ballots", ("id", "round_id", "user_id", "revision", "credits_spent", "saved_at", "receipt"),
                  ballot_rows)  # fmt: skip
    writer.insert("ballot_votes", ("ballot_id", "proposal_id", "votes"), vote_rows)

    writer.insert("ledger_entries", LEDGER_COLUMNS, ledger.rows)
    node_rows, frontier = ledger.tree()
    writer.insert("ledger_tree_nodes", ("chain_id", "level", "idx", "hash"), node_rows)
    writer.execute("UPDATE ledger_chains SET head_seq = ?, head_hash = ?, tree_frontier = ? WHERE id = ?",
                   (ledger.seq, ledger.head, frontier, head.chain_id))  # fmt: skip
    next_ids.update({
        "users": user0 + len(user_ids), "memberships": membership0 + len(user_ids),
        "api_tokens": next_ids["api_tokens"] + len(tokens), "proposals": proposal0 + len(proposal_ids),
        "proposal_versions": version0 + len(version_rows), "ballots": ballot0 + len(ballot_rows),
        "ledger_entries": ledger.next_id,
    })  # fmt: skip
    return VotingRound(circle_id, round_id, tokens, proposal_ids)
