"""Attachments through the pages and the API: the files a person sends, what comes back, and who is refused
(fundcircle/attachments/views.py, api.py)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from fundcircle.attachments.models import Attachment
from fundcircle.db import utcnow
from fundcircle.deliberation.services import add_comment
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.rounds.services import advance_round
from tests.attachment_files import GPS_IFD, PDF, SCRIPT, exif_of, jpeg_with_gps, png_with_script
from tests.conftest import Client
from tests.factories import add_member, make_circle, make_proposal, make_round, make_token, make_user


@dataclass
class World:
    proposal_id: int
    comment_id: int
    author_email: str
    member_email: str
    outsider_email: str
    author_token: str
    outsider_token: str


@pytest.fixture
def world(app: Flask, tmp_path: Path) -> Iterator[World]:
    app.config["ATTACHMENTS_FOLDER"] = str(tmp_path / "attachments")
    app.extensions.pop("fundcircle-attachment-store", None)
    with app.app_context():
        admin = make_user(name="Admin")
        circle = make_circle(admin, public=False)
        author, member = make_user(name="Author"), make_user(name="Member")
        add_member(circle, author, ["member"], by=admin)
        add_member(circle, member, ["member"], by=admin)
        round_ = make_round(circle, admin)
        advance_round(admin, round_, "proposals", utcnow())
        proposal = make_proposal(round_, author)
        comment = add_comment(member, proposal, "Here is a photo.", parent_id=None, question=False, now=utcnow())
        outsider = make_user(name="Other circle's admin")
        make_circle(outsider, public=False)
        db.session.commit()
        made = World(
            proposal.id, comment.id, author.email, member.email, outsider.email, make_token(author),
            make_token(outsider),
        )  # fmt: skip
    # Outside the app context: each request then has its own (a context left pushed would share `g` among them).
    yield made
    app.config["ATTACHMENTS_FOLDER"] = ""
    app.extensions.pop("fundcircle-attachment-store", None)


def _upload(client: Client, url: str, name: str, content: bytes, description: str = "") -> object:
    return client.post_form(
        url, {"file": (io.BytesIO(content), name), "description": description}, content_type="multipart/form-data"
    )


def _count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(Attachment.id))) or 0


def _only_attachment(app: Flask) -> int:
    with app.app_context():
        return db.session.scalars(select(Attachment.id)).one()


def test_a_photo_with_gps_is_shown_in_the_proposal_page_without_its_gps(
    app: Flask, client: Client, world: World
) -> None:
    client.login(world.author_email)
    original = jpeg_with_gps()
    assert GPS_IFD in exif_of(original)
    response = _upload(client, f"/attachments/proposal/{world.proposal_id}", "lot.jpg", original, "The empty lot")
    assert response.status_code == 302 and f"/proposals/{world.proposal_id}#attachments" in response.location, (
        response.get_data(as_text=True)[-1500:]
    )
    attachment_id = _only_attachment(app)
    page = client.get(f"/proposals/{world.proposal_id}").get_data(as_text=True)
    assert f'src="/attachments/{attachment_id}" alt="The empty lot"' in page
    shown = client.get(f"/attachments/{attachment_id}")
    assert shown.status_code == 200 and shown.mimetype == "image/jpeg"
    assert (
        shown.headers["Content-Disposition"].startswith("inline") and "lot.jpg" in shown.headers["Content-Disposition"]
    )
    assert shown.headers["X-Content-Type-Options"] == "nosniff"
    assert exif_of(shown.get_data()) == {} and b"taken at home" not in shown.get_data()


def test_a_png_with_a_script_appended_comes_back_re_encoded_without_it(
    app: Flask, client: Client, world: World
) -> None:
    client.login(world.author_email)
    response = _upload(client, f"/attachments/proposal/{world.proposal_id}", "logo.png", png_with_script(), "Logo")
    assert response.status_code == 302
    shown = client.get(f"/attachments/{_only_attachment(app)}")
    assert shown.mimetype == "image/png" and shown.get_data().startswith(b"\x89PNG")
    assert SCRIPT not in shown.get_data()


def test_a_pdf_named_png_is_refused_saying_so_and_nothing_is_stored(app: Flask, client: Client, world: World) -> None:
    client.login(world.author_email)
    response = _upload(client, f"/attachments/proposal/{world.proposal_id}", "x.png", PDF, "A picture")
    assert response.status_code == 422
    assert "x.png is not a PNG image: it is a PDF document." in response.get_data(as_text=True)
    html = _upload(
        client, f"/attachments/proposal/{world.proposal_id}", "y.png", b"<html><script>1</script></html>", "Y"
    )
    assert html.status_code == 422 and "y.png is not a PNG image" in html.get_data(as_text=True)
    assert _count(app) == 0
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(LedgerEntry.action == "attachment.added")) == 0


def test_a_pdf_is_offered_as_a_download_with_a_safe_name(app: Flask, client: Client, world: World) -> None:
    client.login(world.author_email)
    sent = _upload(client, f"/attachments/proposal/{world.proposal_id}", "Angebot für Ümit; final.pdf", PDF)
    assert sent.status_code == 302, sent.get_data(as_text=True)
    attachment_id = _only_attachment(app)
    page = client.get(f"/proposals/{world.proposal_id}").get_data(as_text=True)
    assert f'href="/attachments/{attachment_id}" download' in page
    response = client.get(f"/attachments/{attachment_id}")
    disposition = response.headers["Content-Disposition"]
    assert response.mimetype == "application/pdf" and disposition.startswith("attachment;")
    # RFC 6266: an ASCII fallback and the UTF-8 name, each quoted or encoded, so the `;` ends no parameter.
    assert disposition == (
        'attachment; filename="Angebot fur Umit; final.pdf"; '
        "filename*=UTF-8''Angebot%20f%C3%BCr%20%C3%9Cmit%3B%20final.pdf"
    )
    assert response.get_data() == PDF
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]


def test_another_circle_and_visitors_are_refused_every_attachment_route(
    app: Flask, client: Client, world: World
) -> None:
    client.login(world.author_email)
    _upload(client, f"/attachments/proposal/{world.proposal_id}", "quote.pdf", PDF)
    attachment_id = _only_attachment(app)
    outsider: Client = app.test_client()  # type: ignore[assignment]
    outsider.login(world.outsider_email)
    assert outsider.get(f"/attachments/{attachment_id}").status_code == 404
    assert _upload(outsider, f"/attachments/proposal/{world.proposal_id}", "q.pdf", PDF).status_code == 404
    assert outsider.post_form(f"/attachments/{attachment_id}/remove").status_code == 404
    api = f"/api/v1/attachments/{attachment_id}"
    assert outsider.json_call("GET", f"{api}/content", token=world.outsider_token).status_code == 404
    assert outsider.json_call("DELETE", api, token=world.outsider_token).status_code == 404
    listed = outsider.json_call("GET", f"/api/v1/attachments/proposal/{world.proposal_id}", token=world.outsider_token)
    assert listed.status_code == 404
    visitor: Client = app.test_client()  # type: ignore[assignment]
    refused = visitor.get(f"/attachments/{attachment_id}")
    assert refused.status_code == 302 and "/login" in refused.location
    assert visitor.get(f"{api}/content").status_code == 401
    assert _count(app) == 1


def test_a_visitor_of_a_public_circle_is_sent_to_log_in_as_the_proposal_page_does(
    app: Flask, client: Client, world: World
) -> None:
    with app.app_context():
        admin = make_user()
        circle = make_circle(admin, public=True)
        round_ = make_round(circle, admin)
        advance_round(admin, round_, "proposals", utcnow())
        proposal_id, email = make_proposal(round_, admin).id, admin.email
    client.login(email)
    _upload(client, f"/attachments/proposal/{proposal_id}", "quote.pdf", PDF)
    attachment_id = _only_attachment(app)
    visitor: Client = app.test_client()  # type: ignore[assignment]
    assert visitor.get(f"/proposals/{proposal_id}").status_code == 302
    refused = visitor.get(f"/attachments/{attachment_id}")
    assert refused.status_code == 302 and "/login" in refused.location


def test_only_the_author_attaches_and_only_the_uploader_removes(app: Flask, client: Client, world: World) -> None:
    member: Client = app.test_client()  # type: ignore[assignment]
    member.login(world.member_email)
    refused = _upload(member, f"/attachments/proposal/{world.proposal_id}", "q.pdf", PDF)
    assert refused.status_code == 403 and "Only the proposal&#39;s author" in refused.get_data(as_text=True)
    client.login(world.author_email)
    _upload(client, f"/attachments/proposal/{world.proposal_id}", "q.pdf", PDF)
    attachment_id = _only_attachment(app)
    assert (
        "Remove"
        not in member.get(f"/proposals/{world.proposal_id}").get_data(as_text=True).split("Attachments")[1][:800]
    )
    member.post_form(f"/attachments/{attachment_id}/remove")
    assert client.get(f"/attachments/{attachment_id}").status_code == 200
    removed = client.post_form(f"/attachments/{attachment_id}/remove")
    assert removed.status_code == 302
    assert client.get(f"/attachments/{attachment_id}").status_code == 404


def test_a_comment_s_author_attaches_an_image_shown_under_the_comment(app: Flask, client: Client, world: World) -> None:
    client.login(world.member_email)
    page = client.get(f"/proposals/{world.proposal_id}").get_data(as_text=True)
    assert f'action="/attachments/comment/{world.comment_id}"' in page
    response = _upload(client, f"/attachments/comment/{world.comment_id}", "photo.png", png_with_script(), "The shelf")
    assert response.status_code == 302 and f"#comment-{world.comment_id}" in response.location
    page = client.get(f"/proposals/{world.proposal_id}").get_data(as_text=True)
    comment = page.split(f'id="comment-{world.comment_id}"')[1]
    assert 'alt="The shelf"' in comment.split("</article>")[0]
    author: Client = app.test_client()  # type: ignore[assignment]
    author.login(world.author_email)
    refused = _upload(author, f"/attachments/comment/{world.comment_id}", "a.pdf", PDF)
    assert refused.status_code == 403


def test_an_image_without_a_description_is_refused_for_its_alternative_text(
    app: Flask, client: Client, world: World
) -> None:
    client.login(world.author_email)
    response = _upload(client, f"/attachments/proposal/{world.proposal_id}", "lot.jpg", jpeg_with_gps())
    assert response.status_code == 422
    assert "Describe what lot.jpg shows" in response.get_data(as_text=True) and _count(app) == 0


def test_the_api_uploads_lists_downloads_and_removes(app: Flask, client: Client, world: World) -> None:
    url = f"/api/v1/attachments/proposal/{world.proposal_id}"
    headers = {"Authorization": f"Bearer {world.author_token}"}
    created = client.post(
        url, data={"file": (io.BytesIO(jpeg_with_gps()), "lot.jpg"), "description": "The lot"}, headers=headers,
        content_type="multipart/form-data",
    )  # fmt: skip
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["media_type"] == "image/jpeg" and body["description"] == "The lot" and len(body["sha256"]) == 64
    listed = client.json_call("GET", url, token=world.author_token).get_json()
    assert [item["id"] for item in listed["items"]] == [body["id"]]
    content = client.get(body["content_url"], headers=headers)
    assert content.status_code == 200 and exif_of(content.get_data()) == {}
    refused = client.post(
        url, data={"file": (io.BytesIO(PDF), "x.png")}, headers=headers, content_type="multipart/form-data"
    )
    assert refused.status_code == 422
    assert refused.get_json()["error"]["fields"]["file"] == ["x.png is not a PNG image: it is a PDF document."]
    assert client.json_call("POST", url, {"file": "x"}, token=world.author_token).status_code == 422
    removed = client.json_call("DELETE", f"/api/v1/attachments/{body['id']}", token=world.author_token)
    assert removed.status_code == 200
    assert client.json_call("GET", url, token=world.author_token).get_json() == {"items": []}


def test_a_file_larger_than_allowed_is_refused_before_it_is_read(app: Flask, client: Client, world: World) -> None:
    client.login(world.author_email)
    app.config["ATTACHMENTS_MAX_BYTES"] = 2048
    try:
        response = _upload(client, f"/attachments/proposal/{world.proposal_id}", "big.pdf", PDF + b"0" * 100_000)
    finally:
        app.config["ATTACHMENTS_MAX_BYTES"] = 10 * 1024 * 1024
    assert response.status_code == 413 and _count(app) == 0
