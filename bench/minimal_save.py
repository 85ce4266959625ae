"""Floor (a) of `make bench`: the ballot save written as raw SQL in its minimal form, a WSGI app of its own.

It answers the same `PUT /api/v1/rounds/<id>/ballot` (same body, same bearer tokens, same JSON answer) as the real
app, from the same database, under gunicorn with the same number of workers, and writes the same rows: the ballot
and its votes, the ledger entry hash-chained to the head (the very hash `fundcircle.ledger.chain` gives, so that
`ledger verify` later in the run still passes), its Merkle tree nodes, the head's move and the receipt. No Flask, no
SQLAlchemy, no marshmallow: the DB-API drivers (psycopg, sqlite3) directly, and not one import of `fundcircle` (a
module of it would load Flask with the package), so the chain's and the tree's hashing are written out again here.

One save, on PostgreSQL:
  1. one query reading the token's user, their roles in the round's circle, the round (phase, deadlines, credits,
     locked FOR SHARE as the real save locks it against the move to decided), which of the named proposals are the
     round's submitted ones, the member's ballot (locked FOR UPDATE) and the chain's head (not locked);
  2. in one pipeline (one round trip): the token's last use (only when last noted over a minute ago, as the app
     does), the ballot row, its votes replaced, and last the ledger entry, tree nodes and head move in one
     statement, a compare-and-set on the head read in 1 (so the head is locked only from that statement to COMMIT);
  3. COMMIT, in the same pipeline. If another save of the circle moved the head between 1 and 2, the append
     fails (and the COMMIT is not done): back to a savepoint before it, the append is done again with the head
     locked first, as the app's fallback to `record` does.
On SQLite: BEGIN IMMEDIATE (the write lock, as the app's engine takes it), the same read, the same writes one by
one (no round trips to save in-process), COMMIT.

    gunicorn --workers 2 bench.minimal_save:app      (the database from BENCH_MINIMAL_DATABASE_URL)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

#: As fundcircle.auth.services.TOKEN_USE_NOTED_EVERY: a token's last use is noted at most once a minute.
TOKEN_USE_NOTED_EVERY = timedelta(minutes=1)
#: As fundcircle.voting.services.MAX_BALLOT_ENTRIES.
MAX_BALLOT_ENTRIES = 1000
INT_LIMIT = 2**31 - 1

BALLOT_PATH = re.compile(r"/api/v1/rounds/([0-9]{1,10})/ballot")

StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class Refused(Exception):
    """An answer other than a save: its HTTP status and message."""

    def __init__(self, status: str, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


# --- the ledger's hashing, as fundcircle/ledger/chain.py and merkle.py do it -------------------------------------


def json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hashes(
    prev_hash: str, seq: int, at: datetime, circle_id: int, actor_id: int, data: dict[str, Any]
) -> tuple[str, bytes]:
    """The chain hash and the Merkle leaf hash of a "ballot.cast" entry (no subject) following `prev_hash`."""
    at_text = at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    content = {"seq": seq, "at": at_text, "circle": circle_id, "actor": actor_id, "action": "ballot.cast",
               "subject": {"type": None, "id": None}, "data": data}  # fmt: skip
    encoded = json_text(content).encode("utf-8")
    return hashlib.sha256(prev_hash.encode("ascii") + encoded).hexdigest(), hashlib.sha256(b"\x00" + encoded).digest()


def append_leaf(size: int, frontier_text: str, leaf: bytes) -> tuple[list[tuple[int, int, str]], str]:
    """Append one leaf to a tree of `size` leaves: the perfect nodes it completes (level, index, hex hash) and the
    new frontier, as text (RFC 9162 node hashes, as fundcircle.ledger.merkle.append_leaves)."""
    stack = [bytes.fromhex(frontier_text[i : i + 64]) for i in range(0, len(frontier_text), 64)]
    levels = [level for level in range(size.bit_length() - 1, -1, -1) if size >> level & 1]
    nodes = [(0, size, leaf.hex())]
    carry, level = leaf, 0
    while levels and levels[-1] == level:
        levels.pop()
        carry = hashlib.sha256(b"\x01" + stack.pop() + carry).digest()
        level += 1
        nodes.append((level, size >> level, carry.hex()))
    stack.append(carry)
    return nodes, "".join(digest.hex() for digest in stack)


class Entry:
    """The ballot's ledger entry computed on a head: its values, tree nodes and the head it moves the chain to."""

    def __init__(self, head_seq: int, head_hash: str, frontier: str, at: datetime, circle_id: int, actor_id: int,
                 data: dict[str, Any]) -> None:  # fmt: skip
        self.seq, self.prev_hash, self.data_text = head_seq + 1, head_hash, json_text(data)
        self.hash, leaf = entry_hashes(head_hash, self.seq, at, circle_id, actor_id, data)
        self.nodes, self.frontier = append_leaf(head_seq, frontier, leaf)


