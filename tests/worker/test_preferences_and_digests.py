"""Preferences per kind, the daily and weekly digests, and the one-click unsubscribe link of a notice mail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from sqlalchemy import select

from fundcircle import unit_of_work
from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.notices import DEFAULT_DELIVERY, OutboxNotice, queue_notice
from fundcircle.outbox import preferences_of, send_digests, set_notice_delivery
from tests.conftest import Client
from tests.factories import make_circle, make_round, make_token, make_user
from tests.smtp import Inbox, body_of, running_smtp


@pytest.fixture
def smtp() -> Iterator[tuple[int, Inbox]]:
    with running_smtp() as server:
        yield server


@pytest.fixture
def mail_app(make_app: Any, smtp: tuple[int, Inbox]) -> Flask:
    app: Flask = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp[0], BASE_URL="https://fund.example.org")
    return app


def _user(email: str) -> User:
    return db.session.scalars(select(User).where(User.email == email)).one()


def test_a_daily_digest_groups_by_circle_and_round_and_leaves_the_weekly_and_immediate_ones(
    mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    with mail_app.app_context():
        dana, wim = make_user(name="Dana"), make_user(name="Wim")
        admin = make_user(name="Admin")
        garden, library = make_circle(admin, name="Garden"), make_circle(admin, name="Library")
        spring = make_round(garden, admin, title="Spring round")
        autumn = make_round(garden, admin, title="Autumn round")
        books = make_round(library, admin, title="Book round")
        set_notice_delivery(dana, dana, "round.phase_changed", "daily")
        set_notice_delivery(dana, dana, "comment.followed", "daily")
        set_notice_delivery(wim, wim, "round.phase_changed", "weekly")
        db.session.commit()
        told = [
            (dana, "Spring: now deliberation", "round.phase_changed", garden.id, spring.id),
            (dana, "Books: now deciding", "round.phase_changed", library.id, books.id),
            (dana, "New comment on Compost", "comment.followed", garden.id, spring.id),
            (dana, "Autumn: now proposals", "round.phase_changed", garden.id, autumn.id),
            (dana, "Your question was answered", "comment.answered", garden.id, spring.id),  # immediate
            (wim, "Spring: now deliberation", "round.phase_changed", garden.id, spring.id),
        ]
        for person, subject, kind, circle_id, round_id in told:
            queue_notice(person, subject, "…", kind=kind, circle_id=circle_id, url=f"https://x/{round_id}",
                         round_id=round_id)  # fmt: skip
        unit_of_work.commit()  # the immediate one goes at once
        dana_email, wim_email = dana.email, wim.email
        assert inbox.subjects_to(dana_email) == ["Your question was answered"]

        assert send_digests("daily", utcnow()) == 1
        (digest,) = [m for m in inbox.to(dana_email) if "digest" in str(m["Subject"])]
        assert str(digest["Subject"]) == "Your daily digest: 4 notice(s)"
        text = body_of(digest)
        lines = [line.strip() for line in text.splitlines() if line.strip().startswith(("==", "--", "*"))]
        assert lines[:8] == [
            "== Garden ==",
            "-- Spring round --",
            "* Spring: now deliberation",
            "* New comment on Compost",
            "-- Autumn round --",
            "* Autumn: now proposals",
            "== Library ==",
            "-- Book round --",
        ]
        assert "* Books: now deciding" in text
        assert "Ledger checkpoint:" in text  # each circle's
        assert inbox.to(wim_email) == []  # weekly: not yet
        assert send_digests("daily", utcnow()) == 0  # sent once
        assert send_digests("weekly", utcnow()) == 1
        (weekly,) = inbox.to(wim_email)
        assert "== Garden ==" in body_of(weekly) and "* Spring: now deliberation" in body_of(weekly)
        waiting = db.session.scalars(select(OutboxNotice).where(OutboxNotice.sent_at.is_(None))).all()
        assert waiting == []


def test_the_one_click_link_works_without_log_in_and_turns_off_only_that_kind(
    mail_app: Flask, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    with mail_app.app_context():
        admin = make_user()
        circle = make_circle(admin)
        person = make_user(name="Pia")
        queue_notice(person, "Spring: now deciding", "Vote now.", kind="round.phase_changed", circle_id=circle.id,
                     url="https://fund.example.org/rounds/1")  # fmt: skip
        unit_of_work.commit()
        email, user_id = person.email, person.id
    (mail,) = inbox.to(email)
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = (
        str(mail["List-Unsubscribe"]).strip().strip("<>")
    )  # a long header is folded: unfolded, it starts with a space
    assert link.startswith("https://fund.example.org/unsubscribe/")
    text = body_of(mail)
    assert "You get this because you asked to be told when a round you take part in moves" in text
    assert link in text
    html = mail.get_body(preferencelist=("html",))  # type: ignore[attr-defined]
    assert html is not None and "Vote now." in html.get_content()

    anonymous: Client = mail_app.test_client()  # type: ignore[assignment]
    path = urlsplit(link).path
    asked = anonymous.get(path)  # a link checker opening it changes nothing
    assert asked.status_code == 200 and "Stop the mail you get" in asked.get_data(as_text=True)
    with mail_app.app_context():
        assert preferences_of(user_id) == DEFAULT_DELIVERY
    # RFC 8058: the mail program POSTs this body, with no cookie and no CSRF token.
    done = anonymous.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "you get no more mail when" in done.get_data(as_text=True)
    with mail_app.app_context():
        chosen = preferences_of(user_id)
        assert chosen["round.phase_changed"] == "inbox"
        assert {k: v for k, v in chosen.items() if k != "round.phase_changed"} == {
            k: v for k, v in DEFAULT_DELIVERY.items() if k != "round.phase_changed"
        }
        entries = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "user.notice_delivery_changed"))
        assert [e.data for e in entries] == [{"kind": "round.phase_changed", "delivery": "inbox"}]
        # The next notice of that kind is recorded for the inbox and mailed to nobody.
        queue_notice(_user(email), "Spring: decided", "…", kind="round.phase_changed", circle_id=None, url=None)
        unit_of_work.commit()
    assert inbox.subjects_to(email) == ["Spring: now deciding"]
    forged = anonymous.post(path[:-3] + "abc", data={"List-Unsubscribe": "One-Click"})
    assert forged.status_code == 400 and "not valid" in forged.get_data(as_text=True)


def test_the_settings_api_and_page_change_preferences_and_refuse_unknown_choices(app: Flask, client: Client) -> None:
    with app.app_context():
        person = make_user()
        token, email = make_token(person), person.email
    shown = client.json_call("GET", "/api/v1/me/notice-preferences", token=token)
    assert shown.status_code == 200 and shown.get_json()["preferences"] == DEFAULT_DELIVERY
    bad = client.json_call("PUT", "/api/v1/me/notice-preferences", {"preferences": {"comment.followed": "hourly"}},
                           token=token)  # fmt: skip
    assert bad.status_code == 422 and "preferences" in bad.get_json()["error"]["fields"], bad.get_json()
    changed = client.json_call("PUT", "/api/v1/me/notice-preferences",
                               {"preferences": {"comment.followed": "weekly"}}, token=token)  # fmt: skip
    assert changed.status_code == 200 and changed.get_json()["preferences"]["comment.followed"] == "weekly"
    client.login(email)
    page = client.get("/profile/notice-preferences")
    assert page.status_code == 200 and "Weekly digest" in page.get_data(as_text=True)
    form = {f"delivery-{kind}": "immediate" for kind in DEFAULT_DELIVERY} | {"delivery-consent.opened": "daily"}
    saved = client.post_form("/profile/notice-preferences", form)
    assert saved.status_code == 302
    refused = client.post_form("/profile/notice-preferences", form | {"delivery-consent.opened": "never"})
    assert refused.status_code == 400 and "Choose one of" in refused.get_data(as_text=True)
    with app.app_context():
        chosen = preferences_of(_user(email).id)
    assert chosen["consent.opened"] == "daily" and chosen["comment.followed"] == "immediate"
