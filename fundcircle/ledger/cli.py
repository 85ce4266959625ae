from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from fundcircle.circles.models import Circle
from fundcircle.db import utcnow
from fundcircle.extensions import db
from fundcircle.ledger.chain import StoredEntry, VerifyResult, verify_chain
from fundcircle.ledger.checkpoints import make_due_checkpoints
from fundcircle.ledger.reading import (
    ChainReport,
    ExportError,
    export_csv,
    export_jsonl,
    parse_export_line,
    verify_ledger,
)
from fundcircle.ledger.signing import site_key

ledger_cli = AppGroup("ledger", help="Check and export the audit ledger.")


def _parse_checkpoint(_ctx: click.Context, _param: click.Parameter, value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    count, _, digest = value.partition(":")
    if not count.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise click.BadParameter("write it as COUNT:HASH, e.g. 120:3f2a… (64 hex characters)")
    return int(count), digest


def _circle(slug: str) -> Circle:
    circle = db.session.scalar(select(Circle).where(Circle.slug == slug))
    if circle is None:
        raise click.ClickException(f"There is no circle {slug!r}.")
    return circle


def _entries_of_file(path: Path) -> Iterator[StoredEntry]:
    with path.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, start=1):
            if line.strip():
                yield parse_export_line(line, number)


def _report(reports: list[ChainReport], checkpoint: tuple[int, str] | None) -> None:
    total, failed = 0, False
    for report in reports:
        result = report.result
        total += result.count
        if not result.ok:
            failed = True
            where = f"entry {result.bad_seq}" if result.bad_seq is not None else "the chain"
            click.echo(f"FAIL {report.label}: {where} does not verify: {result.problem}", err=True)
        elif report.mismatch is not None:
            failed = True
            click.echo(
                f"FAIL {report.label}: the chain verifies, but the circle's data disagrees with it: "
                f"{report.mismatch.sentence()}",
                err=True,
            )
        else:
            click.echo(f"ok   {report.label}: {result.count} entries, head {result.head}")
    _explain_checkpoint(reports, checkpoint)
    if failed:
        raise SystemExit(1)
    click.echo(f"The ledger verifies: {total} entries in {len(reports)} chain{'s' if len(reports) != 1 else ''}.")


def _explain_checkpoint(reports: list[ChainReport], checkpoint: tuple[int, str] | None) -> None:
    """Say what a check without a checkpoint cannot see, and what one with a checkpoint sees only through the chain:
    whoever can write to the database can recompute every hash after an edit, or cut entries off the end and move
    the head back, and the chain alone still verifies."""
    if checkpoint is None:
        click.echo(
            "Note: no checkpoint was given. A chain recomputed after an edit, or with its last entries removed, "
            "verifies like the real one; only a checkpoint kept elsewhere tells them apart. Every circle page and "
            "every notice e-mail shows the circle's latest checkpoint: check with --circle SLUG --checkpoint "
            "COUNT:HASH."
        )
        return
    count = checkpoint[0]
    after = max((report.result.count for report in reports), default=0) - count
    if after > 0:
        click.echo(
            f"Note: entries up to {count} are checked against the checkpoint; the {after} after it are checked only "
            "against the chain itself (a later checkpoint covers them)."
        )


@ledger_cli.command("verify")
@click.option("--circle", "circle_slug", default=None, help="Only this circle's chain (its short address).")
@click.option(
    "--file",
    "export_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Verify an exported JSON Lines file instead of the database (needs no access to the server).",
)
@click.option(
    "--checkpoint",
    callback=_parse_checkpoint,
    default=None,
    help="COUNT:HASH published earlier; the chain must still pass through it (with --circle or --file).",
)
def verify_command(circle_slug: str | None, export_file: Path | None, checkpoint: tuple[int, str] | None) -> None:
    """Recompute the hash chains and report the first entry that does not verify, then replay each circle's chain
    against its tables (results, payouts, memberships, ballots, consent outcomes) and name the first row that
    disagrees (exit status 1 for either)."""
    if export_file is not None:
        try:
            result: VerifyResult = verify_chain(_entries_of_file(export_file), checkpoint=checkpoint)
        except ExportError as error:
            raise click.ClickException(f"{export_file}: {error}") from None
        _report([ChainReport(0, None, f"file {export_file.name}", result)], checkpoint)
        return
    if checkpoint is not None and circle_slug is None:
        raise click.UsageError("--checkpoint names a point in one chain: give --circle or --file as well.")
    if circle_slug is None:
        _report(verify_ledger(), None)
        return
    _report(verify_ledger([_circle(circle_slug).id], include_site=False, checkpoint=checkpoint), checkpoint)


@ledger_cli.command("checkpoint")
def checkpoint_command() -> None:
    """Sign a checkpoint of every log that grew since its latest one a day ago or more (run it periodically), then
    send the checkpoints not yet sent to the circles' witnesses."""
    made = make_due_checkpoints(utcnow())
    click.echo(f"{made} checkpoint(s) made. The site's checkpoint key: {site_key().verifier}")


@ledger_cli.command("export")
@click.option("--circle", "circle_slug", required=True, help="The circle whose chain to export (its short address).")
@click.option("--format", "kind", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
def export_command(circle_slug: str, kind: str) -> None:
    """Write a circle's ledger to standard output, streamed: JSON Lines (verifiable with `verify --file`) or CSV."""
    circle = _circle(circle_slug)
    chunks = export_jsonl(circle.id) if kind == "jsonl" else export_csv(circle.id, circle.currency)
    for chunk in chunks:
        sys.stdout.write(chunk)