# --- the request ------------------------------------------------------------------------------------------------


def read_votes(body: bytes) -> dict[int, int]:
    """The body's votes, checked for shape as the app's BallotInSchema does.

    :raises Refused: (422) for a body that is not {"votes": {"<id>": <int>, ...}}.
    """
    try:
        document = json.loads(body)
    except ValueError:
        raise Refused("422 Unprocessable Entity", "The body is not JSON.") from None
    if not isinstance(document, dict) or set(document) != {"votes"} or not isinstance(document["votes"], dict):
        raise Refused("422 Unprocessable Entity", 'The body is {"votes": {...}}.')
    given = document["votes"]
    if len(given) > MAX_BALLOT_ENTRIES:
        raise Refused("422 Unprocessable Entity", f"A ballot names at most {MAX_BALLOT_ENTRIES} proposals.")
    votes: dict[int, int] = {}
    for key, count in given.items():
        if not re.fullmatch(r"[0-9]{1,10}", key) or int(key) > INT_LIMIT:
            raise Refused("422 Unprocessable Entity", f"Proposal ids are whole numbers, not {key}.")
        if type(count) is not int or not -INT_LIMIT <= count <= INT_LIMIT:
            raise Refused("422 Unprocessable Entity", "Votes are whole numbers.")
        if count != 0:
            votes[int(key)] = count
    return votes


def check_save(row: tuple[Any, ...], votes: dict[int, int], now_phase: str) -> int:
    """Check the save against what the first query read; return its cost (credits spent).

    :raises Refused: 403 unless the voter holds "circle"; 409 unless the round is quadratic and deciding; 422 for
        a ballot naming a proposal not open for votes, a vote against where none are allowed, or over the credits.
    """
    roles_text, method, credits, allow_negative, candidates_text = row[4], row[6], row[7], row[8], row[12]
    roles = set(roles_text.split(",")) if roles_text is not None else set()
    if "circle" not in roles:
        raise Refused("403 Forbidden", "Only the circle's members who decide can do this.")
    if method != "quadratic":
        raise Refused("409 Conflict", "The minimal save knows quadratic ballots only.")
    if now_phase != "deciding":
        raise Refused("409 Conflict", f"Voting is open while the round is deciding; it is {now_phase}.")
    candidates = {int(pid) for pid in candidates_text.split(",")} if candidates_text else set()
    cost = 0
    for proposal_id, count in votes.items():
        if proposal_id not in candidates:
            raise Refused("422 Unprocessable Entity", f"Proposal {proposal_id} is not open for votes in this round.")
        if count < 0 and not allow_negative:
            raise Refused("422 Unprocessable Entity", "This round does not allow votes against a proposal.")
        cost += count * count
    if cost > credits:
        raise Refused("422 Unprocessable Entity", f"This ballot costs {cost} credits, {cost - credits} more.")
    return int(cost)


def phase_at(phase: str, deliberation_close: Any, deciding_close: Any, now: Any) -> str:
    """The round's phase at `now` as far as a save cares (fundcircle.rounds.phases.effective_phase from
    deliberation on): deadlines compare as datetimes (PostgreSQL) or as SQLite's stored text (same order)."""
    if phase == "deliberation" and deliberation_close is not None and deliberation_close <= now:
        phase = "deciding"
    if phase == "deciding" and deciding_close is not None and deciding_close <= now:
        return "counting"
    return phase


