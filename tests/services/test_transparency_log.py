"""The transparency log on the real databases: the tree stored with each append, signed checkpoints, proofs that
read O(log n) rows in a constant number of queries, the API, notices, the daily job, and the standalone verifier
(scripts/verify_ledger.py) catching every kind of tampering given one checkpoint kept from earlier."""

from __future__ import annotations

import importlib.util
import json
import subprocess  # nosec B404 - runs the verifier script as a member would
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from flask import Flask
from sqlalchemy import event, select

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.chain import EntryContent, canonical_json, entry_hash
from fundcircle.ledger.checkpoints import consistency_proof, inclusion_proof, make_due_checkpoints
from fundcircle.ledger.merkle import append_leaves, leaf_hash, root_of_frontier, verify_consistency, verify_inclusion
from fundcircle.ledger.models import LedgerEntry
from fundcircle.ledger.note import checkpoint_body, parse_checkpoint, sign_note, signature_for
from fundcircle.ledger.reading import export_jsonl
from fundcircle.ledger.record import record, record_many
from fundcircle.ledger.signing import checkpoint_circle, latest_checkpoint, site_key
from fundcircle.notices import checkpoint_of, checkpoint_paragraph
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_user

VERIFIER = Path(__file__).resolve().parents[2] / "scripts" / "verify_ledger.py"


