"""The app as the browser tests' server process runs it: `gunicorn 'tests.browser.server:build()'`."""

from __future__ import annotations

import os

from flask import Flask

from fundcircle import create_app
from tests.conftest import test_config


def build() -> Flask:
    """The test configuration (fast password hashing, no mail server unless FUNDCIRCLE_TEST_SERVER_MAIL_PORT names
    the loopback port of one) on the database the test run made, served as in production: errors are handled by the
    app's pages, not raised into the server. Links in e-mails and invitations come from BASE_URL alone, as in
    production: the server's own address."""
    mail: dict[str, object] = {}
    if port := os.environ.get("FUNDCIRCLE_TEST_SERVER_MAIL_PORT"):
        mail = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": int(port)}
    database_url = os.environ["FUNDCIRCLE_TEST_SERVER_DATABASE_URL"]
    base_url = os.environ["FUNDCIRCLE_TEST_SERVER_BASE_URL"]
    return create_app(test_config(database_url, TESTING=False, BASE_URL=base_url, **mail))
