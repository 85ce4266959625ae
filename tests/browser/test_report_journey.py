"""Journey: the author of a funded, paid proposal writes its learning report, adds a photo to it, and everyone in
the circle reads it, photo included, on "What we learned". Keyboard only but for choosing the file; axe-core on
every page reached."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from flask import Flask
from PIL import Image
from playwright.sync_api import expect

from fundcircle.db import utcnow
from fundcircle.rounds.models import DEFAULT_REPORT_QUESTIONS
from tests.browser.conftest import on_browser_database
from tests.browser.support import Keys
from tests.services.test_learning_reports import People, funded, pay

pytestmark = on_browser_database


def test_the_author_writes_the_report_with_a_photo_and_the_circle_reads_it(
    app: Flask, journey: Any, tmp_path: Path
) -> None:
    with app.app_context():
        people = People()
        shed = funded(people, coauthor=False)
        pay(shed, utcnow())
        shed_id, circle_id = shed.id, people.circle.id
    photo = tmp_path / "shed.png"
    picture = io.BytesIO()
    Image.new("RGB", (320, 200), (40, 120, 60)).save(picture, "PNG")
    photo.write_bytes(picture.getvalue())
    story = journey("report")

    # Aurora opens her paid proposal: its report is due, with the round's questions.
    page = story.log_in("aurora@example.org")
    page.goto(f"/proposals/{shed_id}")
    story.seen(page, "report-due", screenshot=True)
    keys = Keys(page)
    keys.follow(page.get_by_role("link", name="Write the report"))
    story.seen(page, "write", screenshot=True)
    answers = ["We built the shed in four Saturdays.", "A rota keeps volunteers coming.", "Start before the rain.",
               "The cutting list is on our wiki."]  # fmt: skip
    for question, answer in zip(DEFAULT_REPORT_QUESTIONS, answers, strict=False):
        keys.type(page.get_by_label(question), answer)
    keys.follow(page.get_by_role("button", name="Send the report"))
    story.seen(page, "sent", screenshot=True)

    # On the report's page she adds a photo, describing what it shows.
    if page.get_by_role("link", name="Comments on the report").count():
        keys.follow(page.get_by_role("link", name="Comments on the report"))
        story.seen(page, "report", screenshot=True)
    keys.enter(page.get_by_text("Add a photo or a file"))
    page.get_by_label("File", exact=True).set_input_files(str(photo))
    keys.type(page.get_by_label("Description"), "The finished tool shed")
    keys.follow(page.get_by_role("button", name="Attach"))
    story.seen(page, "photo-added", screenshot=True)
    expect(page.get_by_role("img", name="The finished tool shed")).to_be_visible()

    # Mia, a member, reads it on "What we learned", the photo shown in the page.
    mia = story.log_in("mia@example.org")
    mia.goto(f"/circles/{circle_id}/learned")
    story.seen(mia, "learned", screenshot=True)
    expect(mia.get_by_role("heading", name="Learning report: Tool shed")).to_be_visible()
    expect(mia.get_by_text("A rota keeps volunteers coming.")).to_be_visible()
    image = mia.get_by_role("img", name="The finished tool shed")
    expect(image).to_be_visible()
    assert image.evaluate("element => element.complete && element.naturalWidth") == 320
