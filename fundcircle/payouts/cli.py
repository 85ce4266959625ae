"""`flask payouts submit` and `flask payouts sync`, for a cron job or a systemd timer (the README shows both)."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from fundcircle.extensions import db
from fundcircle.payouts.models import STATUS_LABELS
from fundcircle.payouts.requesting import submit_due_payouts, sync_open_payouts

payouts_cli = AppGroup("payouts", help="Payouts on Open Collective.")


@payouts_cli.command("submit")
@click.option("--circle", "circle_id", type=int, default=None, help="Only this circle's payouts.")
def submit_command(circle_id: int | None) -> None:
    """Request every approved payout on Open Collective (once: each is looked up there first)."""
    handled = submit_due_payouts(circle_id=circle_id)
    for payout in handled:
        line = f"payout {payout.id}: {STATUS_LABELS[payout.status]}"
        if payout.expense_id:
            line += f" (expense {payout.expense_id})"
        if payout.status == "failed" and payout.failure_message:
            line += f": {payout.failure_message}"
        elif payout.outcome_unknown and payout.status == "requesting":
            line += ": the outcome is unknown; Open Collective will be asked before anything is sent again"
        click.echo(line)
    click.echo(f"{len(handled)} payout(s) handled.")
    db.session.remove()


@payouts_cli.command("sync")
@click.option("--circle", "circle_id", type=int, default=None, help="Only this circle's payouts.")
def sync_command(circle_id: int | None) -> None:
    """Follow every requested payout's expense on Open Collective, and refresh the circles' balances."""
    changed, problems = sync_open_payouts(circle_id=circle_id)
    for problem in problems:
        click.echo(problem, err=True)
    click.echo(f"{changed} payout(s) changed.")
    db.session.remove()
    if problems:
        sys.exit(1)
