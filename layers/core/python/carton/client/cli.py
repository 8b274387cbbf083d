"""`carton`: the command line over carton.client.

Exit status: 0 done; 1 the API refused, a download failed, or an archive did not verify;
2 bad usage, configuration or credentials.
"""

from __future__ import annotations

import importlib.metadata
import sys
from typing import Annotated

import httpx
import typer
from pydantic import ValidationError

from carton.client.client import ApiError, Client
from carton.client.commands.account import account
from carton.client.commands.assets import assets
from carton.client.commands.common import Session
from carton.client.commands.downloads import downloads
from carton.client.config import ConfigError, load_profile
from carton.client.output import Output
from carton.client.transfer import TransferError

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False, help=__doc__)
app.add_typer(assets, name="assets")
app.add_typer(downloads, name="downloads")
app.add_typer(account, name="account")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"carton {importlib.metadata.version('carton')}")
        raise typer.Exit


@app.callback()
def main_options(
    context: typer.Context,
    profile: Annotated[str | None, typer.Option(help="a profile of ~/.config/carton/config.toml")] = None,
    api_url: Annotated[
        str | None, typer.Option(help="the API (default: $CARTON_API_URL, the profile, make run's)")
    ] = None,
    token: Annotated[str | None, typer.Option(help="the API key (default: $CARTON_TOKEN, the profile)")] = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="results only: no progress, no notes")] = False,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
) -> None:
    if output not in ("table", "json"):
        raise typer.BadParameter("table or json", param_hint="--output")
    chosen = load_profile(profile, api_url, token)
    context.obj = Session(Client(chosen.api_url, chosen.token), Output(json=output == "json", quiet=quiet))
    context.call_on_close(context.obj.client.close)


def main() -> None:
    """The console script: one line on stderr for what went wrong, and the exit status."""
    try:
        app()
    except ApiError as error:
        typer.echo(f"carton: {error}", err=True)
        sys.exit(2 if error.is_authentication else 1)
    except ConfigError as error:
        typer.echo(f"carton: {error}", err=True)
        sys.exit(2)
    except TransferError as error:
        typer.echo(f"carton: {error}", err=True)
        sys.exit(1)
    except httpx.TransportError as error:
        typer.echo(f"carton: cannot reach the API ({error}); is it running (make run)?", err=True)
        sys.exit(1)
    except ValidationError as error:  # a request model refused the input before it was sent
        reasons = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in error.errors())
        typer.echo(f"carton: {reasons}", err=True)
        sys.exit(2)
