from __future__ import annotations

import click
from flask.cli import AppGroup

from fundcircle import unit_of_work
from fundcircle.db import utcnow
from fundcircle.rounds.phases import PHASE_LABELS
from fundcircle.rounds.services import advance_due_rounds

rounds_cli = AppGroup("rounds", help="Rounds and their deadlines.")


@rounds_cli.command("tick")
def tick_command() -> None:
    """Move on every round whose phase deadline has passed (run it from cron, e.g. every 5 minutes)."""
    moved = advance_due_rounds(utcnow())
    unit_of_work.commit()  # and then the notices of the phase changes
    for round_ in moved:
        click.echo(f"{round_.title} (round {round_.id}): now {PHASE_LABELS[round_.phase]}")
    click.echo(f"{len(moved)} round(s) moved on.")
