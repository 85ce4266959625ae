"""Checkpoints leave the server by themselves: every page about a circle and every notice e-mail carry the circle's
latest ledger checkpoint (a mail folds it into its last paragraph, with a link to the help page and no command
line), and `ledger verify --checkpoint` with the one a member kept catches a history recomputed after an edit and
entries cut off the end, which the chain alone cannot."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from email.message import Message
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.chain import GENESIS_HASH, StoredEntry, entry_hash
from fundcircle.ledger.models import LedgerChain
from fundcircle.ledger.reading import stored_entries
from fundcircle.rounds.services import advance_round
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_token, make_user
from tests.smtp import Inbox, body_of, running_smtp

CHECKPOINT = re.compile(r"Ledger checkpoint[^:]*: (?:<code>)?(\d+):([0-9a-f]{64})")


@dataclass
class World:
    circle_id: int
    slug: str
    chain_id: int
    round_id: int
    proposal_id: int
    admin_email: str
    admin_token: str
    decider_email: str


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with running_smtp() as server:
        yield server


@pytest.fixture
def mail_app(make_app: Any, smtp: tuple[int, Inbox]) -> Flask:
    app: Flask = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp[0], BASE_URL="https://fund.example.org")
    return app


def _world(app: Flask) -> World:
    with app.app_context():
        admin = make_user(name="Ana Admin")
        circle = make_circle(admin)
        decider = make_user(name="Dana Decider")
        add_member(circle, decider, ["member", "circle"], by=admin)
        round_ = make_round(circle, admin, categories=[])
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        proposal = make_proposal(round_, decider, category=None)
        chain_id = db.session.scalar(sa.select(LedgerChain.id).where(LedgerChain.circle_id == circle.id))
        assert chain_id is not None
        return World(circle.id, circle.slug, chain_id, round_.id, proposal.id, admin.email, make_token(admin),
                     decider.email)  # fmt: skip


def _head(app: Flask, world: World) -> tuple[int, str]:
    with app.app_context():
        chain = db.session.get(LedgerChain, world.chain_id)
        assert chain is not None
        return chain.head_seq, chain.head_hash


def _checkpoint_in(text: str) -> tuple[int, str]:
    match = CHECKPOINT.search(text)
    assert match, "no ledger checkpoint in:\n" + text[-2000:]
    return int(match.group(1)), match.group(2)


def _html_of(message: Message) -> str:
    """The HTML part of a notice."""
    html = message.get_body(preferencelist=("html",))  # type: ignore[attr-defined]
    assert html is not None, "the message has no HTML part"
    payload = html.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def _verify(app: Flask, *args: str) -> Any:
    return app.test_cli_runner().invoke(args=["ledger", "verify", *args])


def _entries(app: Flask, world: World) -> list[StoredEntry]:
    with app.app_context():
        entries = list(stored_entries(world.chain_id))
        db.session.rollback()
        return entries


def _recompute_after_editing(app: Flask, world: World, seq: int, data: dict[str, Any]) -> None:
    """Edit entry `seq`'s data and recompute every hash after it and the head: a forgery the chain cannot show."""
    entries = _entries(app, world)
    entries[seq - 1] = replace(entries[seq - 1], content=replace(entries[seq - 1].content, data=data))
    head = entries[seq - 2].hash if seq > 1 else GENESIS_HASH
    rewrite = sa.text(
        "UPDATE ledger_entries SET data = :data, prev_hash = :prev, hash = :hash WHERE chain_id = :c AND seq = :seq"
    ).bindparams(sa.bindparam("data", type_=sa.JSON()))
    with app.app_context(), db.engine.begin() as connection:
        for entry in entries[seq - 1 :]:
            new_hash = entry_hash(head, entry.content)
            connection.execute(rewrite, {"data": dict(entry.content.data), "prev": head, "hash": new_hash,
                                         "c": world.chain_id, "seq": entry.content.seq})  # fmt: skip
            head = new_hash
        connection.execute(sa.text("UPDATE ledger_chains SET head_hash = :h WHERE id = :c"),
                           {"h": head, "c": world.chain_id})  # fmt: skip


def _drop_last(app: Flask, world: World, count: int) -> None:
    """Delete the last `count` entries and move the head back to the entry before them: the chain still verifies."""
    entries = _entries(app, world)
    keep = entries[-count - 1]
    with app.app_context(), db.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM ledger_entries WHERE chain_id = :c AND seq > :s"),
                           {"c": world.chain_id, "s": keep.content.seq})  # fmt: skip
        connection.execute(sa.text("UPDATE ledger_chains SET head_seq = :n, head_hash = :h WHERE id = :c"),
                           {"n": keep.content.seq, "h": keep.hash, "c": world.chain_id})  # fmt: skip


