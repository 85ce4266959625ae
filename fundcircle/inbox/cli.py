"""`flask rounds remind`: the deadline reminders, from cron or the worker."""

from __future__ import annotations

import click

from fundcircle.db import utcnow
from fundcircle.inbox.services import send_deadline_reminders
from fundcircle.rounds.cli import rounds_cli


@rounds_cli.command("remind")
def remind_command() -> None:
    """Remind those with something left to do before each deadline that is near (each deadline once)."""
    sent = send_deadline_reminders(utcnow())
    click.echo(f"{sent} round deadline reminder(s) sent.")
