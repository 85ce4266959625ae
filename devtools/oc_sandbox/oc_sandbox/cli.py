"""`flask --app fundcircle oc-sandbox`: run the local Open Collective sandbox in the foreground (tests, the demo).

Flask finds this command through the `flask.commands` entry point of this distribution (devtools/oc_sandbox), so the
product never imports it and a production install, which does not have this distribution, has no such command. Where
it is installed and the app's config says PRODUCTION, `flask --help` does not list it and running it is refused. The
sandbox itself, and so graphql-core, is imported only when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from flask.cli import ScriptInfo, with_appcontext

from oc_sandbox import DEFAULT_EXPENSE_TYPES


def _app_is_production() -> bool:
    """Whether the app that `flask` loads says PRODUCTION. An app that does not load counts as not production: `flask`
    has already printed why, and running the command would say it again."""
    ctx = click.get_current_context(silent=True)
    info = ctx.find_object(ScriptInfo) if ctx is not None else None
    if info is None:
        return False
    try:
        app = info.load_app()
    except Exception:
        return False
    return bool(app.config.get("PRODUCTION"))


class DevelopmentCommand(click.Command):
    """A command that a production app does not offer: hidden from `flask --help` when the app says PRODUCTION.

    Flask loads plugin commands before it loads the app, so whether the command is shown is decided when it is listed,
    from the app that `flask` has loaded by then. Hiding is only what an operator sees; the command itself refuses to
    run in production as well.
    """

    @property
    def hidden(self) -> bool:
        return _app_is_production()

    @hidden.setter
    def hidden(self, value: bool) -> None:
        """click sets `hidden` when it makes the command; here it follows the app instead, so the value is unused."""


def _split_types(_ctx: click.Context, _param: click.Parameter, value: str) -> list[str]:
    types = [t.strip().upper() for t in value.split(",") if t.strip()]
    if not types:
        raise click.BadParameter("name at least one expense type, e.g. GRANT,INVOICE,RECEIPT")
    return types


@click.command(
    "oc-sandbox",
    cls=DevelopmentCommand,
    help="Serve a local Open Collective stand-in (no money moves). Never in production.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=5050, show_default=True)
@click.option("--collective", required=True, help="Slug of the sandbox collective.")
@click.option("--token", required=True, help="Personal token whose user administers the collective and its host.")
@click.option("--balance-minor", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--currency", default="EUR", show_default=True)
@click.option("--name", default=None, help="The collective's name (default: its slug).")
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="JSON file that keeps the sandbox's state across restarts (default: in memory).",
)
@click.option("--expense-types", default=",".join(DEFAULT_EXPENSE_TYPES), show_default=True, callback=_split_types)
@click.option(
    "--payee-account",
    "payee_accounts",
    multiple=True,
    help="Another account slug the token's user administers (may be given several times).",
)
@click.option(
    "--other-account",
    "other_accounts",
    multiple=True,
    help="An account somebody else administers: a payee the token's user does not (Open Collective then takes an "
    "invite draft, which the host page completes as that account's admins would).",
)
@click.option(
    "--two-factor/--no-two-factor",
    default=False,
    help="The token's user has two-factor authentication (and the token no “Advanced privileges”).",
)
@click.option("--webhook", "webhooks", multiple=True, help="Loopback URL to receive collective.expense.* webhooks.")
@click.option(
    "--app-url",
    default=None,
    help="Fund Circle's address, for the host page's link back (default: the app's BASE_URL).",
)
@with_appcontext
def oc_sandbox_command(
    host: str,
    port: int,
    collective: str,
    token: str,
    balance_minor: int,
    currency: str,
    name: str | None,
    state_file: Path | None,
    expense_types: list[str],
    payee_accounts: tuple[str, ...],
    other_accounts: tuple[str, ...],
    two_factor: bool,
    webhooks: tuple[str, ...],
    app_url: str | None,
) -> None:
    if current_app.config.get("PRODUCTION"):
        click.echo(
            "Refusing to run the Open Collective sandbox: FUNDCIRCLE_ENV is production. "
            "The sandbox is for tests and the demo only.",
            err=True,
        )
        raise SystemExit(1)
    from oc_sandbox.sandbox import GRAPHQL_PATH, Sandbox, is_loopback, serve

    sandbox = Sandbox(state_file=state_file)
    try:
        sandbox.add_collective(
            collective,
            admin_token=token,
            name=name,
            currency=currency.upper(),
            balance_minor=balance_minor,
            expense_types=expense_types,
            payee_accounts=payee_accounts,
            webhooks=webhooks,
            two_factor=two_factor,
            other_accounts=other_accounts,
        )
    except ValueError as error:
        raise click.ClickException(str(error)) from error
    if not is_loopback(host):
        click.echo(
            f"Warning: serving on {host}, not only on this machine. Anyone who can reach it sees the page.", err=True
        )
    app_url = app_url or current_app.config.get("BASE_URL") or None
    server = serve(sandbox, host=host, port=port, quiet=False, app_url=app_url)
    click.echo(f"Open Collective sandbox — no money moves: http://{host}:{server.server_port}{GRAPHQL_PATH}")
    click.echo(f"Host controls: http://{host}:{server.server_port}/   collective: {collective}")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sandbox.wait_for_webhooks()
