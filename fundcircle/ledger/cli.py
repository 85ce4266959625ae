from __future__ import annotations

import click
from flask.cli import AppGroup

from fundcircle.ledger.services import verify_ledger

ledger_cli = AppGroup("ledger", help="Check the audit ledger.")


def _parse_checkpoint(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    count, _, digest = value.partition(":")
    if not count.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise click.BadParameter("write it as COUNT:HASH, e.g. 120:3f2a… (64 hex characters)")
    return int(count), digest


@ledger_cli.command("verify")
@click.option("--circle", "circle_slug", default=None, help="Only this circle's chain (its short address).")
@click.option(
    "--checkpoint",
    callback=_parse_checkpoint,
    default=None,
    help="COUNT:HASH published earlier; the circle's chain must still pass through it (needs --circle).",
)
def verify_command(circle_slug: str | None, checkpoint: tuple[int, str] | None) -> None:
    """Recompute every hash chain and report the first entry that does not verify (exit status 1)."""
    from sqlalchemy import select

    from fundcircle.circles.models import Circle
    from fundcircle.extensions import db
    from fundcircle.ledger.chain import verify_chain
    from fundcircle.ledger.models import LedgerChain
    from fundcircle.ledger.services import ChainReport, stored_entries

    if checkpoint is not None and circle_slug is None:
        raise click.UsageError("--checkpoint names a point in one chain: give --circle as well.")
    if circle_slug is None:
        reports = verify_ledger()
    else:
        circle = db.session.scalar(select(Circle).where(Circle.slug == circle_slug))
        if circle is None:
            raise click.ClickException(f"There is no circle {circle_slug!r}.")
        chain = db.session.scalar(select(LedgerChain).where(LedgerChain.circle_id == circle.id))
        assert chain is not None
        result = verify_chain(
            stored_entries(chain.id), expected_head=(chain.head_seq, chain.head_hash), checkpoint=checkpoint
        )
        reports = [ChainReport(chain.id, circle.id, f"circle {circle.slug}", result)]
    total = 0
    failed = False
    for report in reports:
        result = report.result
        total += result.count
        if result.ok:
            click.echo(f"ok   {report.label}: {result.count} entries, head {result.head}")
        else:
            failed = True
            where = f"entry {result.bad_seq}" if result.bad_seq is not None else "the chain"
            click.echo(f"FAIL {report.label}: {where} does not verify: {result.problem}", err=True)
    if failed:
        raise SystemExit(1)
    click.echo(f"The ledger verifies: {total} entries in {len(reports)} chains.")
