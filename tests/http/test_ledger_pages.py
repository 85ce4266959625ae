"""The ledger as people use it: the page, its filters and pages, exports, verification and checkpoints."""

from __future__ import annotations

import json
from pathlib import Path

from flask import Flask
from sqlalchemy import event, text

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.record import record
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_token, make_user


def _circle_with_history(app: Flask, *, public: bool = False, extra: int = 0) -> tuple[int, str, str, str]:
    with app.app_context():
        admin = make_user(name="Ana")
        circle = make_circle(admin, public=public, slug="seeds" if public else "private-seeds")
        member = make_user(name="Bo")
        add_member(circle, member, ["member"], by=admin)
        round_ = make_round(circle, admin)
        from fundcircle.rounds.services import advance_round

        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        make_proposal(round_, member, title="Seed library")
        for number in range(extra):
            record("test.note", actor=admin, circle_id=circle.id, data={"n": number})
        db.session.commit()
        return circle.id, circle.slug, admin.email, member.email


def test_the_ledger_page_tells_each_entry_in_words_newest_first(app: Flask, client: Client) -> None:
    circle_id, _, admin_email, _ = _circle_with_history(app)
    client.login(admin_email)
    page = client.get(f"/circles/{circle_id}/ledger").get_data(as_text=True)
    assert page.index("Bo submitted “Seed library”") < page.index("Ana created the circle")
    assert "Ana added Bo as member" in page and "hash <code>" in page
    only = client.get(f"/circles/{circle_id}/ledger?action=proposal.created").get_data(as_text=True)
    assert "Bo wrote “Seed library” asking 250.00 EUR" in only and "created the circle" not in only


def test_a_receipt_is_found_by_its_hash(app: Flask, client: Client) -> None:
    circle_id, _, admin_email, _ = _circle_with_history(app)
    client.login(admin_email)
    entries = client.json_call("GET", f"/api/v1/circles/{circle_id}/ledger", csrf=False).get_json()["items"]
    receipt = entries[2]["hash"]
    page = client.get(f"/circles/{circle_id}/ledger?hash={receipt}").get_data(as_text=True)
    assert page.count('<li id="entry-') == 1 and receipt in page


def test_ledger_pages_are_keyset_paginated_and_their_queries_do_not_grow(app: Flask, client: Client) -> None:
    circle_id, _, admin_email, _ = _circle_with_history(app, extra=130)
    client.login(admin_email)
    counts = []
    with app.app_context():
        engine = db.engine
    for size in (10, 100):
        statements: list[str] = []

        def count(conn, cursor, statement, parameters, context, executemany, seen=statements):  # noqa: ANN001, ARG001
            seen.append(statement)

        event.listen(engine, "before_cursor_execute", count)
        try:
            response = client.json_call("GET", f"/api/v1/circles/{circle_id}/ledger?limit={size}")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert len(response.get_json().get("items", [])) == size, response.get_json()
        counts.append(len(statements))
    assert counts[0] == counts[1], counts
    first = client.json_call("GET", f"/api/v1/circles/{circle_id}/ledger?limit=50").get_json()
    second = client.json_call(
        "GET", f"/api/v1/circles/{circle_id}/ledger?limit=50&after={first['next_after']}"
    ).get_json()
    seqs = [e["seq"] for e in first["items"] + second["items"]]
    assert seqs == list(range(1, 101))
    page = client.get(f"/circles/{circle_id}/ledger").get_data(as_text=True)
    assert "Older entries" in page


def test_a_private_ledger_is_for_members_and_a_public_one_for_everyone(app: Flask) -> None:
    private_id, _, _, _ = _circle_with_history(app)
    public_id, _, _, _ = _circle_with_history(app, public=True)
    visitor: Client = app.test_client()  # type: ignore[assignment]
    assert visitor.get(f"/circles/{public_id}/ledger").status_code == 200
    assert visitor.get(f"/circles/{public_id}/ledger.jsonl").status_code == 200
    assert visitor.get(f"/circles/{private_id}/ledger").status_code == 302
    with app.app_context():
        outsider = make_token(make_user())
    assert visitor.json_call("GET", f"/api/v1/circles/{private_id}/ledger", token=outsider).status_code == 404
    assert visitor.json_call("GET", f"/api/v1/circles/{public_id}/ledger", token=outsider).status_code == 200