def _verifier() -> ModuleType:
    spec = importlib.util.spec_from_file_location("verify_ledger", VERIFIER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["verify_ledger"] = module
    spec.loader.exec_module(module)
    return module


def _circle(entries: int, *, public: bool = False) -> tuple[int, Any]:
    admin = make_user(name="Ana")
    circle = make_circle(admin, public=public)
    record_many("test.note", [(None, {"n": n}) for n in range(entries)], actor=admin, circle_id=circle.id)
    db.session.commit()
    return circle.id, admin


def _leaves(circle_id: int) -> list[bytes]:
    rows = db.session.scalars(select(LedgerEntry).where(LedgerEntry.circle_id == circle_id).order_by(LedgerEntry.seq))
    return [
        leaf_hash(canonical_json(EntryContent(e.seq, e.at, e.circle_id, e.actor_id, e.action, e.subject_type,
                                              e.subject_id, e.data).as_json_object()))
        for e in rows
    ]  # fmt: skip


def test_the_stored_tree_has_the_root_of_the_entries_and_proofs_verify(ctx: Flask) -> None:
    circle_id, admin = _circle(40)
    for n in range(5):  # one at a time too, as most state changes append
        record("test.single", actor=admin, circle_id=circle_id, data={"n": n})
    db.session.commit()
    leaves = _leaves(circle_id)
    root = root_of_frontier(append_leaves(0, [], leaves).frontier)
    checkpoint = checkpoint_circle(circle_id, "asked", utcnow())
    assert checkpoint.size == len(leaves) and checkpoint.root_hash == root.hex()
    for seq in (1, 17, len(leaves)):
        proof = inclusion_proof(circle_id, seq, None)
        assert proof["leaf_hash"] == leaves[seq - 1].hex()
        assert verify_inclusion(seq - 1, len(leaves), leaves[seq - 1], [bytes.fromhex(p) for p in proof["proof"]], root)  # type: ignore[attr-defined]
    older = root_of_frontier(append_leaves(0, [], leaves[:13]).frontier)
    consistency = consistency_proof(circle_id, 13, None)
    assert consistency["from_root"] == older.hex() and consistency["to_root"] == root.hex()
    assert verify_consistency(13, len(leaves), older, root, [bytes.fromhex(p) for p in consistency["proof"]])  # type: ignore[attr-defined]


def test_proofs_take_the_same_few_queries_at_two_sizes(ctx: Flask) -> None:
    engine = db.engine
    counts: list[tuple[int, int]] = []
    for size in (30, 3000):
        circle_id, _ = _circle(size)
        db.session.commit()
        statements: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany, seen=statements):  # noqa: ANN001, ARG001
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            inclusion_proof(circle_id, size // 3, None)
            inclusions = len(statements)
            consistency_proof(circle_id, size // 2 + 1, None)
            consistencies = len(statements) - inclusions
        finally:
            event.remove(engine, "before_cursor_execute", count)
        db.session.rollback()
        counts.append((inclusions, consistencies))
    # The chain, the nodes (one query, O(log n) rows by primary key) and, for inclusion, the entry's own hash (and
    # SQLite's BEGIN): the same at 30 and at 3,000 entries.
    assert counts[0] == counts[1], counts
    assert counts[0][0] <= 4 and counts[0][1] <= 3, counts


def test_a_checkpoint_is_a_signed_note_the_site_key_verifies(ctx: Flask) -> None:
    circle_id, _ = _circle(7)  # and the circle's own two entries
    checkpoint = checkpoint_circle(circle_id, "asked", utcnow())
    db.session.commit()
    parsed = parse_checkpoint(checkpoint.note)
    key = site_key()
    assert parsed.origin == f"localhost/circles/{circle_id}" and parsed.size == 9
    assert parsed.root.hex() == checkpoint.root_hash
    key.private.public_key().verify(signature_for(parsed, key.name, key.public), parsed.body.encode())
    # The same checkpoint again when the log did not grow; a new one when it did.
    assert checkpoint_circle(circle_id, "asked", utcnow()).id == checkpoint.id
    record("test.more", actor=None, circle_id=circle_id)
    assert checkpoint_circle(circle_id, "asked", utcnow()).size == 10


def test_the_daily_job_signs_logs_that_grew_once_a_day(ctx: Flask) -> None:
    circle_id, _ = _circle(3)
    now = utcnow()
    assert make_due_checkpoints(now) >= 1
    assert latest_checkpoint(circle_id).reason == "daily"  # type: ignore[union-attr]
    record("test.more", actor=None, circle_id=circle_id)
    db.session.commit()
    made = make_due_checkpoints(now + timedelta(hours=2))
    assert latest_checkpoint(circle_id).size == 5 and made == 0  # type: ignore[union-attr]
    assert make_due_checkpoints(now + timedelta(days=1, minutes=1)) == 1
    assert latest_checkpoint(circle_id).size == 6  # type: ignore[union-attr]
    assert make_due_checkpoints(now + timedelta(days=3)) == 0  # it did not grow since


def test_notice_mails_carry_the_latest_signed_checkpoint(ctx: Flask) -> None:
    circle_id, _ = _circle(2)
    checkpoint_circle(circle_id, "asked", utcnow())
    db.session.commit()
    mail_checkpoint = checkpoint_of(circle_id)
    assert mail_checkpoint is not None
    paragraph = checkpoint_paragraph(mail_checkpoint)
    assert f"Ledger checkpoint: 4:{mail_checkpoint.head_hash}" in paragraph
    note = paragraph.split("-----BEGIN CHECKPOINT-----\n")[1].split("-----END CHECKPOINT-----")[0]
    assert parse_checkpoint(note).size == 4 and site_key().verifier in paragraph


def test_the_api_serves_checkpoint_and_proofs_and_refuses_bad_sizes_clearly(app: Flask, client: Client) -> None:
    with app.app_context():
        circle_id, _ = _circle(20, public=True)
        private_id, _ = _circle(3)
    base = f"/api/v1/circles/{circle_id}/ledger"
    checkpoint = client.get(f"{base}/checkpoint").get_json()
    assert checkpoint["size"] == 22 and checkpoint["verifier_key"].startswith("localhost+")
    proof = client.get(f"{base}/proof/inclusion?seq=5&size=22").get_json()
    assert proof["root_hash"] == checkpoint["root_hash"] and len(proof["proof"]) == 5
    path = [bytes.fromhex(p) for p in proof["proof"]]
    assert verify_inclusion(4, 22, bytes.fromhex(proof["leaf_hash"]), path, bytes.fromhex(proof["root_hash"]))
    consistency = client.get(f"{base}/proof/consistency?from=6&to=22").get_json()
    assert consistency["to_root"] == checkpoint["root_hash"]
    bad = client.get(f"{base}/proof/inclusion?seq=30&size=22")
    assert bad.status_code == 422 and "no entry 30 in the first 22" in bad.get_json()["error"]["message"]
    too_big = client.get(f"{base}/proof/consistency?from=3&to=99")
    assert too_big.status_code == 422 and "must be 0 to 22" in too_big.get_json()["error"]["message"]
    wrong_order = client.get(f"{base}/proof/consistency?from=9&to=4")
    assert wrong_order.status_code == 422 and "must not be larger" in wrong_order.get_json()["error"]["message"]
    assert client.get(f"/api/v1/circles/{private_id}/ledger/checkpoint").status_code in (401, 404)
    document = client.get("/api/v1/openapi.json").get_json()
    for path in ("checkpoint", "proof/inclusion", "proof/consistency"):
        assert f"/api/v1/circles/{{circle_id}}/ledger/{path}" in document["paths"]


# --- the standalone verifier, given one older checkpoint ------------------------------------------------------------


def _rehash(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recompute seq, prev_hash and hash of every line, as whoever rewrites a history consistently would."""
    previous, out = "0" * 64, []
    for seq, line in enumerate(lines, start=1):
        line = {**line, "seq": seq, "prev_hash": previous}
        content = EntryContent(seq, _at(line["at"]), line["circle"], line["actor"], line["action"],
                               line["subject"]["type"], line["subject"]["id"], line["data"])  # fmt: skip
        line["hash"] = previous = entry_hash(previous, content)
        out.append(line)
    return out


def _at(text: str) -> Any:
    from datetime import UTC, datetime

    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _sign(lines: list[dict[str, Any]], origin: str, private: Ed25519PrivateKey, name: str) -> str:
    leaves = [leaf_hash(canonical_json({k: line[k] for k in ("seq", "at", "circle", "actor", "action", "subject",
                                                              "data")})) for line in lines]  # fmt: skip
    body = checkpoint_body(origin, len(lines), root_of_frontier(append_leaves(0, [], leaves).frontier), utcnow())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return sign_note(body, name, public, private.sign)


def _text(lines: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n" for line in lines]


@pytest.fixture
def published(ctx: Flask) -> dict[str, Any]:
    """A circle's log of 31 entries, the checkpoint a member kept at 20, and the server's current one."""
    circle_id, admin = _circle(18)  # 20 entries with the circle's own two
    kept = checkpoint_circle(circle_id, "asked", utcnow()).note
    for n in range(11):
        record("test.later", actor=admin, circle_id=circle_id, data={"n": n, "text": "café"})
    current = checkpoint_circle(circle_id, "asked", utcnow()).note
    db.session.commit()
    lines = [json.loads(line) for line in export_jsonl(circle_id)]
    key = site_key()
    return {"lines": lines, "kept": kept, "current": current, "key": key, "origin": f"localhost/circles/{circle_id}"}


def test_the_verifier_accepts_the_honest_export_with_its_proofs(published: dict[str, Any]) -> None:
    verifier = _verifier()
    circle_id = published["lines"][0]["circle"]
    inclusion = inclusion_proof(circle_id, 7, 20)
    consistency = consistency_proof(circle_id, 20, 31)
    report = verifier.verify(
        _text(published["lines"]), published["key"].verifier,
        [("kept", published["kept"]), ("current", published["current"])], inclusion, consistency,
    )  # fmt: skip
    assert report.problems == []
    assert any("entry 7 is proved included" in note for note in report.notes)
    assert any("20 entries is proved a prefix of the log of 31" in note for note in report.notes)


def _tampered(kind: str, published: dict[str, Any]) -> tuple[list[dict[str, Any]], list[tuple[str, str]]]:
    lines = [dict(line) for line in published["lines"]]
    kept = [("kept", published["kept"])]
    if kind == "edit":
        lines[4]["data"] = {"n": 999}
        return lines, kept
    if kind == "edit and rehash":
        lines[4]["data"] = {"n": 999}
        return _rehash(lines), kept
    if kind == "delete":
        return _rehash(lines[:5] + lines[6:]), kept
    if kind == "insert":
        return _rehash(lines[:5] + [{**lines[5], "data": {"forged": True}}] + lines[5:]), kept
    if kind == "reorder":
        lines[3], lines[4] = lines[4], lines[3]
        return lines, kept
    if kind == "truncate the tail":
        return lines[:15], kept
    if kind == "rewrite the tail and re-sign with another key":
        lines = _rehash(lines[:20] + [{**line, "data": {"rewritten": True}} for line in lines[20:]])
        other = Ed25519PrivateKey.generate()
        return lines, [*kept, ("re-signed", _sign(lines, published["origin"], other, published["key"].name))]
    if kind == "fork the log for two members":
        fork = _rehash(lines[:12] + [{**line, "data": {"fork": "B"}} for line in lines[12:20]])
        real = published["key"].private
        other_member = ("member B's", _sign(fork, published["origin"], real, published["key"].name))
        # Member A checks the export served to member B (size 20 too) with A's kept checkpoint; B's checkpoint is
        # signed with the real key: the two signed heads of one size are the evidence.
        return fork, [*kept, other_member]
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("kind", "said"),
    [
        ("edit", "does not match its hash (edited)"),
        ("edit and rehash", "history was rewritten"),
        ("delete", "history was rewritten"),
        ("insert", "history was rewritten"),
        ("reorder", "deleted, inserted or reordered"),
        ("truncate the tail", "entries were cut off the end"),
        ("rewrite the tail and re-sign with another key", "not signed by the key"),
        ("fork the log for two members", "the log was forked"),
    ],
)
def test_every_kind_of_tampering_is_caught_given_one_older_checkpoint(
    published: dict[str, Any], kind: str, said: str
) -> None:
    lines, checkpoints = _tampered(kind, published)
    report = _verifier().verify(_text(lines), published["key"].verifier, checkpoints)
    assert any(said in problem for problem in report.problems), report.problems


def test_the_verifier_runs_as_a_script_with_the_standard_library_only(
    published: dict[str, Any], tmp_path: Path
) -> None:
    export = tmp_path / "ledger.jsonl"
    export.write_text("".join(_text(published["lines"])), encoding="utf-8")
    kept = tmp_path / "kept.txt"
    kept.write_text(published["kept"], encoding="utf-8")
    # -I -S: isolated, without site-packages: nothing but the standard library can be imported.
    command = [sys.executable, "-I", "-S", str(VERIFIER), str(export), "--key", published["key"].verifier,
               "--checkpoint", str(kept)]  # fmt: skip
    honest = subprocess.run(command, capture_output=True, text=True, check=False)  # nosec B603
    assert honest.returncode == 0, honest.stderr
    assert "the export extends it (20 entries)" in honest.stdout
    export.write_text("".join(_text(published["lines"][:10])), encoding="utf-8")
    cut = subprocess.run(command, capture_output=True, text=True, check=False)  # nosec B603
    assert cut.returncode == 1 and "cut off the end" in cut.stderr


def test_the_verifiers_ed25519_agrees_with_cryptography() -> None:
    verifier = _verifier()
    for n in range(20):
        private = Ed25519PrivateKey.generate()
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        message = f"checkpoint {n}\n".encode() * n
        signature = private.sign(message)
        assert verifier.ed25519_verify(public, message, signature)
        assert not verifier.ed25519_verify(public, message + b"x", signature)
        assert not verifier.ed25519_verify(public, message, signature[:-1] + bytes([signature[-1] ^ 1]))


def test_a_ballot_receipt_and_a_payout_have_an_inclusion_proof_against_a_signed_checkpoint(
    app: Flask, client: Client
) -> None:
    from fundcircle.payouts.models import Payout
    from tests.factories import make_funded_round

    with app.app_context():
        admin = make_user(name="Ana")
        voter = make_user(name="Bo")
        circle = make_circle(admin)
        add_member(circle, voter, ["circle"], by=admin)
        make_funded_round(circle, admin, voter, [{"author": admin}], title="Paid")
        circle_id = circle.id
        # Deciding the result signed a checkpoint of the log that holds the ballot and the result.
        result_checkpoint = latest_checkpoint(circle_id)
        assert result_checkpoint is not None and result_checkpoint.reason == "result"
        ballot = db.session.scalar(
            select(LedgerEntry).where(LedgerEntry.circle_id == circle_id, LedgerEntry.action == "ballot.cast")
        )
        payout_created = db.session.scalar(
            select(LedgerEntry).where(LedgerEntry.circle_id == circle_id, LedgerEntry.action == "payout.created")
        )
        assert ballot is not None and payout_created is not None
        assert db.session.scalars(select(Payout)).first() is not None
        key = site_key()
        note = parse_checkpoint(result_checkpoint.note)
        key.private.public_key().verify(signature_for(note, key.name, key.public), note.body.encode())
        for entry in (ballot, payout_created):
            proof = inclusion_proof(circle_id, entry.seq, result_checkpoint.size)
            assert proof["entry_hash"] == entry.hash and proof["root_hash"] == note.root.hex()
            path = [bytes.fromhex(p) for p in proof["proof"]]  # type: ignore[attr-defined]
            assert verify_inclusion(entry.seq - 1, note.size, bytes.fromhex(str(proof["leaf_hash"])), path, note.root)
        ballot_seq, email = ballot.seq, admin.email
    client.login(email)
    page = client.get(f"/circles/{circle_id}/ledger/proof?seq={ballot_seq}").get_data(as_text=True)
    assert "Proof that entry #" in page and "BEGIN" not in page and "— localhost " in page
    assert client.get(f"/circles/{circle_id}/ledger/proof?seq=9999").status_code == 404
    bundle = client.get(f"/circles/{circle_id}/ledger-bundle.zip")
    import io
    import zipfile

    names = zipfile.ZipFile(io.BytesIO(bundle.data)).namelist()
    assert {"ledger.jsonl", "checkpoint.txt", "site-key.txt", "verify_ledger.py", "README.txt"} <= set(names)


def test_an_admin_names_a_witness_which_receives_each_checkpoint(app: Flask, client: Client) -> None:
    import threading
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    received: list[bytes] = []

    def witness_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        received.append(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        start_response("204 No Content", [])
        return []

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = make_server("127.0.0.1", 0, witness_app, handler_class=Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with app.app_context():
            circle_id, admin = _circle(3)
            email = admin.email
        client.login(email)
        token = client.csrf_token()
        refused = client.post(
            f"/circles/{circle_id}/ledger/witness", data={"witness": "not a place", "csrf_token": token}
        )
        assert refused.status_code == 302
        page = client.get(f"/circles/{circle_id}/ledger").get_data(as_text=True)
        assert "Give an e-mail address (name@example.org) or an address starting with https://." in page
        url = f"http://127.0.0.1:{server.server_port}/checkpoints"
        client.post(f"/circles/{circle_id}/ledger/witness", data={"witness": url, "csrf_token": token})
        with app.app_context():
            assert make_due_checkpoints(utcnow()) >= 1
            entry = db.session.scalar(
                select(LedgerEntry).where(
                    LedgerEntry.circle_id == circle_id, LedgerEntry.action == "circle.witness_set"
                )
            )
            assert entry is not None and entry.data == {"from": None, "to": url}
        assert len(received) == 1 and parse_checkpoint(received[0].decode()).size == 6
    finally:
        server.shutdown()
        server.server_close()


def test_the_checkpoint_command_signs_due_logs_and_prints_the_site_key(app: Flask) -> None:
    with app.app_context():
        circle_id, _ = _circle(4)
        verifier = site_key().verifier
    result = app.test_cli_runner().invoke(args=["ledger", "checkpoint"])
    assert result.exit_code == 0, result.output
    # The circle's log and the site's (the accounts made above are in it).
    assert "2 checkpoint(s) made." in result.output and verifier in result.output
    with app.app_context():
        assert latest_checkpoint(circle_id).size == 6  # type: ignore[union-attr]
    again = app.test_cli_runner().invoke(args=["ledger", "checkpoint"])
    assert "0 checkpoint(s) made." in again.output
