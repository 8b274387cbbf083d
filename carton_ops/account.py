"""`make account ACCOUNT=<name> EMAIL=<admin e-mail>`: a new account, its first admin and
that admin's API key (printed once).

It invokes the IAM-only `admin` function — of the running local stack (through its local
Lambda Invoke endpoint, found in $CARTON_HOME/endpoints.json), or of a deployed stack when
CARTON_STACK names it (found through the stack's `AdminFunctionName` output, with the
usual AWS credentials and region). Same code path either way: one Lambda Invoke.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from carton.storage.schema import ADMIN_FUNCTION, ADMIN_FUNCTION_OUTPUT, API_URL_OUTPUT
from carton_local.lambdas import REGION
from carton_local.stack import DEFAULT_HOME, ENDPOINTS_FILE


class Failed(Exception):
    """Said to the operator on stderr, with a non-zero exit."""


def deployed(stack: str) -> tuple[Any, str, str | None]:
    """The Lambda client, the admin function's name and the API URL of a deployed stack."""
    try:
        found = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except (ClientError, BotoCoreError) as error:
        raise Failed(f"cannot read stack {stack!r}: {error}") from error
    outputs = {output["OutputKey"]: output["OutputValue"] for output in found.get("Outputs", [])}
    if ADMIN_FUNCTION_OUTPUT not in outputs:
        raise Failed(f"stack {stack!r} has no {ADMIN_FUNCTION_OUTPUT} output: deploy this version of Carton first")
    return boto3.client("lambda"), outputs[ADMIN_FUNCTION_OUTPUT], outputs.get(API_URL_OUTPUT)


def local(home: Path) -> tuple[Any, str, str | None]:
    """The Lambda client, the admin function's name and the API URL of the running local stack."""
    try:
        endpoints = json.loads((home / ENDPOINTS_FILE).read_text())
    except (OSError, ValueError) as error:
        raise Failed(
            f"no running local stack found ({home / ENDPOINTS_FILE}): start one with `make run`, "
            "or set CARTON_STACK to a deployed stack's name"
        ) from error
    client = boto3.client(
        "lambda",
        endpoint_url=endpoints["lambda_endpoint"],
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 (the local endpoint checks no signature)
    )
    return client, ADMIN_FUNCTION, endpoints.get("api_url")


def invoke(client: Any, function: str, event: dict[str, Any]) -> dict[str, Any]:
    try:
        response = client.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    except (ClientError, BotoCoreError) as error:
        raise Failed(f"cannot invoke {function}: {error}") from error
    answer: dict[str, Any] = json.loads(response["Payload"].read() or b"{}")
    if response.get("FunctionError"):
        raise Failed(f"{function} failed: {answer.get('errorType', 'error')}")
    return answer


def create_account(account: str, email: str, target: tuple[Any, str, str | None]) -> str:
    client, function, api_url = target
    answer = invoke(client, function, {"action": "create_account", "account": account, "email": email})
    if answer.get("status") != 201:
        problems = "; ".join(f"{field}: {', '.join(reasons)}" for field, reasons in answer.get("errors", {}).items())
        raise Failed(f"{answer.get('message', 'refused')}{f' ({problems})' if problems else ''}")
    lines = [
        f"Account {answer['account']} created; admin {answer['user']['email']}.",
        f"  Token    {answer['token']}   (shown once: store it now)",
    ]
    if api_url:
        lines.append(f"  API      {api_url.rstrip('/')}/api/v1")
    lines.append(f"  export CARTON_TOKEN={answer['token']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make account", description=__doc__.split("\n\n")[0])
    parser.add_argument("--account", default="", help="the new account's name (ACCOUNT=)")
    parser.add_argument("--email", default="", help="its first admin's e-mail (EMAIL=)")
    args = parser.parse_args(argv)
    missing = [name for name, value in (("ACCOUNT", args.account), ("EMAIL", args.email)) if not value.strip()]
    if missing:
        print(f"{' and '.join(missing)} required: make account ACCOUNT=<name> EMAIL=<admin e-mail>", file=sys.stderr)
        return 2
    try:
        stack = os.environ.get("CARTON_STACK")
        target = deployed(stack) if stack else local(Path(os.environ.get("CARTON_HOME") or DEFAULT_HOME))
        print(create_account(args.account.strip(), args.email.strip(), target))
    except Failed as failed:
        print(f"make account: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
