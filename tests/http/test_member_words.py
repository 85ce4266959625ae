"""Members read words, not developer words (issue 17, point 4): no command lines on the results or the ledger check
(they are on the help page for the technically minded), a ballot receipt is a short code with a copy button and a
link that checks it, the ledger's filter offers groups and proposals by title. And the pages that read on a phone:
the chart's text is at least 12 px, `hidden` always hides, the favicon is ours."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from flask import Flask
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.chain import receipt_prefix, short_receipt
from fundcircle.ledger.views import ACTIONS
from fundcircle.ledger.words import Names, describe
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from fundcircle.voting import chart
from fundcircle.voting.models import Ballot, ProposalResult
from fundcircle.voting.services import cast_ballot
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_funded_round, make_proposal, make_round, make_user

HEX64 = re.compile(r"\b[0-9a-f]{64}\b")
STATIC = Path(__file__).resolve().parents[2] / "fundcircle" / "static"


@dataclass
class World:
    circle_id: int
    round_id: int
    receipt: str
    voter_email: str = "vera@example.org"


def _decided(app: Flask) -> World:
    """A decided quadratic round of two proposals; Vera voted, and her receipt is the one to check."""
    with app.app_context():
        admin = make_user(name="Ana", email="ana@example.org")
        circle = make_circle(admin)
        vera = make_user(name="Vera", email="vera@example.org")
        add_member(circle, vera, ["member", "circle"], by=admin)
        author = make_user(name="Bo")
        add_member(circle, author, ["member"], by=admin)
        round_, _ = make_funded_round(
            circle,
            admin,
            vera,
            [
                {"author": author, "title": "Seed library", "amount_minor": 25_000},
                {"author": author, "title": "Tool library", "amount_minor": 30_000},
            ],
            title="Spring micro-grants",
        )
        receipt = db.session.scalar(select(Ballot.receipt).where(Ballot.round_id == round_.id))
        assert receipt is not None
        return World(circle.id, round_.id, receipt)


def _main(page: str) -> str:
    """The page without its footer (which folds the ledger's checkpoint away for the technically minded)."""
    return page.split('<footer class="site-footer">')[0]


def test_the_results_link_to_the_help_page_instead_of_a_command_line(app: Flask, client: Client) -> None:
    world = _decided(app)
    client.login(world.voter_email)
    results = _main(client.get(f"/rounds/{world.round_id}/results").get_data(as_text=True))
    assert "flask --app" not in results and "--checkpoint" not in results and not HEX64.search(results)
    link = re.search(r'href="(/circles/\d+/ledger/technical\?seq=(\d+))"', results)
    assert link and "for the technically minded" in results
    help_page = client.get(link.group(1).replace("&amp;", "&")).get_data(as_text=True)
    with app.app_context():
        from fundcircle.voting.models import RoundTally

        tally = db.session.get(RoundTally, world.round_id)
        assert tally is not None and int(link.group(2)) == tally.checkpoint_seq
        assert f"--checkpoint {tally.checkpoint_seq}:{tally.checkpoint_hash}" in help_page
    assert "The result of the round “Spring micro-grants” was published" in help_page


def test_the_ledger_check_says_it_verifies_in_words_and_links_the_command_line(app: Flask, client: Client) -> None:
    world = _decided(app)
    client.login(world.voter_email)
    check = _main(client.get(f"/circles/{world.circle_id}/ledger/verify").get_data(as_text=True))
    assert "The chain verifies." in check and "flask --app" not in check
    assert f'href="/circles/{world.circle_id}/ledger/technical"' in check
    help_page = client.get(f"/circles/{world.circle_id}/ledger/technical").get_data(as_text=True)
    assert "flask --app fundcircle ledger verify --file ledger.jsonl --checkpoint" in help_page
    assert 'class="site-key"' in help_page


def test_the_footer_folds_the_checkpoint_away_and_leaves_the_command_line_to_the_help_page(
    app: Flask, client: Client
) -> None:
    world = _decided(app)
    client.login(world.voter_email)
    page = client.get(f"/circles/{world.circle_id}").get_data(as_text=True)
    footer = page.split('<footer class="site-footer">')[1]
    folded = footer.split('<details class="ledger-technical">')
    assert len(folded) == 2 and "flask --app" not in footer and not HEX64.search(folded[0])
    assert "<summary>For the technically minded" in folded[1] and HEX64.search(folded[1])
    assert f'href="/circles/{world.circle_id}/ledger/technical?seq=' in folded[1]


def test_the_ballot_shows_its_receipt_as_a_short_code_with_a_copy_button_and_a_check(
    app: Flask, client: Client
) -> None:
    with app.app_context():
        admin = make_user(name="Ana", email="ana@example.org")
        circle = make_circle(admin)
        vera = make_user(name="Vera", email="vera@example.org")
        add_member(circle, vera, ["member", "circle"], by=admin)
        round_ = make_round(circle, admin, quorum_percent=0)
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        proposal = make_proposal(round_, vera, title="Seed library")
        for phase in ("deliberation", "deciding"):
            advance_round(admin, round_, phase, utcnow())
        db.session.commit()
        round_id, circle_id, proposal_id = round_.id, circle.id, proposal.id
    client.login("vera@example.org")
    page = client.get(f"/rounds/{round_id}/ballot")
    token = client.csrf_token()
    saved = client.post(
        f"/rounds/{round_id}/ballot",
        data={"csrf_token": token, f"votes-{proposal_id}": "2", "action": "save"},
        follow_redirects=True,
    )
    assert page.status_code == 200 and saved.status_code == 200
    text = saved.get_data(as_text=True)
    with app.app_context():
        receipt = db.session.scalar(select(Ballot.receipt).where(Ballot.round_id == round_id))
    assert receipt is not None
    code = short_receipt(receipt)
    assert re.fullmatch(r"[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{2}", code)
    main = _main(text)
    assert receipt not in main and f"Receipt: {code}" in main  # the flash says the short code too
    assert f'<strong class="receipt" id="receipt-code">{code}</strong>' in main
    # The copy button waits hidden for its script; without JavaScript the code is plain text.
    assert re.search(r'<button type="button" class="secondary copy-button" data-copy="receipt-code" hidden>', main)
    assert "/static/js/copy.js" in main
    assert f'href="/circles/{circle_id}/ledger/receipt?code={code}"' in main
    found = client.get(f"/circles/{circle_id}/ledger/receipt?code={code}").get_data(as_text=True)
    assert "Found: your ballot is saved in “Spring micro-grants”; it is counted when the round is decided." in found


def test_a_receipt_is_found_counted_once_the_round_is_decided(app: Flask, client: Client) -> None:
    world = _decided(app)
    client.login(world.voter_email)
    code = short_receipt(world.receipt)
    for typed in (code, code.upper(), code.replace("-", " "), world.receipt):
        page = client.get(f"/circles/{world.circle_id}/ledger/receipt", query_string={"code": typed})
        assert page.status_code == 200
        assert "Found: your ballot was counted in “Spring micro-grants”." in page.get_data(as_text=True), typed


def test_a_changed_ballot_s_first_receipt_says_the_later_change_counts(app: Flask, client: Client) -> None:
    with app.app_context():
        admin = make_user(name="Ana", email="ana@example.org")
        circle = make_circle(admin)
        vera = make_user(name="Vera", email="vera@example.org")
        add_member(circle, vera, ["member", "circle"], by=admin)
        round_ = make_round(circle, admin, quorum_percent=0)
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        proposal = make_proposal(round_, vera, title="Seed library")
        for phase in ("deliberation", "deciding"):
            advance_round(admin, round_, phase, utcnow())
        db.session.commit()
        voter = db.session.get(User, vera.id)
        assert voter is not None
        first = cast_ballot(voter, round_, {proposal.id: 1}, utcnow()).receipt
        db.session.commit()
        cast_ballot(voter, db.session.get(Round, round_.id), {proposal.id: 2}, utcnow())  # type: ignore[arg-type]
        db.session.commit()
        circle_id = circle.id
    assert first is not None
    client.login("vera@example.org")
    page = client.get(f"/circles/{circle_id}/ledger/receipt?code={short_receipt(first)}").get_data(as_text=True)
    assert "and then changed; the later change is the one that counts" in page


def test_a_receipt_not_in_the_circle_or_not_a_receipt_is_said_so(app: Flask, client: Client) -> None:
    world = _decided(app)
    with app.app_context():
        other = make_circle(make_user(name="Olga", email="olga@example.org"), public=True)
        other_id = other.id
    client.login("olga@example.org")
    code = short_receipt(world.receipt)
    elsewhere = client.get(f"/circles/{other_id}/ledger/receipt?code={code}").get_data(as_text=True)
    assert "Not found:" in elsewhere and "Found: your" not in elsewhere
    for typed in ("7f3a", "zzzz-zzzz-zz", "x" * 500):
        page = client.get(f"/circles/{other_id}/ledger/receipt", query_string={"code": typed})
        assert page.status_code == 200
        assert "A receipt is 10 letters and digits, like 7f3a-9c21-b4: check what you typed." in page.get_data(
            as_text=True
        )
    assert client.get(f"/circles/{other_id}/ledger/receipt").status_code == 200  # the empty form
    # The circle's own page refuses a person from outside (a private circle), as the ledger does.
    assert client.get(f"/circles/{world.circle_id}/ledger/receipt?code={code}").status_code in (302, 403, 404)


def test_receipt_codes_are_read_back_whatever_their_spelling() -> None:
    assert short_receipt("7f3a9c21b4" + "0" * 54) == "7f3a-9c21-b4"
    assert receipt_prefix(" 7F3A-9C21-B4 ") == receipt_prefix("7f3a 9c21 b4") == "7f3a9c21b4"
    assert receipt_prefix("7f3a-9c2") is None and receipt_prefix("7f3a-9c21-bz") is None
    assert receipt_prefix("a" * 65) is None


def test_the_ledger_filter_offers_groups_and_proposals_by_title_not_codes(app: Flask, client: Client) -> None:
    world = _decided(app)
    client.login(world.voter_email)
    page = client.get(f"/circles/{world.circle_id}/ledger").get_data(as_text=True)
    form = page.split('class="filters"')[1].split("</form>")[0]
    assert not [action for action in ACTIONS if f">{action}<" in form]
    for group in ("Votes and answers", "Proposals and discussion", "Payouts", "Membership", "Round steps"):
        assert f"<option >{group}</option>" in form or f"<option>{group}</option>" in form, group
    assert "Proposal number" not in form and 'type="number"' not in form
    assert "Seed library (Spring micro-grants)" in form and "Tool library (Spring micro-grants)" in form
    votes = client.get(f"/circles/{world.circle_id}/ledger?group=Votes+and+answers").get_data(as_text=True)
    assert "Vera saved a ballot" in votes and "created the circle" not in votes
    with app.app_context():
        seed = db.session.scalar(select(ProposalResult.proposal_id).where(ProposalResult.title == "Seed library"))
    only = client.get(f"/circles/{world.circle_id}/ledger?proposal={seed}").get_data(as_text=True)
    assert "“Seed library”" in only and "“Tool library”" not in only.split('class="ledger"')[1]


def test_a_ballot_receipt_finds_its_entry_on_the_ledger_page(app: Flask, client: Client) -> None:
    world = _decided(app)
    client.login(world.voter_email)
    page = client.get(
        f"/circles/{world.circle_id}/ledger", query_string={"hash": short_receipt(world.receipt)}
    ).get_data(as_text=True)
    assert page.count('<li id="entry-') == 1 and "Vera saved a ballot" in page
    # Shorter than a receipt finds nothing rather than a sixteenth of the ledger.
    few = client.get(f"/circles/{world.circle_id}/ledger?hash={world.receipt[:1]}").get_data(as_text=True)
    assert '<li id="entry-' not in few


def _svg_font_sizes(svg: str) -> list[float]:
    root = ElementTree.fromstring(svg)
    texts = root.findall(".//{http://www.w3.org/2000/svg}text")
    assert texts
    return [float(text.get("font-size") or root.get("font-size") or 0) for text in texts]


def test_the_chart_text_is_at_least_12_px_on_a_360_px_phone() -> None:
    rows = [
        ProposalResult(
            round_id=1,
            proposal_id=n,
            version=1,
            rank=n,
            title=title,
            score=score,
            amount_minor=amount,
            funded=funded,
            reason="",
        )  # fmt: skip
        for n, (title, score, amount, funded) in enumerate(
            [
                ("Seed library", 9, 35_000, True),
                ("Tool library", 5, 40_000, True),
                ("Language evenings for everyone in the neighbourhood", 3, 30_000, False),
            ],
            start=1,
        )  # fmt: skip
    ]
    # A 360 px screen leaves about 330 px for the drawing (the page's margins): it is shrunk to that, no further.
    for svg in (str(chart.score_chart(rows, "EUR")), str(chart.budget_line(rows, 100_000, "EUR"))):
        root = ElementTree.fromstring(svg)
        width = float(root.get("width") or 0)
        assert width == float(root.get("viewBox", "").split()[2])  # drawn at the size it is shown
        shrink = min(1.0, 330 / width)
        assert all(size * shrink >= 12 for size in _svg_font_sizes(svg)), (svg, shrink)
    # A long title is cut at a phone's line, whole in the chart's description.
    long_chart = str(chart.score_chart(rows, "EUR"))
    assert ">Language evenings for everyone in the n…</text>" in long_chart
    assert "Language evenings for everyone in the neighbourhood: score 3" in long_chart


def test_hidden_always_hides_and_the_favicon_is_ours(app: Flask, client: Client) -> None:
    css = (STATIC / "css" / "app.css").read_text()
    assert re.search(r"\[hidden\]\s*\{\s*display:\s*none\s*!important;?\s*\}", css)
    page = client.get("/login").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">' in page
    icon = client.get("/static/favicon.svg")
    body = icon.get_data(as_text=True)
    icon.close()
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    ElementTree.fromstring(body)  # well-formed, and no network reference in it
    assert "http" not in body.replace("http://www.w3.org/2000/svg", "")


def test_the_ledger_words_of_payouts_name_no_expense_ids_or_status_codes() -> None:
    names = Names(users={}, proposals={7: "Seed library"}, currency="EUR")
    data = {"proposal": 7, "expense_id": "exp-4711", "expense_status": "SCHEDULED_FOR_PAYMENT"}
    for action, extra in (
        ("payout.requested", {}),
        ("payout.expense_found", {}),
        ("payout.expense_updated", {"from": "requested", "to": "approved_on_oc"}),
    ):
        words = describe(action, {**data, **extra}, actor_id=None, subject_type="payout", subject_id=3, names=names)
        assert "exp-4711" not in words and "SCHEDULED" not in words and "_" not in words, words
        assert "“Seed library”" in words and "scheduled for payment" in words, words
    updated = describe("payout.expense_updated", {**data, "from": "requested", "to": "approved_on_oc"},
                       actor_id=None, subject_type="payout", subject_id=3, names=names)  # fmt: skip
    assert updated.endswith("the payout is now approved on Open Collective")
