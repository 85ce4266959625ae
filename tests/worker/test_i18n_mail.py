"""Notices and their mails in the recipient's language: their own (`User.language`), else the circle's default
(`Circle.language`), else English, whoever caused the change; written once per language and zone among a batch's
recipients, and wrapped at delivery in the same language.

The catalogues are merged later, so what is asserted is the locale (and zone) the words were written under, not
the German or Spanish words themselves.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import get_locale
from sqlalchemy import select

from fundcircle.auth.models import User
from fundcircle.extensions import db
from fundcircle.i18n import reading_zone
from fundcircle.inbox.models import Notification
from fundcircle.notices import OutboxNotice, notice_language, queue_notices
from fundcircle.outbox import notice_readings, render_notice
from tests.factories import make_circle, make_user


def _people(app: Flask) -> tuple[int, dict[str, User]]:
    """A circle whose default language is Spanish, and people who chose German (two, one in their own zone),
    English, or nothing."""
    circle = make_circle(make_user(name="Ada"))
    circle.language = "es"
    people = {
        "dora": make_user(name="Dora"),
        "dieter": make_user(name="Dieter"),
        "emma": make_user(name="Emma"),
        "sol": make_user(name="Sol"),
    }
    people["dora"].language = people["dieter"].language = "de"
    people["dieter"].time_zone = "Europe/Berlin"
    people["emma"].language = "en"
    db.session.commit()
    return circle.id, people


def test_a_notice_is_written_in_each_recipients_language_once_per_language_and_zone(app: Flask) -> None:
    with app.app_context():
        circle_id, people = _people(app)
        written: list[tuple[str, str]] = []

        def subject() -> str:
            reading = (str(get_locale()), reading_zone("UTC"))
            written.append(reading)
            return f"subject in {reading[0]} ({reading[1]})"

        queue_notices(
            list(people.values()),
            subject,
            lambda: f"body in {get_locale()}",
            kind="round.phase_changed",
            circle_id=circle_id,
            url=None,
        )
        db.session.commit()

        rows = {row.user_id: row for row in db.session.scalars(select(OutboxNotice))}
        said = {name: (rows[person.id].subject, rows[person.id].body) for name, person in people.items()}
        assert said == {
            "dora": ("subject in de (UTC)", "body in de"),
            "dieter": ("subject in de (Europe/Berlin)", "body in de"),
            "emma": ("subject in en (UTC)", "body in en"),
            "sol": ("subject in es (UTC)", "body in es"),  # chose nothing: the circle's default
        }
        # Once per language and zone, not once per person.
        assert sorted(written) == [("de", "Europe/Berlin"), ("de", "UTC"), ("en", "UTC"), ("es", "UTC")]
        # The inbox keeps the subject each person reads.
        inbox = {n.user_id: n.text for n in db.session.scalars(select(Notification))}
        assert inbox[people["sol"].id] == "subject in es (UTC)" and inbox[people["dora"].id] == "subject in de (UTC)"


def test_text_given_as_it_is_is_queued_as_it_is(app: Flask) -> None:
    with app.app_context():
        circle_id, people = _people(app)
        queue_notices(people.values(), "Plain", "Words", kind="round.phase_changed", circle_id=circle_id, url=None)
        db.session.commit()
        assert {(n.subject, n.body) for n in db.session.scalars(select(OutboxNotice))} == {("Plain", "Words")}


def test_the_mail_around_a_notice_is_written_in_its_recipients_language(app: Flask) -> None:
    with app.app_context():
        circle_id, people = _people(app)
        queue_notices(people.values(), "Subject", "Body", kind="round.phase_changed", circle_id=circle_id, url="/x")
        db.session.commit()
        notices = list(db.session.scalars(select(OutboxNotice).order_by(OutboxNotice.id)))
        by_user = {notice.user_id: notice for notice in notices}
        readings = notice_readings(notices)
        assert readings[by_user[people["dieter"].id].id] == ("de", "Europe/Berlin")
        assert readings[by_user[people["sol"].id].id] == ("es", None)
        assert readings[by_user[people["emma"].id].id] == ("en", None)

        _, html, _ = render_notice(by_user[people["dora"].id])
        assert '<html lang="de">' in html
        text, html, _ = render_notice(by_user[people["emma"].id])
        assert '<html lang="en">' in html
        # English reads as it always did.
        assert (
            "You get this because you asked to be told when a round you take part in moves to its next phase." in text
        )
        assert "Mail of this kind no more: " in text and "Open it in Fund Circle" in html


def test_the_language_is_the_persons_then_the_circles_then_english() -> None:
    assert notice_language("de", "es") == "de"
    assert notice_language(None, "es") == "es"
    assert notice_language(None, None) == "en"
    assert notice_language("xx", "yy") == "en"  # not a language Fund Circle speaks