def test_every_page_about_a_circle_shows_its_latest_checkpoint(app: Flask, client: Client) -> None:
    world = _world(app)
    client.login(world.decider_email)
    head = _head(app, world)
    for url in (f"/circles/{world.circle_id}", f"/rounds/{world.round_id}", f"/proposals/{world.proposal_id}",
                f"/circles/{world.circle_id}/ledger"):  # fmt: skip
        page = client.get(url)
        assert page.status_code == 200, url
        text = page.get_data(as_text=True)
        assert _checkpoint_in(text) == head, url
        # Members read no command line; the checkpoint links to the help page, which gives the command for it.
        assert "flask --app" not in text, url
        help_url = f"/circles/{world.circle_id}/ledger/technical?seq={head[0]}"
        assert f'href="{help_url}"' in text, url
    help_page = client.get(help_url).get_data(as_text=True)
    assert f"ledger verify --circle {world.slug} --checkpoint {head[0]}:{head[1]}" in help_page
    # A page about no circle shows none.
    assert CHECKPOINT.search(client.get("/profile").get_data(as_text=True)) is None


def test_a_notice_mail_carries_the_checkpoint_that_includes_the_change_it_tells_about(
    mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    world = _world(mail_app)
    client: Client = mail_app.test_client()  # type: ignore[assignment]
    moved = client.json_call("POST", f"/api/v1/rounds/{world.round_id}/advance", {"to": "deliberation"},
                             token=world.admin_token)  # fmt: skip
    assert moved.status_code == 200, moved.get_json()
    # The world's own phase change (to proposals) was told too, by the same delivery: this is the mail of the move.
    (mail,) = [m for m in smtp[1].to(world.decider_email) if "deliberation" in str(m["Subject"]).lower()]
    body, html = body_of(mail), _html_of(mail)
    head = _head(mail_app, world)
    assert _checkpoint_in(body) == head  # the phase change's own entry is in it
    assert _checkpoint_in(html) == head  # and the HTML part holds the same
    # Members read no command line: the checkpoint is the mail's last paragraph, for the technically minded, with an
    # absolute link (under BASE_URL) to the help page for that entry, which gives the command.
    help_url = f"https://fund.example.org/circles/{world.circle_id}/ledger/technical?seq={head[0]}"
    for part in (body, html):
        assert "flask" not in part and "ledger verify" not in part and "--checkpoint" not in part
        last = part[part.rindex("For the technically minded") :]
        assert "Ledger checkpoint" in last and help_url in last
        assert part.index("All your notice settings") < part.index("For the technically minded")  # last of all
    assert f'href="{help_url}"' in html
    # The link leads a member of the circle to the command for that very checkpoint.
    client.login(world.decider_email)
    help_page = client.get(help_url.removeprefix("https://fund.example.org")).get_data(as_text=True)
    assert f"ledger verify --circle {world.slug} --checkpoint {head[0]}:{head[1]}" in help_page


def test_the_kept_checkpoint_catches_a_recomputed_history_that_the_chain_alone_cannot(
    mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    world = _world(mail_app)
    client: Client = mail_app.test_client()  # type: ignore[assignment]
    client.json_call("POST", f"/api/v1/rounds/{world.round_id}/advance", {"to": "deliberation"},
                     token=world.admin_token)  # fmt: skip
    (mail,) = [m for m in smtp[1].to(world.decider_email) if "deliberation" in str(m["Subject"]).lower()]
    count, digest = _checkpoint_in(body_of(mail))
    assert _checkpoint_in(_html_of(mail)) == (count, digest)  # whichever part a member keeps
    round_created = next(e for e in _entries(mail_app, world) if e.content.action == "round.created")

    _recompute_after_editing(mail_app, world, round_created.content.seq,
                             {**round_created.content.data, "budget_minor": 900_000})  # fmt: skip

    plain = _verify(mail_app, "--circle", world.slug)
    assert plain.exit_code == 0  # the chain alone cannot tell
    assert "no checkpoint was given" in plain.output and "recomputed" in plain.output
    kept = _verify(mail_app, "--circle", world.slug, "--checkpoint", f"{count}:{digest}")
    assert kept.exit_code == 1
    assert f"entry {count} does not verify: the chain no longer passes through the checkpoint" in kept.output


def test_the_checkpoint_on_a_kept_page_catches_entries_cut_off_the_end(app: Flask, client: Client) -> None:
    world = _world(app)
    client.login(world.decider_email)
    count, digest = _checkpoint_in(client.get(f"/circles/{world.circle_id}").get_data(as_text=True))

    _drop_last(app, world, 2)

    assert _verify(app, "--circle", world.slug).exit_code == 0  # the head was moved back with them
    kept = _verify(app, "--circle", world.slug, "--checkpoint", f"{count}:{digest}")
    assert kept.exit_code == 1
    assert f"fewer than the checkpoint's {count}" in kept.output


def test_entries_after_the_checkpoint_are_said_to_be_checked_only_against_the_chain(app: Flask, client: Client) -> None:
    world = _world(app)
    client.login(world.decider_email)
    count, digest = _checkpoint_in(client.get(f"/circles/{world.circle_id}").get_data(as_text=True))
    client.json_call("POST", f"/api/v1/rounds/{world.round_id}/advance", {"to": "deliberation"},
                     token=world.admin_token)  # fmt: skip

    result = _verify(app, "--circle", world.slug, "--checkpoint", f"{count}:{digest}")

    assert result.exit_code == 0
    assert f"entries up to {count} are checked against the checkpoint; the 1 after it" in result.output
