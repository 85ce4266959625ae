"""Journey: a person with an account accepts an invitation, changes their name and e-mail address (confirmed by the
link sent to the new address), changes their password, which ends their other session, and later resets it by the
link e-mailed to them through a real SMTP server. Keyboard only; every page checked with axe-core."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from tests.browser.conftest import on_browser_database
from tests.browser.support import ARTIFACTS, Keys, LiveServer
from tests.factories import make_circle, make_user
from tests.smtp import Inbox, body_of, running_smtp

pytestmark = on_browser_database

NEW_ADDRESS = "bea.santos@example.net"


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[int, Inbox]]:
    with running_smtp() as server:
        yield server


@pytest.fixture(scope="module")
def live_server(database_url: str, smtp: tuple[int, Inbox]) -> Iterator[LiveServer]:
    """A server of this module's own that sends its mail to the loopback SMTP server."""
    server = LiveServer(
        database_url,
        ARTIFACTS / "live-server-accounts.log",
        extra_env={"FUNDCIRCLE_TEST_SERVER_MAIL_PORT": str(smtp[0])},
    )
    server.start()
    yield server
    server.stop()


def _mailed_link(inbox: Inbox, to: str, path: str, count: int = 1) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        messages = [m for m in inbox.to(to) if path in body_of(m)]
        if len(messages) >= count:
            match = re.search(r"https?://\S+" + re.escape(path) + r"\S+", body_of(messages[count - 1]))
            assert match, body_of(messages[count - 1])
            return match.group(0)
        time.sleep(0.05)
    raise AssertionError(f"no e-mail to {to} with {path}: {[str(m['Subject']) for m in inbox.messages]}")


def _form(page: Page, button: str) -> Any:
    return page.locator("form").filter(has=page.get_by_role("button", name=button))


