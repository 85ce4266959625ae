"""Attaching and removing files through the services, on both databases: who may, what is stored, what the ledger
holds (fundcircle/attachments/services.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from fundcircle.attachments import services
from fundcircle.attachments.models import Attachment
from fundcircle.db import utcnow
from fundcircle.deliberation.services import add_comment, delete_comment
from fundcircle.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from fundcircle.extensions import db
from fundcircle.ledger.models import LedgerEntry
from fundcircle.proposals.services import withdraw_proposal
from fundcircle.rounds.services import advance_round
from tests.attachment_files import GPS_IFD, PDF, SCRIPT, exif_of, jpeg_with_gps, png_with_script, size_of
from tests.factories import add_member, make_circle, make_proposal, make_round, make_user


@pytest.fixture
def store_folder(app: Flask, tmp_path: Path) -> Iterator[Path]:
    """The attachments of this test in a folder of its own."""
    app.config["ATTACHMENTS_FOLDER"] = str(tmp_path / "attachments")
    app.extensions.pop("fundcircle-attachment-store", None)
    yield tmp_path / "attachments"
    app.config["ATTACHMENTS_FOLDER"] = ""
    app.extensions.pop("fundcircle-attachment-store", None)


@pytest.fixture
def world(ctx: Flask, store_folder: Path) -> dict[str, Any]:
    admin = make_user(name="Admin")
    circle = make_circle(admin)
    author, other = make_user(name="Author"), make_user(name="Other member")
    add_member(circle, author, ["member"], by=admin)
    add_member(circle, other, ["member"], by=admin)
    round_ = make_round(circle, admin)
    advance_round(admin, round_, "proposals", utcnow())
    proposal = make_proposal(round_, author)
    outsider = make_user(name="Outsider")
    make_circle(outsider)
    db.session.commit()
    return {"admin": admin, "author": author, "other": other, "outsider": outsider, "proposal": proposal}


def _attach(actor: Any, kind: str, owner_id: int, name: str, content: bytes, description: str = "") -> Attachment:
    attachment = services.attach_file(actor, kind, owner_id, services.Upload(name, content, description), now=utcnow())
    db.session.commit()
    return attachment


def test_the_author_attaches_a_pdf_and_the_ledger_holds_its_hash(world: dict[str, Any], store_folder: Path) -> None:
    proposal = world["proposal"]
    attachment = _attach(world["author"], "proposal", proposal.id, "quote.pdf", PDF, "The carpenter's quote")
    assert (attachment.media_type, attachment.size, attachment.width) == ("application/pdf", len(PDF), None)
    assert attachment.sha256 == hashlib.sha256(PDF).hexdigest()
    assert (store_folder / attachment.sha256[:2] / attachment.sha256).read_bytes() == PDF
    entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "attachment.added")).one()
    assert entry.data["sha256"] == attachment.sha256 and entry.data["proposal"] == proposal.id
    assert (entry.subject_type, entry.subject_id, entry.actor_id) == ("attachment", attachment.id, world["author"].id)
    assert services.content_of(attachment) == PDF


def test_an_image_is_stored_re_encoded_without_its_gps_position_and_the_ledger_hashes_the_stored_bytes(
    world: dict[str, Any],
) -> None:
    original = jpeg_with_gps()
    assert GPS_IFD in exif_of(original)
    attachment = _attach(world["author"], "proposal", world["proposal"].id, "site.jpg", original, "The empty lot")
    stored = services.content_of(attachment)
    assert stored != original and exif_of(stored) == {}
    assert b"taken at home" not in stored and b"Camera maker" not in stored
    assert (attachment.width, attachment.height) == (64, 32) == size_of(stored)
    entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "attachment.added")).one()
    assert entry.data["sha256"] == hashlib.sha256(stored).hexdigest() == attachment.sha256


def test_an_image_turned_by_its_exif_stands_upright_and_a_large_one_is_scaled_down(
    world: dict[str, Any], app: Flask
) -> None:
    turned = _attach(
        world["author"], "proposal", world["proposal"].id, "a.jpg", jpeg_with_gps(60, 20, orientation=6), "Turned"
    )
    assert (turned.width, turned.height) == (20, 60)
    app.config["ATTACHMENTS_MAX_DIMENSION"] = 50
    try:
        large = _attach(world["author"], "proposal", world["proposal"].id, "b.png", png_with_script(200, 100), "Wide")
    finally:
        app.config["ATTACHMENTS_MAX_DIMENSION"] = 2048
    assert (large.width, large.height) == (50, 25)


def test_a_png_with_a_script_appended_is_stored_without_it(world: dict[str, Any]) -> None:
    attachment = _attach(world["author"], "proposal", world["proposal"].id, "logo.png", png_with_script(), "Logo")
    stored = services.content_of(attachment)
    assert SCRIPT not in stored and b"secret note" not in stored
    assert stored.startswith(b"\x89PNG") and size_of(stored) == (20, 10)


@pytest.mark.parametrize(
    ("name", "content", "description", "field", "message"),
    [
        ("x.png", PDF, "A picture", "file", "x.png is not a PNG image: it is a PDF document."),
        ("photo.jpg", jpeg_with_gps(), "", "description", "Describe what photo.jpg shows"),
        ("empty.pdf", b"", "", "file", "empty.pdf is empty"),
        ("broken.png", b"\x89PNG\r\n\x1a\nnot really", "Broken", "file", "broken.png could not be read as a PNG image"),
    ],
)
def test_a_file_that_cannot_be_attached_is_refused_and_nothing_is_stored(
    world: dict[str, Any], store_folder: Path, name: str, content: bytes, description: str, field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        services.attach_file(
            world["author"], "proposal", world["proposal"].id, services.Upload(name, content, description), now=utcnow()
        )
    assert refused.value.message.startswith(message) and field in refused.value.fields
    db.session.rollback()
    assert db.session.scalars(select(Attachment)).all() == [] and not store_folder.exists()


def test_oversized_files_and_images_with_too_many_pixels_are_refused(world: dict[str, Any], app: Flask) -> None:
    app.config.update(ATTACHMENTS_MAX_BYTES=100, ATTACHMENTS_MAX_PIXELS=1_000_000)
    try:
        with pytest.raises(ValidationFailed, match=r"quote.pdf is 1 KB; files may be at most 1 KB"):
            services.attach_file(
                world["author"], "proposal", world["proposal"].id, services.Upload("quote.pdf", PDF * 5), now=utcnow()
            )
        app.config["ATTACHMENTS_MAX_BYTES"] = 10 * 1024 * 1024
        with pytest.raises(ValidationFailed, match=r"big.png is 2000 × 1000 pixels; images may have at most 1 million"):
            services.attach_file(
                world["author"], "proposal", world["proposal"].id,
                services.Upload("big.png", png_with_script(2000, 1000), "Big"), now=utcnow(),
            )  # fmt: skip
    finally:
        app.config.update(ATTACHMENTS_MAX_BYTES=10 * 1024 * 1024, ATTACHMENTS_MAX_PIXELS=25_000_000)


def test_only_the_author_may_attach_to_a_proposal_and_outsiders_do_not_find_it(world: dict[str, Any]) -> None:
    proposal_id = world["proposal"].id
    with pytest.raises(PermissionDenied, match="Only the proposal's authors"):
        services.attach_file(world["other"], "proposal", proposal_id, services.Upload("q.pdf", PDF), now=utcnow())
    with pytest.raises(NotFound):
        services.attach_file(world["outsider"], "proposal", proposal_id, services.Upload("q.pdf", PDF), now=utcnow())
    with pytest.raises(NotFound):
        services.attach_file(world["author"], "proposal", 999_999, services.Upload("q.pdf", PDF), now=utcnow())
    withdraw_proposal(world["author"], world["proposal"], utcnow())
    db.session.commit()
    with pytest.raises(Conflict, match="withdrawn"):
        services.attach_file(world["author"], "proposal", proposal_id, services.Upload("q.pdf", PDF), now=utcnow())


def test_a_co_author_attaches_to_the_proposal_once_they_accepted(world: dict[str, Any]) -> None:
    """Co-authors edit the proposal, so they attach its files too; an invitation alone is not enough."""
    from fundcircle.proposals.coauthors import accept_coauthorship, invite_coauthor

    proposal, other = world["proposal"], world["other"]
    invite_coauthor(world["author"], proposal, other, utcnow())
    db.session.commit()
    with pytest.raises(PermissionDenied, match="Only the proposal's authors"):
        services.attach_file(other, "proposal", proposal.id, services.Upload("plan.pdf", PDF), now=utcnow())
    accept_coauthorship(other, proposal, utcnow())
    db.session.commit()
    attachment = _attach(other, "proposal", proposal.id, "plan.pdf", PDF)
    assert (attachment.uploaded_by_id, attachment.owner_id) == (other.id, proposal.id)


def test_a_comment_s_author_attaches_to_it_and_a_deleted_comment_s_files_are_gone(world: dict[str, Any]) -> None:
    comment = add_comment(
        world["other"], world["proposal"], "See the plan.", parent_id=None, question=False, now=utcnow()
    )
    db.session.commit()
    with pytest.raises(PermissionDenied, match="Only the comment's author"):
        services.attach_file(world["author"], "comment", comment.id, services.Upload("q.pdf", PDF), now=utcnow())
    attachment = _attach(world["other"], "comment", comment.id, "plan.pdf", PDF)
    entry = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "attachment.added")).one()
    assert entry.data["comment"] == comment.id and entry.data["proposal"] == world["proposal"].id
    assert services.get_viewable_attachment(attachment.id, world["author"]).id == attachment.id
    delete_comment(world["other"], comment, utcnow())
    db.session.commit()
    with pytest.raises(NotFound):
        services.get_viewable_attachment(attachment.id, world["author"])


def test_the_uploader_or_an_admin_may_remove_and_nobody_twice(world: dict[str, Any]) -> None:
    proposal_id = world["proposal"].id
    first = _attach(world["author"], "proposal", proposal_id, "a.pdf", PDF)
    second = _attach(world["author"], "proposal", proposal_id, "b.txt", b"notes\n")
    with pytest.raises(PermissionDenied, match="Only the person who attached the file, or the circle's admins"):
        services.remove_attachment(world["other"], first, now=utcnow())
    with pytest.raises(PermissionDenied):
        services.remove_attachment(world["outsider"], first, now=utcnow())
    services.remove_attachment(world["author"], first, now=utcnow())
    services.remove_attachment(world["admin"], second, now=utcnow())
    db.session.commit()
    with pytest.raises(Conflict, match="removed already"):
        services.remove_attachment(world["admin"], first, now=utcnow())
    assert services.attachments_of("proposal", [proposal_id]) == {proposal_id: []}
    removed = db.session.scalars(select(LedgerEntry).where(LedgerEntry.action == "attachment.removed")).all()
    assert [entry.data["sha256"] for entry in removed] == [first.sha256, second.sha256]
    with pytest.raises(NotFound):
        services.get_viewable_attachment(first.id, world["author"])


def test_a_draft_s_files_are_its_author_s_alone(world: dict[str, Any]) -> None:
    draft = make_proposal(world["proposal"].round, world["author"], submit=False, title="Draft idea")
    attachment = _attach(world["author"], "proposal", draft.id, "idea.txt", b"an idea\n")
    assert services.get_viewable_attachment(attachment.id, world["author"]).id == attachment.id
    for viewer in (world["other"], world["admin"], world["outsider"], None):
        with pytest.raises(NotFound):
            services.get_viewable_attachment(attachment.id, viewer)


def test_the_same_bytes_attached_twice_are_stored_once(world: dict[str, Any], store_folder: Path) -> None:
    first = _attach(world["author"], "proposal", world["proposal"].id, "a.pdf", PDF)
    second = _attach(world["author"], "proposal", world["proposal"].id, "copy.pdf", PDF)
    assert first.sha256 == second.sha256 and first.id != second.id
    assert [path.name for path in store_folder.rglob("*") if path.is_file()] == [first.sha256]