def ballot_data(round_id: int, revision: int, cost: int, votes: dict[int, int], salt: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {"round": round_id, "revision": revision, "credits_spent": cost}
    if salt is None:
        data["votes"] = {str(pid): count for pid, count in sorted(votes.items())}
    else:
        payload = json_text({str(pid): count for pid, count in sorted(votes.items())}).encode("utf-8")
        data["commitment"] = hashlib.sha256(salt.encode("ascii") + payload).hexdigest()
    return data


def answer(round_id: int, credits: int, votes: dict[int, int], cost: int, revision: int, now: datetime,
           receipt: str) -> bytes:  # fmt: skip
    """The answer the app's BallotOutSchema gives for a saved ballot, built from what was written."""
    return json.dumps({
        "round_id": round_id, "votes": {str(pid): count for pid, count in sorted(votes.items())}, "credits": credits,
        "method": "quadratic", "credits_spent": cost, "credits_left": credits - cost, "revision": revision,
        "saved_at": now.isoformat(), "receipt": receipt,
    }).encode()  # fmt: skip


# --- PostgreSQL -------------------------------------------------------------------------------------------------

PG_READ = """
SELECT t.user_id, t.id, t.last_used_at, r.circle_id,
       (SELECT string_agg(coalesce(mr.role, ''), ',') FROM memberships m
          LEFT JOIN membership_roles mr ON mr.membership_id = m.id
         WHERE m.circle_id = r.circle_id AND m.user_id = t.user_id),
       r.phase, r.method, r.credits, r.allow_negative, r.secret_ballot, r.deliberation_close_at, r.deciding_close_at,
       (SELECT string_agg(p.id::text, ',') FROM proposals p
         WHERE p.round_id = r.id AND p.status = 'submitted' AND p.id = ANY(%(proposals)s)),
       b.id, b.revision, c.id, c.head_seq, c.head_hash, c.tree_frontier
  FROM api_tokens t
  JOIN rounds r ON r.id = %(round)s
  JOIN ledger_chains c ON c.circle_id = r.circle_id
  LEFT JOIN LATERAL (SELECT id, revision FROM ballots
                      WHERE round_id = r.id AND user_id = t.user_id FOR UPDATE) b ON true
 WHERE t.token_hash = %(token)s AND t.revoked_at IS NULL
   FOR SHARE OF r"""
#: The append again, when another save of the circle moved the head after the read: the head locked first (NO KEY
#: UPDATE, as an UPDATE of the row takes), as the app's fallback to `record` locks it.
PG_LOCK_HEAD = "SELECT head_seq, head_hash, tree_frontier FROM ledger_chains WHERE id = %s FOR NO KEY UPDATE"

PG_NOTE_TOKEN = """
UPDATE api_tokens SET last_used_at = %(now)s
 WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at < %(since)s)"""

PG_NEW_BALLOT = """
INSERT INTO ballots (round_id, user_id, revision, credits_spent, saved_at, salt, receipt)
VALUES (%s, %s, 1, %s, %s, %s, %s)
ON CONFLICT (round_id, user_id) DO UPDATE
   SET revision = ballots.revision + 1, credits_spent = excluded.credits_spent, saved_at = excluded.saved_at,
       salt = excluded.salt, receipt = excluded.receipt
RETURNING id, revision"""


def pg_append(entry: Entry, chain_id: int, at: datetime, circle_id: int, actor_id: int) -> tuple[str, list[Any]]:
    """The ledger append in one statement: the head's move, a compare-and-set on the head the entry was computed
    on, with the entry and its tree nodes hanging off it as data-modifying CTEs. When the head had moved, the
    division by zero fails the statement, so the COMMIT queued behind it in the pipeline is not done."""
    nodes = ", ".join("(%s::int, %s::int, %s)" for _ in entry.nodes)
    sql = f"""
WITH moved AS (UPDATE ledger_chains SET head_seq = %s, head_hash = %s, tree_frontier = %s
                WHERE id = %s AND head_seq = %s AND head_hash = %s RETURNING id),
     entry AS (INSERT INTO ledger_entries (chain_id, seq, at, circle_id, actor_id, action, data, prev_hash, hash)
               SELECT id, %s::int, %s::timestamptz, %s::int, %s::int, 'ballot.cast', %s::json, %s, %s FROM moved),
     nodes AS (INSERT INTO ledger_tree_nodes (chain_id, level, idx, hash)
               SELECT moved.id, v.level, v.idx, v.hash FROM moved, (VALUES {nodes}) AS v (level, idx, hash))
SELECT 1 / count(*) FROM moved"""
    head = [entry.seq, entry.hash, entry.frontier, chain_id, entry.seq - 1, entry.prev_hash]
    parameters: list[Any] = [*head, entry.seq, at, circle_id, actor_id, entry.data_text, entry.prev_hash, entry.hash]
    for level, index, digest in entry.nodes:
        parameters += [level, index, digest]
    return sql, parameters


def pg_save(connection: psycopg.Connection[Any], round_id: int, token_hash: str, votes: dict[int, int]) -> bytes:
    """Two round trips for a member's next revision: the read, then every write and the COMMIT in one pipeline (a
    first save takes one more, for its ballot's id; a save whose append finds the head moved, two more).

    :raises Refused: for anything but a save (the transaction is rolled back by the caller).
    """
    now = datetime.now(UTC)
    cursor = connection.cursor()
    cursor.execute(PG_READ, {"round": round_id, "token": token_hash, "proposals": list(votes)})
    row = cursor.fetchone()
    if row is None:
        raise Refused("401 Unauthorized", "No such API token, or no such round.")
    user_id, token_id, used_at, circle_id = row[0], row[1], row[2], row[3]
    cost = check_save(row, votes, phase_at(row[5], row[10], row[11], now))
    ballot_id, revision = row[13], (row[14] or 0) + 1
    chain_id, head_seq, head_hash, frontier = row[15], row[16], row[17], row[18]
    salt = secrets.token_hex(16) if row[9] else None
    entry = Entry(head_seq, head_hash, frontier, now, circle_id, user_id,
                  ballot_data(round_id, revision, cost, votes, salt))  # fmt: skip
    if ballot_id is None:  # a first save; a concurrent first save of the member's makes this one an update
        cursor.execute(PG_NEW_BALLOT, (round_id, user_id, cost, now, salt, entry.hash))
        ballot_id, stored = cursor.fetchone() or (None, revision)
        if stored != revision:
            revision = stored
            entry = Entry(head_seq, head_hash, frontier, now, circle_id, user_id,
                          ballot_data(round_id, revision, cost, votes, salt))  # fmt: skip
    try:
        with connection.pipeline():
            if used_at is None or now - used_at > TOKEN_USE_NOTED_EVERY:
                cursor.execute(PG_NOTE_TOKEN, {"now": now, "id": token_id, "since": now - TOKEN_USE_NOTED_EVERY})
            if revision > 1:  # the row was locked by the read (or by the upsert): this is its next revision
                cursor.execute(
                    "UPDATE ballots SET revision = %s, credits_spent = %s, saved_at = %s, salt = %s, receipt = %s"
                    " WHERE id = %s",
                    (revision, cost, now, salt, entry.hash, ballot_id),
                )
                cursor.execute("DELETE FROM ballot_votes WHERE ballot_id = %s", (ballot_id,))
            if votes:
                rows = ", ".join("(%s, %s, %s)" for _ in votes)
                flat = [value for pid, count in sorted(votes.items()) for value in (ballot_id, pid, count)]
                cursor.execute(f"INSERT INTO ballot_votes (ballot_id, proposal_id, votes) VALUES {rows}", flat)
            cursor.execute("SAVEPOINT append")
            cursor.execute(*pg_append(entry, chain_id, now, circle_id, user_id))
            connection.commit()
    except psycopg.errors.DivisionByZero:
        # Another save of the circle appended first: keep the ballot's writes, append after the head, locked.
        cursor.execute("ROLLBACK TO SAVEPOINT append")
        cursor.execute(PG_LOCK_HEAD, (chain_id,))
        head_seq, head_hash, frontier = cursor.fetchone() or (0, "", "")
        entry = Entry(head_seq, head_hash, frontier, now, circle_id, user_id,
                      ballot_data(round_id, revision, cost, votes, salt))  # fmt: skip
        with connection.pipeline():
            cursor.execute(*pg_append(entry, chain_id, now, circle_id, user_id))
            cursor.execute("UPDATE ballots SET receipt = %s WHERE id = %s", (entry.hash, ballot_id))
            connection.commit()
    return answer(round_id, row[7], votes, cost, revision, now, entry.hash)


# --- SQLite -----------------------------------------------------------------------------------------------------


def sqlite_time(value: datetime) -> str:
    """A timestamp as the app stores it on SQLite (SQLAlchemy's naive UTC text, with microseconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def sqlite_read(proposals: int) -> str:
    marks = ", ".join("?" for _ in range(proposals)) or "NULL"
    return f"""
SELECT t.user_id, t.id, t.last_used_at, r.circle_id,
       (SELECT group_concat(coalesce(mr.role, ''), ',') FROM memberships m
          LEFT JOIN membership_roles mr ON mr.membership_id = m.id
         WHERE m.circle_id = r.circle_id AND m.user_id = t.user_id),
       r.phase, r.method, r.credits, r.allow_negative, r.secret_ballot, r.deliberation_close_at, r.deciding_close_at,
       (SELECT group_concat(p.id, ',') FROM proposals p
         WHERE p.round_id = r.id AND p.status = 'submitted' AND p.id IN ({marks})),
       b.id, b.revision, c.id, c.head_seq, c.head_hash, c.tree_frontier
  FROM api_tokens t
  JOIN rounds r ON r.id = ?
  JOIN ledger_chains c ON c.circle_id = r.circle_id
  LEFT JOIN ballots b ON b.round_id = r.id AND b.user_id = t.user_id
 WHERE t.token_hash = ? AND t.revoked_at IS NULL"""


def sqlite_save(connection: sqlite3.Connection, round_id: int, token_hash: str, votes: dict[int, int]) -> bytes:
    """:raises Refused: for anything but a save (the transaction is rolled back by the caller)."""
    now = datetime.now(UTC)
    now_text = sqlite_time(now)
    cursor = connection.cursor()
    cursor.execute("BEGIN IMMEDIATE")  # the write lock for the whole save, as the app's engine takes it
    row = cursor.execute(sqlite_read(len(votes)), (*votes, round_id, token_hash)).fetchone()
    if row is None:
        raise Refused("401 Unauthorized", "No such API token, or no such round.")
    user_id, token_id, used_at, circle_id = row[0], row[1], row[2], row[3]
    cost = check_save(row, votes, phase_at(row[5], row[10], row[11], now_text))
    ballot_id, revision = row[13], (row[14] or 0) + 1
    chain_id, head_seq, head_hash, frontier = row[15], row[16], row[17], row[18]
    salt = secrets.token_hex(16) if row[9] else None
    entry = Entry(head_seq, head_hash, frontier, now, circle_id, user_id,
                  ballot_data(round_id, revision, cost, votes, salt))  # fmt: skip
    since = sqlite_time(now - TOKEN_USE_NOTED_EVERY)
    if used_at is None or used_at < since:
        cursor.execute("UPDATE api_tokens SET last_used_at = ? WHERE id = ?", (now_text, token_id))
    if ballot_id is not None:
        cursor.execute(
            "UPDATE ballots SET revision = ?, credits_spent = ?, saved_at = ?, salt = ?, receipt = ? WHERE id = ?",
            (revision, cost, now_text, salt, entry.hash, ballot_id),
        )
        cursor.execute("DELETE FROM ballot_votes WHERE ballot_id = ?", (ballot_id,))
    else:
        cursor.execute(
            "INSERT INTO ballots (round_id, user_id, revision, credits_spent, saved_at, salt, receipt)"
            " VALUES (?, ?, 1, ?, ?, ?, ?)",
            (round_id, user_id, cost, now_text, salt, entry.hash),
        )
        ballot_id = cursor.lastrowid
    if votes:
        cursor.executemany("INSERT INTO ballot_votes (ballot_id, proposal_id, votes) VALUES (?, ?, ?)",
                           [(ballot_id, pid, count) for pid, count in sorted(votes.items())])  # fmt: skip
    # The ledger last (the write lock is the database's, held since BEGIN: the head cannot have moved).
    cursor.execute(
        "INSERT INTO ledger_entries (chain_id, seq, at, circle_id, actor_id, action, data, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, 'ballot.cast', ?, ?, ?)",
        (chain_id, entry.seq, now_text, circle_id, user_id, entry.data_text, entry.prev_hash, entry.hash),
    )
    cursor.executemany("INSERT INTO ledger_tree_nodes (chain_id, level, idx, hash) VALUES (?, ?, ?, ?)",
                       [(chain_id, level, index, digest) for level, index, digest in entry.nodes])  # fmt: skip
    cursor.execute("UPDATE ledger_chains SET head_seq = ?, head_hash = ?, tree_frontier = ? WHERE id = ?",
                   (entry.seq, entry.hash, entry.frontier, chain_id))  # fmt: skip
    cursor.execute("COMMIT")
    return answer(round_id, row[7], votes, cost, revision, now, entry.hash)


# --- the WSGI app -----------------------------------------------------------------------------------------------


class Database:
    """One connection per worker process, opened on its first request (after gunicorn's fork)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite:")
        self._pg: psycopg.Connection[Any] | None = None
        self._sqlite: sqlite3.Connection | None = None

    def save(self, round_id: int, token_hash: str, votes: dict[int, int]) -> bytes:
        if self.sqlite:
            if self._sqlite is None:
                self._sqlite = self._open_sqlite()
            try:
                return sqlite_save(self._sqlite, round_id, token_hash, votes)
            except BaseException:
                if self._sqlite.in_transaction:
                    self._sqlite.execute("ROLLBACK")
                raise
        if self._pg is None or self._pg.closed:
            # The SQLAlchemy URL's driver name is not libpq's.
            self._pg = psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://", 1))
        try:
            return pg_save(self._pg, round_id, token_hash, votes)
        except BaseException:
            self._pg.rollback()
            raise

    def ping(self) -> None:
        if self.sqlite:
            if self._sqlite is None:
                self._sqlite = self._open_sqlite()
            self._sqlite.execute("SELECT 1").fetchone()
            return
        if self._pg is None or self._pg.closed:
            self._pg = psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://", 1))
        self._pg.execute("SELECT 1").fetchone()
        self._pg.commit()

    def _open_sqlite(self) -> sqlite3.Connection:
        """The connection as fundcircle.db.configure_sqlite sets up the app's."""
        connection = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
        for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=FULL", "busy_timeout=30000"):
            connection.execute(f"PRAGMA {pragma}")
        return connection


DATABASE = Database(os.environ.get("BENCH_MINIMAL_DATABASE_URL", "sqlite:///bench-minimal.sqlite"))


def respond(start_response: StartResponse, status: str, body: bytes, kind: str = "application/json") -> list[bytes]:
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
    return [body]


def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    """PUT /api/v1/rounds/<id>/ballot (a bearer token's owner saves their ballot), and GET /api/_bench/ping."""
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "GET")
    if path == "/api/_bench/ping":
        DATABASE.ping()
        return respond(start_response, "200 OK", b"ok", "text/plain")
    match = BALLOT_PATH.fullmatch(path)
    if match is None or method != "PUT":
        return respond(start_response, "404 Not Found", b'{"message": "Not found."}')
    scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not token.strip():
            raise Refused("401 Unauthorized", "An API token is needed.")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        votes = read_votes(environ["wsgi.input"].read(length))
        token_hash = hashlib.sha256(token.strip().encode()).hexdigest()
        body = DATABASE.save(int(match.group(1)), token_hash, votes)
    except Refused as refused:
        return respond(start_response, refused.status, json.dumps({"message": refused.message}).encode())
    return respond(start_response, "200 OK", body)
