"""The treasury's and the ledger's pages in Spanish and German: each still renders and says its language on <html>.

The catalogues are merged from every area's part (i18n-parts/) later, so this checks only what holds without them;
the test that every page reads with no untranslated string comes with the merged catalogues."""

from __future__ import annotations

import pytest
from flask import Flask

from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from tests.conftest import Client
from tests.worlds.treasury import Treasury


def _logged_in(app: Flask, email: str) -> Client:
    client: Client = app.test_client()  # type: ignore[assignment]
    client.login(email)
    return client


def _pages(treasury: Treasury) -> list[str]:
    circle = treasury.circle_id
    with treasury.app.app_context():
        last_seq = db.session.scalar(db.select(db.func.max(LedgerEntry.seq)).where(LedgerEntry.circle_id == circle))
    return [
        f"/circles/{circle}/treasury",
        f"/circles/{circle}/treasury/connect",
        f"/payouts/{treasury.payout_ids['Seed library']}",
        f"/payouts/{treasury.payout_ids['Bike repair']}",
        f"/circles/{circle}/ledger",
        f"/circles/{circle}/ledger?group=Payouts",
        f"/circles/{circle}/ledger/verify",
        f"/circles/{circle}/ledger/technical?seq={last_seq}",
        f"/circles/{circle}/ledger/proof?seq={last_seq}",
        f"/circles/{circle}/ledger/receipt?code=0000-0000-00",
        f"/circles/{circle}/ledger/receipt?code=not-a-receipt",
    ]


@pytest.mark.parametrize("language", ["de", "es"])
def test_the_treasury_and_ledger_pages_render_in_the_browsers_language(treasury: Treasury, language: str) -> None:
    client = _logged_in(treasury.app, treasury.emails["tomas"])
    for path in _pages(treasury):
        response = client.get(path, headers={"Accept-Language": language})
        page = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert f'<html lang="{language}"' in page, path


@pytest.mark.parametrize("language", ["de", "es"])
def test_the_ledger_csv_is_written_in_the_browsers_language_to_the_end(treasury: Treasury, language: str) -> None:
    """The CSV's words are written while the response streams, after the request's session is closed."""
    client = _logged_in(treasury.app, treasury.emails["tomas"])
    response = client.get(f"/circles/{treasury.circle_id}/ledger.csv", headers={"Accept-Language": language})
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("seq,at,actor_id,action")
