"""Input nobody types but anybody can send: each gets a 400, 413 or 422 in the one error shape (or the form's
message), quickly, and changes nothing; and work after a commit never turns a stored change into an error."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select, update

from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.proposals.models import Proposal
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting.models import Ballot
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_token, make_user
from tests.smtp import Inbox, running_smtp

API = "/api/v1"
PROPOSAL = {
    "title": "Seed library",
    "summary": "A shelf of seeds anyone can borrow.",
    "body": "We will build a **seed library**.",
    "amount_minor": 25_000,
    "category": "Tools",
    "payee": {"slug": "seed-library"},
}


@dataclass
class World:
    circle_id: int
    round_id: int
    proposal_id: int
    admin_email: str
    admin: str
    author: str
    decider: str
    emails: dict[str, str]


def _build(app: Flask, *, phase: str = "proposals", method: str = "quadratic") -> World:
    with app.app_context():
        admin = make_user(name="Ana", superuser=True)
        circle = make_circle(admin)
        author, decider, other = make_user(name="Ada"), make_user(name="Bo"), make_user(name="Cy")
        add_member(circle, author, ["member"], by=admin)
        add_member(circle, decider, ["member", "circle"], by=admin)
        add_member(circle, other, ["member", "circle"], by=admin)
        round_ = make_round(circle, admin, method=method)
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        proposal = make_proposal(round_, author)
        for step in ("deliberation", "deciding")[: ("proposals", "deliberation", "deciding").index(phase)]:
            advance_round(admin, round_, step, utcnow())
        db.session.commit()
        return World(
            circle.id,
            round_.id,
            proposal.id,
            admin.email,
            make_token(admin),
            make_token(author),
            make_token(decider),
            {"admin": admin.email, "author": author.email, "decider": decider.email, "other": other.email},
        )


@pytest.fixture
def world(app: Flask) -> World:
    return _build(app)


def _counts(app: Flask) -> tuple[int, int, int, int]:
    with app.app_context():
        return (
            db.session.scalar(select(func.count()).select_from(LedgerEntry)) or 0,
            db.session.scalar(select(func.count()).select_from(Proposal)) or 0,
            db.session.scalar(select(func.count()).select_from(Ballot)) or 0,
            db.session.scalar(select(func.count()).select_from(Round)) or 0,
        )


def _error(response: Any) -> dict[str, Any]:
    body = response.get_json()
    assert body is not None and "error" in body, response.get_data(as_text=True)[:300]
    error: dict[str, Any] = body["error"]
    assert isinstance(error.get("message"), str) and error["message"]
    return error


# -- NUL characters -------------------------------------------------------------------------------------------------


def test_nul_in_a_query_string_is_refused(client: Client, world: World, app: Flask) -> None:
    before = _counts(app)
    for url in (
        f"{API}/rounds/{world.round_id}/proposals?category=a%00b",
        f"{API}/rounds/{world.round_id}/proposals?%00=1",
    ):
        response = client.json_call("GET", url, token=world.author)
        assert response.status_code == 400, url
        assert "NUL" in _error(response)["message"]
    page = client.get("/login?next=%00")
    assert page.status_code == 400 and "NUL" in page.get_data(as_text=True)
    assert _counts(app) == before


def test_nul_in_a_form_field_is_refused(client: Client, world: World, app: Flask) -> None:
    before = _counts(app)
    client.login(world.admin_email)
    response = client.post_form(f"/circles/{world.circle_id}/rounds/new", {"title": "Spring\x00", "budget": "100"})
    assert response.status_code == 400 and "NUL" in response.get_data(as_text=True)
    encoded = client.post(
        f"/circles/{world.circle_id}/rounds/new",
        data=f"csrf_token={client.csrf_token()}&title=Spring%00round",
        content_type="application/x-www-form-urlencoded",
    )
    assert encoded.status_code == 400 and "NUL" in encoded.get_data(as_text=True)
    assert _counts(app) == before


def test_a_multipart_part_without_a_field_name_is_refused(client: Client, world: World, app: Flask) -> None:
    """Werkzeug parses such a part under the name None, which no form or view expects (found by the fuzzer as a 500
    from an upload without a token)."""
    before = _counts(app)
    body = (
        b"--bb\r\nContent-Disposition: form-data\r\n\r\n{}\r\n"
        b'--bb\r\nContent-Disposition: form-data; filename="plan.txt"\r\n\r\nour plan\r\n--bb--\r\n'
    )
    multipart = "multipart/form-data; boundary=bb"
    for token in (None, world.author):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = client.post(
            f"{API}/attachments/proposal/{world.proposal_id}", data=body, content_type=multipart, headers=headers
        )
        assert response.status_code == 400, response.get_data(as_text=True)[:300]
        assert "field name" in _error(response)["message"]
    client.login(world.emails["author"])
    page = client.post(f"/proposals/{world.proposal_id}/edit", data=body, content_type=multipart)
    assert page.status_code == 400 and "field name" in page.get_data(as_text=True)
    assert _counts(app) == before


def test_nul_in_a_path_segment_is_refused(client: Client, world: World) -> None:
    for url in ("/invitations/abc%00def", f"{API}/invitations/abc%00def/accept"):
        response = client.get(url) if not url.endswith("accept") else client.json_call("POST", url, token=world.author)
        assert response.status_code == 400, url


def test_nul_in_a_header_is_refused(client: Client, world: World, app: Flask) -> None:
    before = _counts(app)
    response = client.get(f"{API}/me", headers={"Authorization": f"Bearer {world.author}\x00x"})
    assert response.status_code == 400 and "NUL" in _error(response)["message"]
    other = client.get("/", headers={"X-Anything": "a\x00b"})
    assert other.status_code == 400
    assert _counts(app) == before


# -- JSON that costs more than it says ---------------------------------------------------------------------------


def test_a_json_integer_of_thousands_of_digits_is_refused(client: Client, world: World, app: Flask) -> None:
    before = _counts(app)
    url = f"{API}/rounds/{world.round_id}/proposals"
    for digits in (400, 5000, 50_000):
        body = '{"title": "Seed", "summary": "s", "body": "b", "category": "Tools", "payee": {"slug": "s"}, ' + (
            f'"amount_minor": {"9" * digits}}}'
        )
        response = client.open(
            url, method="POST", data=body, content_type="application/json",
            headers={"Authorization": f"Bearer {world.author}"},
        )  # fmt: skip
        assert response.status_code in (400, 422), digits
        _error(response)
    assert _counts(app) == before


def test_json_nested_a_thousand_levels_deep_is_refused(client: Client, world: World, app: Flask) -> None:
    before = _counts(app)
    url = f"{API}/rounds/{world.round_id}/proposals"
    for depth in (1000, 100_000):
        body = '{"title": ' + "[" * depth + "]" * depth + "}"
        response = client.open(
            url, method="POST", data=body, content_type="application/json",
            headers={"Authorization": f"Bearer {world.author}"},
        )  # fmt: skip
        assert response.status_code == 400, depth
        assert "nested" in _error(response)["message"]
    assert _counts(app) == before


def test_a_ballot_with_seventy_thousand_keys_is_refused_before_any_work(app: Flask) -> None:
    world = _build(app, phase="deciding")
    client: Client = app.test_client()  # type: ignore[assignment]
    before = _counts(app)
    votes = {str(number): 0 for number in range(1, 70_001)}
    started = time.monotonic()
    response = client.json_call("PUT", f"{API}/rounds/{world.round_id}/ballot", {"votes": votes}, token=world.decider)
    elapsed = time.monotonic() - started
    assert response.status_code in (413, 422), response.status_code
    assert "votes" in _error(response).get("fields", {}) or "proposals" in _error(response)["message"]
    assert elapsed < 3, f"refusing took {elapsed:.1f} s"
    assert _counts(app) == before
    # A real ballot still goes through.
    fine = {"votes": {str(world.proposal_id): 3}}
    saved = client.json_call("PUT", f"{API}/rounds/{world.round_id}/ballot", fine, token=world.decider)
    assert saved.status_code == 200, saved.get_json()


# -- single-line fields ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("title", ["Seed\nlibrary", "Seed\rlibrary", "Seed\tlibrary", "Seed\x1blibrary", "Seed\u2028x"])
def test_a_title_with_a_control_character_is_refused(client: Client, world: World, app: Flask, title: str) -> None:
    before = _counts(app)
    url = f"{API}/rounds/{world.round_id}/proposals"
    proposal = client.json_call("POST", url, {**PROPOSAL, "title": title}, token=world.author)
    assert proposal.status_code == 422 and "title" in _error(proposal)["fields"]
    round_url = f"{API}/rounds/{world.round_id}"
    renamed = client.json_call("PATCH", round_url, {"title": title}, token=world.admin)
    assert renamed.status_code == 422 and "title" in _error(renamed)["fields"]
    circle = client.json_call("POST", f"{API}/circles", {"name": title, "slug": "x-circle", "currency": "EUR"},
                              token=world.admin)  # fmt: skip
    assert circle.status_code == 422 and "name" in _error(circle)["fields"]
    payee = {"name": title, "email": "ann@example.org"}
    invited = client.json_call("POST", url, {**PROPOSAL, "payee": payee}, token=world.author)
    assert invited.status_code == 422 and "payee" in _error(invited)["fields"]
    assert _counts(app) == before


def test_the_proposal_form_refuses_a_newline_title_with_its_message(client: Client, world: World) -> None:
    client.login(world.emails["author"])
    page = client.post_form(
        f"/rounds/{world.round_id}/proposals/new",
        {"title": "Seed\nlibrary", "summary": "s", "body": "b", "amount": "10", "category": "Tools",
         "payee_slug": "seed-library"},
    )  # fmt: skip
    assert page.status_code == 422 and 'id="title-error"' in page.get_data(as_text=True)


# -- after the commit ------------------------------------------------------------------------------------------------


class PickyInbox(Inbox):
    """Refuses mail for one address, as a real server does for a mailbox that is full or gone."""

    refused = "bo@example.org"

    async def handle_RCPT(  # noqa: N802 - aiosmtpd's name
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address == self.refused:
            return "550 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"


@pytest.fixture
def picky_smtp() -> Iterator[tuple[int, PickyInbox]]:
    with running_smtp(PickyInbox()) as server:
        yield server


def _phase_change_world(app: Flask) -> tuple[World, str]:
    world = _build(app)
    with app.app_context():
        from fundcircle.auth.models import User

        bo = db.session.scalars(select(User).where(User.email == world.emails["decider"])).one()
        bo.email = PickyInbox.refused
        db.session.commit()
    return world, PickyInbox.refused


def test_a_notice_that_fails_after_the_commit_leaves_the_request_successful_and_is_retried(
    make_app: Any, picky_smtp: tuple[int, PickyInbox]
) -> None:
    port, inbox = picky_smtp
    mail_app: Flask = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    world, refused = _phase_change_world(mail_app)
    client: Client = mail_app.test_client()  # type: ignore[assignment]
    response = client.json_call("POST", f"{API}/rounds/{world.round_id}/advance", {"to": "deliberation"},
                                token=world.admin)  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)
    with mail_app.app_context():
        assert db.session.get(Round, world.round_id).phase == "deliberation"  # type: ignore[union-attr]
    # The others were told; the refused one waits in the outbox, with a backoff, and is sent by the retry command
    # (or the worker's next try) once the mailbox works again.
    assert world.emails["other"] in inbox.recipients() and refused not in inbox.recipients()
    from fundcircle.notices import OutboxNotice

    def waiting() -> list[OutboxNotice]:
        with mail_app.app_context():
            return list(db.session.scalars(select(OutboxNotice).where(OutboxNotice.sent_at.is_(None))))

    (kept,) = waiting()
    assert (kept.recipient, kept.attempts) == (refused, 1) and "550" in (kept.last_error or "")
    assert kept.next_attempt_at is not None and kept.next_attempt_at > utcnow()
    still = mail_app.test_cli_runner().invoke(args=["notices", "retry"])
    assert still.exit_code == 1 and "1 still failing" in still.output
    assert [notice.attempts for notice in waiting()] == [2]
    PickyInbox.refused = "nobody@example.org"
    try:
        result = mail_app.test_cli_runner().invoke(args=["notices", "retry"])
    finally:
        PickyInbox.refused = "bo@example.org"
    assert result.exit_code == 0, result.output
    assert refused in inbox.recipients()
    assert waiting() == []


def test_a_notice_that_cannot_be_built_never_turns_a_committed_change_into_an_error(
    make_app: Any, picky_smtp: tuple[int, PickyInbox]
) -> None:
    """A title stored before titles were checked holds a newline, which no e-mail subject may: the change is saved,
    the answer says so, and the notice is still sent, on one line."""
    port, inbox = picky_smtp
    mail_app: Flask = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    world = _build(mail_app)
    with mail_app.app_context():
        db.session.execute(update(Round).where(Round.id == world.round_id).values(title="Spring\nround"))
        db.session.commit()
    client: Client = mail_app.test_client()  # type: ignore[assignment]
    response = client.json_call("POST", f"{API}/rounds/{world.round_id}/advance", {"to": "deliberation"},
                                token=world.admin)  # fmt: skip
    assert response.status_code == 200, response.get_data(as_text=True)
    with mail_app.app_context():
        assert db.session.get(Round, world.round_id).phase == "deliberation"  # type: ignore[union-attr]
    told = {world.emails["decider"], world.emails["other"], world.emails["author"]}
    assert told <= set(inbox.recipients())
    assert all("\n" not in str(message["Subject"]) for message in inbox.messages)


# -- Markdown: bounded work, rendered once ---------------------------------------------------------------------


def test_a_markdown_text_of_thousands_of_lines_is_refused_and_nothing_is_stored(
    client: Client, world: World, app: Flask
) -> None:
    """20 kB of one-character table rows takes the parser about a second: such a text is refused at the door."""
    before = _counts(app)
    table = "a|b\n-|-\n" + "|\n" * 9_990
    assert len(table) <= 20_000
    proposal = client.json_call("POST", f"{API}/rounds/{world.round_id}/proposals", {**PROPOSAL, "body": table},
                                token=world.author)  # fmt: skip
    assert proposal.status_code == 422 and "lines" in str(_error(proposal)["fields"]["body"])
    comment = client.json_call("POST", f"{API}/proposals/{world.proposal_id}/comments", {"body": "x\n" * 4_000},
                               token=world.decider)  # fmt: skip
    assert comment.status_code == 422 and "lines" in str(_error(comment)["fields"]["body"])
    assert _counts(app) == before


def test_a_body_is_rendered_once_when_written_and_read_as_stored(client: Client, world: World, app: Flask) -> None:
    """The stored HTML is what pages and the API show, and a new version whose body did not change keeps it: it is
    not rendered again (the stored HTML is replaced here by a marker no rendering of the body would produce)."""
    from fundcircle.proposals.models import ProposalVersion

    marker = "<p>rendered when written</p>"
    with app.app_context():
        db.session.execute(
            update(ProposalVersion).where(ProposalVersion.proposal_id == world.proposal_id).values(body_html=marker)
        )
        db.session.commit()
    shown = client.json_call("GET", f"{API}/proposals/{world.proposal_id}", token=world.decider).get_json()
    assert shown["body_html"] == marker
    client.login(world.emails["decider"])
    assert marker in client.get(f"/proposals/{world.proposal_id}").get_data(as_text=True)
    patched = client.json_call("PATCH", f"{API}/proposals/{world.proposal_id}", {"amount_minor": 20_000},
                               token=world.author)  # fmt: skip
    assert patched.status_code == 200, patched.get_json()
    assert patched.get_json()["version"] == 2 and patched.get_json()["body_html"] == marker
    changed = client.json_call("PATCH", f"{API}/proposals/{world.proposal_id}", {"body": "A *new* plan."},
                               token=world.author)  # fmt: skip
    assert changed.get_json()["body_html"] == "<p>A <em>new</em> plan.</p>\n"


def test_four_delivery_runs_at_once_send_each_waiting_notice_once(
    make_app: Any, picky_smtp: tuple[int, PickyInbox]
) -> None:
    from fundcircle.notices import OutboxNotice, queue_notice
    from fundcircle.outbox import deliver_due_notices
    from tests.concurrency import all_at_once

    port, inbox = picky_smtp
    mail_app: Flask = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, NOTICE_BATCH_SIZE=2)
    with mail_app.app_context():
        for number in range(12):
            person = make_user(email=f"r{number}@example.org")
            queue_notice(person, f"Notice {number}", "b", kind="round.phase_changed", circle_id=None, url=None)
        db.session.commit()  # a plain commit wakes no worker: the runs below find all twelve waiting
    results = all_at_once([deliver_due_notices] * 4, app=mail_app, reraise=True)
    assert sum(run.sent for run in results) == 12 and all(run.failed == 0 for run in results)
    assert inbox.recipients() == sorted(f"r{number}@example.org" for number in range(12))
    with mail_app.app_context():
        assert db.session.scalars(select(OutboxNotice).where(OutboxNotice.sent_at.is_(None))).all() == []
