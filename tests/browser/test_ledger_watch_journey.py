"""Journey: a member's browser keeps the circle's signed ledger checkpoint and checks, on each visit, that the log only
grew from it; after the server's log is rewritten in the database (every hash and the tree recomputed, the old
checkpoints deleted, as whoever controls the server could), the next visit warns."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from playwright.sync_api import expect
from sqlalchemy import delete, select, update

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.chain import GENESIS_HASH, EntryContent, entry_hash_and_leaf
from fundcircle.ledger.merkle import append_leaves, encode_frontier
from fundcircle.ledger.models import LedgerChain, LedgerCheckpoint, LedgerEntry, LedgerTreeNode
from fundcircle.ledger.record import record
from fundcircle.rounds.services import advance_round
from tests.browser.conftest import on_browser_database
from tests.browser.support import Keys
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user

pytestmark = on_browser_database


def _rewrite_history(circle_id: int) -> None:
    """Change the first entry's data and make everything after it agree: chain hashes, tree nodes, frontier."""
    chain = db.session.scalar(select(LedgerChain).where(LedgerChain.circle_id == circle_id))
    assert chain is not None
    entries = db.session.scalars(select(LedgerEntry).where(LedgerEntry.chain_id == chain.id).order_by(LedgerEntry.seq))
    previous, leaves = GENESIS_HASH, []
    for entry in entries:
        data = {**entry.data, "rewritten": True} if entry.seq == 1 else entry.data
        content = EntryContent(entry.seq, entry.at, entry.circle_id, entry.actor_id, entry.action,
                               entry.subject_type, entry.subject_id, data)  # fmt: skip
        new_hash, leaf = entry_hash_and_leaf(previous, content)
        db.session.execute(
            update(LedgerEntry).where(LedgerEntry.id == entry.id).values(data=data, prev_hash=previous, hash=new_hash)
        )
        previous = new_hash
        leaves.append(leaf)
    tree = append_leaves(0, [], leaves)
    db.session.execute(delete(LedgerTreeNode).where(LedgerTreeNode.chain_id == chain.id))
    db.session.execute(delete(LedgerCheckpoint).where(LedgerCheckpoint.chain_id == chain.id))
    db.session.add_all(LedgerTreeNode(chain_id=chain.id, level=lv, index=ix, hash=h.hex()) for lv, ix, h in tree.nodes)
    db.session.execute(
        update(LedgerChain)
        .where(LedgerChain.id == chain.id)
        .values(head_hash=previous, tree_frontier=encode_frontier(tree.frontier))
    )
    db.session.commit()


def test_the_browser_confirms_the_log_grew_and_warns_once_it_was_rewritten(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        circle = make_circle(admin, name="Riverside Learning Circle")
        add_member(circle, make_user(name="Bo Member", email="bo@example.org"), ["member"], by=admin)
        circle_id = circle.id
    story = journey("ledger-watch")
    bo = story.log_in("bo@example.org")
    watch = bo.locator("#ledger-watch")

    bo.goto(f"/circles/{circle_id}")
    expect(watch).to_contain_text("Your browser keeps this ledger's signed checkpoint (3 entries)")
    expect(bo.locator("code.site-key")).to_contain_text("+")
    story.seen(bo, "circle-first-visit")

    with app.app_context():
        for n in range(6):
            record("test.note", actor=None, circle_id=circle_id, data={"n": n})
        db.session.commit()
    bo.goto(f"/circles/{circle_id}")
    expect(watch).to_contain_text("Your browser checked that this ledger extends the one it saw before (3 → 9 entries)")
    expect(watch).to_have_attribute("data-outcome", "consistent")
    story.seen(bo, "circle-consistent", screenshot=True)

    with app.app_context():
        _rewrite_history(circle_id)
        record("test.note", actor=None, circle_id=circle_id, data={"n": "after the rewrite"})
        db.session.commit()
    bo.goto(f"/circles/{circle_id}")
    expect(watch).to_have_attribute("data-outcome", "warning")
    expect(watch).to_contain_text("the server cannot prove that today's ledger (10 entries) extends the one your")
    expect(watch).to_have_attribute("role", "alert")
    story.seen(bo, "circle-rewritten", screenshot=True)
    # The warning stays on the next visit: the browser kept the checkpoint the server cannot prove.
    bo.goto(f"/circles/{circle_id}/ledger")
    expect(watch).to_have_attribute("data-outcome", "warning")
    story.seen(bo, "ledger-rewritten")
    # The site's key and the command lines are on the help page the ledger links to, for the technically minded.
    Keys(bo).follow(bo.get_by_role("link", name="How the ledger is signed and how to check it yourself"))
    story.seen(bo, "ledger-technical")
    expect(bo.locator("main code.site-key")).to_contain_text("+")
    expect(bo.locator("main")).to_contain_text("flask --app fundcircle ledger verify --file ledger.jsonl")


def test_a_member_copies_the_ballot_receipt_and_checks_it_in_the_ledger(app: Flask, journey: Any) -> None:
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        circle = make_circle(admin, name="Riverside Learning Circle")
        bo = make_user(name="Bo Member", email="bo@example.org")
        add_member(circle, bo, ["member", "circle"], by=admin)
        round_ = make_round(circle, admin, title="Spring micro-grants", quorum_percent=0)
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        make_proposal(round_, bo, title="Seed library")
        for phase in ("deliberation", "deciding"):
            advance_round(admin, round_, phase, utcnow())
        db.session.commit()
        round_id = round_.id
    story = journey("receipt")
    page = story.log_in("bo@example.org")
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=story.server.url)
    page.goto(f"/rounds/{round_id}/ballot")
    story.seen(page, "ballot")
    keys = Keys(page)
    keys.space(page.get_by_role("button", name="One vote more: Votes for Seed library"))
    keys.follow(page.get_by_role("button", name="Save my ballot"))
    story.seen(page, "ballot-saved")
    code = page.locator("#receipt-code")
    expect(code).to_have_text(re.compile(r"^[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{2}$"))
    receipt = code.inner_text()
    copy = page.get_by_role("button", name="Copy the receipt")
    expect(copy).to_be_visible()  # shown by copy.js; without it the code is plain text to select
    keys.space(copy)
    expect(page.locator(".copy-status")).to_have_text("Copied.")
    assert page.evaluate("() => navigator.clipboard.readText()") == receipt
    keys.follow(page.get_by_role("link", name="Check that it is in the ledger"))
    story.seen(page, "receipt-checked")
    expect(page.get_by_role("status")).to_contain_text(
        "Found: your ballot is saved in “Spring micro-grants”; it is counted when the round is decided."
    )
    # Typed back by hand, in capitals and with spaces, it is found as well.
    keys.replace(page.get_by_label("Receipt"), receipt.upper().replace("-", " "))
    keys.follow(page.get_by_role("button", name="Check the receipt"))
    story.seen(page, "receipt-typed")
    expect(page.get_by_role("status")).to_contain_text("Found: your ballot is saved in")
