"""What every command gets: the client and where its output goes."""

from __future__ import annotations

import typer

from carton.client.client import Client
from carton.client.output import Output


class Session:
    """What every command gets: the client and where output goes."""

    def __init__(self, client: Client, output: Output) -> None:
        self.client, self.output = client, output


def session(context: typer.Context) -> Session:
    found: Session = context.obj
    return found