def test_an_export_round_trips_through_verify_file_and_a_tampered_copy_is_caught(
    app: Flask, client: Client, tmp_path: Path
) -> None:
    circle_id, slug, admin_email, _ = _circle_with_history(app)
    client.login(admin_email)
    export = client.get(f"/circles/{circle_id}/ledger.jsonl").get_data(as_text=True)
    lines = export.splitlines()
    assert len(lines) >= 6 and all(json.loads(line)["circle"] == circle_id for line in lines)
    good = tmp_path / "ledger.jsonl"
    good.write_text(export, encoding="utf-8")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["ledger", "verify", "--file", str(good)])
    assert result.exit_code == 0 and f"{len(lines)} entries" in result.output
    head = json.loads(lines[-1])["hash"]
    assert (
        runner.invoke(args=["ledger", "verify", "--file", str(good), "--checkpoint", f"{len(lines)}:{head}"]).exit_code
        == 0
    )

    tampered = [json.loads(line) for line in lines]
    tampered[2]["data"]["roles"] = ["admin"]
    bad = tmp_path / "tampered.jsonl"
    bad.write_text("\n".join(json.dumps(entry) for entry in tampered) + "\n", encoding="utf-8")
    caught = runner.invoke(args=["ledger", "verify", "--file", str(bad)])
    assert caught.exit_code == 1 and "entry 3 does not verify" in caught.output

    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text(lines[0] + "\nnot json\n", encoding="utf-8")
    broken = runner.invoke(args=["ledger", "verify", "--file", str(garbage)])
    assert broken.exit_code != 0 and "line 2 is not a ledger entry" in broken.output

    cli_export = runner.invoke(args=["ledger", "export", "--circle", slug])
    assert cli_export.output == export
    csv_text = client.get(f"/circles/{circle_id}/ledger.csv").get_data(as_text=True)
    assert csv_text.startswith("seq,at,actor_id,action") and "Bo submitted “Seed library”" in csv_text


def test_a_rewritten_history_contradicts_a_published_checkpoint(app: Flask, client: Client, tmp_path: Path) -> None:
    circle_id, slug, admin_email, _ = _circle_with_history(app)
    client.login(admin_email)
    report = client.json_call("GET", f"/api/v1/ledger/verify?circle_id={circle_id}").get_json()
    assert report["ok"] and report["head"] and report["count"] >= 6
    checkpoint = f"{report['count']}:{report['head']}"
    page = client.get(f"/circles/{circle_id}/ledger/verify").get_data(as_text=True)
    assert "The chain verifies." in page and report["head"] in page
    with app.app_context():
        db.session.execute(text("UPDATE ledger_entries SET data = :d WHERE circle_id = :c AND seq = 2"),
                           {"d": json.dumps({"forged": True}), "c": circle_id})  # fmt: skip
        db.session.commit()
    broken = client.json_call("GET", f"/api/v1/ledger/verify?circle_id={circle_id}").get_json()
    assert broken["ok"] is False and broken["chains"][0]["bad_seq"] == 2
    assert "does not verify" in client.get(f"/circles/{circle_id}/ledger/verify").get_data(as_text=True)
    result = app.test_cli_runner().invoke(args=["ledger", "verify", "--circle", slug, "--checkpoint", checkpoint])
    assert result.exit_code == 1


def test_verifying_everything_covers_only_chains_the_caller_may_see(app: Flask, client: Client) -> None:
    _circle_with_history(app)
    public_id, _, _, _ = _circle_with_history(app, public=True)
    with app.app_context():
        outsider = make_token(make_user())
    report = client.json_call("GET", "/api/v1/ledger/verify", token=outsider).get_json()
    assert report["ok"] and [chain["circle_id"] for chain in report["chains"]] == [public_id]
    assert client.json_call("GET", "/api/v1/ledger/verify").status_code == 401


def test_the_api_description_is_readable_as_a_page(client: Client) -> None:
    page = client.get("/api/docs").get_data(as_text=True)
    assert "GET /api/v1/circles/{circle_id}/ledger" in page and "PUT /api/v1/rounds/{round_id}/ballot" in page
    assert "<script" not in page