def test_a_member_manages_their_account_and_resets_a_forgotten_password(
    app: Flask, journey: Any, smtp: tuple[int, Inbox]
) -> None:
    _, inbox = smtp
    inbox.clear()
    with app.app_context():
        admin = make_user(name="Ana Admin", email="ana@example.org")
        make_circle(admin, name="Riverside Learning Circle")
        make_user(name="Bea", email="bea@example.org")
    story = journey("accounts")

    # The admin invites an address that has an account: the answer says nothing about that person.
    ana = story.log_in("ana@example.org")
    keys = Keys(ana)
    keys.follow(ana.get_by_role("link", name="Riverside Learning Circle"))
    story.seen(ana, "circle")
    keys.follow(ana.get_by_role("link", name="Invite people and set roles"))
    story.seen(ana, "members")
    keys.type(ana.get_by_label("E-mail address"), "bea@example.org")
    keys.follow(ana.get_by_role("button", name="Invite"))
    expect(ana.get_by_role("status").first).to_contain_text("Invitation sent to bea@example.org")
    expect(ana.locator("main")).not_to_contain_text("Bea ")
    story.seen(ana, "members-invited", screenshot=True)
    assert "/invitations/" in _mailed_link(inbox, "bea@example.org", "/invitations/")

    # Bea sees the invitation on her home page and accepts it.
    bea = story.log_in("bea@example.org")
    keys = Keys(bea)
    expect(bea.get_by_role("heading", name="Invitations for you")).to_be_visible()
    story.screenshot(bea, "home-invited")
    keys.follow(bea.get_by_role("button", name="Accept the invitation to Riverside Learning Circle"))
    expect(bea.get_by_role("heading", level=1)).to_have_text("Riverside Learning Circle")
    story.seen(bea, "circle-joined", screenshot=True)
    # She is signed in on a second computer too.
    elsewhere = story.log_in("bea@example.org")

    # Her name, on her profile.
    bea.goto("/profile")
    story.seen(bea, "profile", screenshot=True)
    keys.replace(bea.get_by_label("Your name"), "Beatriz Santos")
    keys.follow(bea.get_by_role("button", name="Save name"))
    expect(bea.get_by_role("status").first).to_contain_text("Your name is saved.")
    expect(bea.get_by_role("heading", level=1)).to_have_text("Beatriz Santos")
    story.seen(bea, "profile-renamed")

    # Her address: a wrong password is refused next to the field; then a link goes to the new address.
    email_form = _form(bea, "Change e-mail address")
    keys.type(email_form.get_by_label("New e-mail address"), NEW_ADDRESS)
    keys.type(email_form.get_by_label("Your current password"), "not my password")
    keys.follow(bea.get_by_role("button", name="Change e-mail address"))
    story.seen(bea, "profile-email-refused", screenshot=True)
    password_field = _form(bea, "Change e-mail address").get_by_label("Your current password")
    expect(password_field).to_have_attribute("aria-invalid", "true")
    email_form = _form(bea, "Change e-mail address")
    keys.replace(email_form.get_by_label("New e-mail address"), NEW_ADDRESS)
    keys.type(email_form.get_by_label("Your current password"), "correct horse battery")
    keys.follow(bea.get_by_role("button", name="Change e-mail address"))
    expect(bea.get_by_role("status").first).to_contain_text(f"We e-mailed a link to {NEW_ADDRESS}")
    story.seen(bea, "profile-email-asked")
    confirm = _mailed_link(inbox, NEW_ADDRESS, "/email/confirm/")
    assert NEW_ADDRESS in body_of(inbox.to("bea@example.org")[-1])  # the old address is told
    bea.goto(confirm)
    story.seen(bea, "confirm-email", screenshot=True)
    keys.follow(bea.get_by_role("button", name="Confirm the new address"))
    expect(bea.get_by_role("status").first).to_contain_text(f"Your address is now {NEW_ADDRESS}")
    story.seen(bea, "profile-email-changed")

    # The other computer's session ended with the address change.
    elsewhere.goto("/profile")
    expect(elsewhere).to_have_url(re.compile(r"/login"))
    story.seen(elsewhere, "elsewhere-signed-out")
    elsewhere = story.log_in(NEW_ADDRESS)

    # Her password: the current one, then the new one twice. The other computer is signed out again.
    bea.goto("/profile")
    story.seen(bea, "profile-again")
    password_form = _form(bea, "Change password")
    keys.type(password_form.get_by_label("Your current password"), "correct horse battery")
    keys.type(password_form.get_by_label("New password", exact=True), "a river runs through it")
    keys.type(password_form.get_by_label("New password again"), "a river runs through it")
    keys.follow(bea.get_by_role("button", name="Change password"))
    expect(bea.get_by_role("status").first).to_contain_text("Your password is changed.")
    story.seen(bea, "profile-password-changed", screenshot=True)
    elsewhere.goto("/profile")
    expect(elsewhere).to_have_url(re.compile(r"/login"))
    story.seen(elsewhere, "elsewhere-signed-out-again")

    # Weeks later she has forgotten it: the log-in page's link e-mails her a reset link.
    visitor = story.open_page()
    visitor.goto("/login")
    story.seen(visitor, "log-in")
    keys = Keys(visitor)
    keys.follow(visitor.get_by_role("link", name="Forgot your password?"))
    story.seen(visitor, "forgot", screenshot=True)
    keys.type(visitor.get_by_label("Your account's e-mail address"), NEW_ADDRESS)
    keys.follow(visitor.get_by_role("button", name="E-mail me a link"))
    expect(visitor.get_by_role("status").first).to_contain_text("we e-mailed it a link")
    story.seen(visitor, "forgot-sent")
    reset = _mailed_link(inbox, NEW_ADDRESS, "/password/reset/")
    visitor.goto(reset)
    story.seen(visitor, "reset", screenshot=True)
    keys.type(visitor.get_by_label("New password", exact=True), "the river bends twice")
    keys.type(visitor.get_by_label("New password again"), "the river bends twice")
    keys.follow(visitor.get_by_role("button", name="Set the new password"))
    expect(visitor.get_by_role("status").first).to_contain_text("Your new password is set")
    expect(visitor.get_by_role("heading", level=1)).to_have_text("My circles")
    story.seen(visitor, "reset-signed-in", screenshot=True)
    # The reset ended her earlier session; the link works once.
    bea.goto("/profile")
    expect(bea).to_have_url(re.compile(r"/login"))
    story.seen(bea, "old-session-ended")
    visitor.goto(reset)
    expect(visitor.locator("main")).to_contain_text("does not work any more")
    story.seen(visitor, "reset-used")
