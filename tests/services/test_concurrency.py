"""Two people clicking at the same moment: exactly one change wins, the others get a clear refusal, no 500s."""

from __future__ import annotations

from collections import Counter

from flask import Flask
from sqlalchemy import func, select

from fundcircle.auth.models import User
from fundcircle.circles.models import Circle
from fundcircle.circles.services import invite_member
from fundcircle.db import utcnow
from fundcircle.deliberation.models import ProposalFollow
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.rounds.models import Round
from fundcircle.rounds.services import advance_round
from tests.concurrency import all_at_once
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_token, make_user

THREADS = 12


def test_two_admins_moving_a_round_at_once_move_it_exactly_once(app: Flask) -> None:
    with app.app_context():
        first = make_user()
        circle = make_circle(first)
        admins = [first]
        for _ in range(THREADS - 1):
            admins.append(make_user())
            add_member(circle, admins[-1], ["admin"], by=first)
        round_id = make_round(circle, first).id
        tokens = [make_token(admin) for admin in admins]

    def advance(token: str) -> int:
        client: Client = app.test_client()  # type: ignore[assignment]
        return client.json_call(
            "POST", f"/api/v1/rounds/{round_id}/advance", {"to": "proposals"}, token=token
        ).status_code

    statuses = Counter(all_at_once([lambda token=token: advance(token) for token in tokens]))
    assert statuses[200] == 1, statuses
    assert set(statuses) <= {200, 409, 422}, statuses
    with app.app_context():
        assert db.session.get(Round, round_id).phase == "proposals"
        moves = db.session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.action == "round.phase_changed")
        )
        assert moves == 1


def test_an_invitation_used_by_many_browsers_at_once_makes_one_account(app: Flask) -> None:
    with app.app_context():
        admin = make_user()
        circle = make_circle(admin)
        outcome = invite_member(admin, circle, email="twice@example.org", roles=["member"], now=utcnow(), valid_days=1)
        db.session.commit()
        token = outcome.token
    clients: list[Client] = [app.test_client() for _ in range(THREADS)]  # type: ignore[misc]
    csrf = [client.csrf_token() for client in clients]

    def sign_up(index: int) -> int:
        return (
            clients[index]
            .post(
                f"/invitations/{token}",
                data={
                    "csrf_token": csrf[index],
                    "name": f"Browser {index}",
                    "password": "a long password",
                    "password_confirm": "a long password",
                },
            )
            .status_code
        )

    statuses = Counter(all_at_once([lambda index=index: sign_up(index) for index in range(THREADS)]))
    assert statuses[302] == 1, statuses
    assert set(statuses) <= {302, 404, 409}, statuses
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(User.email == "twice@example.org")) == 1
        joined = db.session.scalar(
            select(func.count()).select_from(LedgerEntry).where(LedgerEntry.action == "member.joined")
        )
        assert joined == 1


def test_invitations_of_two_circles_to_one_new_address_used_at_once_make_one_account(app: Flask) -> None:
    """Nothing locks "is there an account with this address?": the unique address decides, and the second sign-up
    is told the account exists, never shown a 500."""
    for attempt in range(6):
        email = f"both-{attempt}@example.org"
        with app.app_context():
            tokens = []
            for _ in range(2):
                admin = make_user()
                circle = make_circle(admin)
                invited = invite_member(admin, circle, email=email, roles=["member"], now=utcnow(), valid_days=1)
                db.session.commit()
                tokens.append(invited.token)
        clients: list[Client] = [app.test_client() for _ in tokens]  # type: ignore[misc]
        csrf = [client.csrf_token() for client in clients]

        def sign_up(
            index: int, clients: list[Client] = clients, csrf: list[str] = csrf, tokens: list[str] = tokens
        ) -> int:
            form = {"csrf_token": csrf[index], "name": f"Browser {index}", "password": "a long password",
                    "password_confirm": "a long password"}  # fmt: skip
            return clients[index].post(f"/invitations/{tokens[index]}", data=form).status_code

        statuses = Counter(all_at_once([lambda index=index: sign_up(index) for index in range(2)]))
        # 409 when both got past the page's own look-up; 400 (the page that says to log in) when one came later
        assert statuses[302] == 1 and set(statuses) <= {302, 400, 409}, statuses
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(User).where(User.email == email)) == 1


def test_two_circles_created_with_one_address_at_once_make_one_circle(app: Flask) -> None:
    for attempt in range(6):
        with app.app_context():
            tokens = [make_token(make_user(superuser=True)) for _ in range(2)]
        body = {"name": "Harbour Circle", "slug": f"harbour-{attempt}", "currency": "EUR"}

        def create(token: str, body: dict[str, str] = body) -> int:
            client: Client = app.test_client()  # type: ignore[assignment]
            return client.json_call("POST", "/api/v1/circles", body, token=token).status_code  # type: ignore[no-any-return]

        statuses = Counter(all_at_once([lambda token=token: create(token) for token in tokens]))
        assert statuses == {201: 1, 409: 1}, statuses
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Circle).where(Circle.slug == body["slug"])) == 1


def test_following_a_proposal_with_many_clicks_at_once_follows_it_once(app: Flask) -> None:
    with app.app_context():
        admin = make_user()
        circle = make_circle(admin)
        member = make_user()
        add_member(circle, member, ["member"], by=admin)
        round_ = make_round(circle, admin, categories=[])
        advance_round(admin, round_, "proposals", utcnow())
        db.session.commit()
        proposal_id = make_proposal(db.session.get(Round, round_.id), db.session.get(User, admin.id), category=None).id
        token, member_id = make_token(member), member.id

    def follow(following: bool) -> int:
        client: Client = app.test_client()  # type: ignore[assignment]
        url = f"/api/v1/proposals/{proposal_id}/follow"
        return client.json_call("PUT", url, {"following": following}, token=token).status_code  # type: ignore[no-any-return]

    for following, action in ((True, "proposal.followed"), (False, "proposal.unfollowed")):
        statuses = Counter(all_at_once([lambda following=following: follow(following) for _ in range(THREADS)]))
        assert statuses == {200: THREADS}, statuses
        with app.app_context():
            rows = db.session.scalar(
                select(func.count())
                .select_from(ProposalFollow)
                .where(ProposalFollow.user_id == member_id, ProposalFollow.proposal_id == proposal_id)
            )
            assert rows == (1 if following else 0)
            recorded = db.session.scalar(
                select(func.count()).select_from(LedgerEntry).where(LedgerEntry.action == action)
            )
            assert recorded == 1, f"{recorded} {action} entries for one change"
