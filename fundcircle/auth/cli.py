from __future__ import annotations

import click
from flask.cli import AppGroup

from fundcircle.auth import services
from fundcircle.errors import FundCircleError
from fundcircle.extensions import db

user_cli = AppGroup("user", help="Manage accounts.")
token_cli = AppGroup("token", help="Manage personal API tokens.")


@user_cli.command("create")
@click.option("--email", required=True)
@click.option("--password", required=True, help="At least 10 characters.")
@click.option("--name", default=None, help="Defaults to the part of the address before the @.")
@click.option("--superuser", is_flag=True, help="May create circles.")
def create_user_command(email: str, password: str, name: str | None, superuser: bool) -> None:
    """Create an account."""
    try:
        user = services.create_user(
            None,
            email=email,
            name=name or email.split("@")[0],
            password=password,
            superuser=superuser,
            via="cli",
        )
    except FundCircleError as error:
        db.session.rollback()
        raise click.ClickException(f"{error.field + ': ' if error.field else ''}{error.message}") from None
    db.session.commit()
    click.echo(f"Created {'superuser' if superuser else 'user'} {user.email} (id {user.id}).")


@token_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", default="command line", show_default=True, help="What the token is for.")
def create_token_command(email: str, name: str) -> None:
    """Create a personal API token and print it (it is shown only this once)."""
    user = services.find_user_by_email(email)
    if user is None:
        raise click.ClickException(f"There is no account with the address {email}.")
    _, token = services.create_api_token(user, name)
    db.session.commit()
    click.echo(token)
