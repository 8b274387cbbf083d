"""`python -m carton_local` (what `make run` starts): the local stack in the foreground."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path

from carton.shared.observability import logger
from carton.web.routes import API_PREFIX
from carton_local.demo import DEMO_ACCOUNT, DEMO_ADMIN
from carton_local.stack import DEFAULT_HOME, LocalStack
from carton_local.state import STATE_DIR, StateDir, StateInUse


def banner(stack: LocalStack) -> str:
    api = f"{stack.url}{API_PREFIX}"
    return "\n".join(
        [
            "Carton local stack is up (embedded AWS emulator, no Docker, no AWS account).",
            f"  API      {api}",
            f"  Token    {stack.token}",
            f"           account {DEMO_ACCOUNT}, admin {DEMO_ADMIN}",
            f"  Assets   {', '.join(stack.demo_asset_ids)}",
            f"  Docs     {api}/docs (Swagger UI, works offline), {api}/openapi.json",
            f"  Outbox   {api}/_local/outbox (the e-mails Carton sent; needs the key)",
            *state_lines(stack),
            "",
            "To follow the README's walk, paste this into another shell:",
            f"  export CARTON_PORT={stack.port} CARTON_TOKEN={stack.token}",
            "",
            "Ctrl-C stops it.",
        ]
    )


def state_lines(stack: LocalStack) -> list[str]:
    if stack.state_dir is None:
        return []
    lines = [
        f"  State    {stack.state_dir.resolve()}",
        f"           {stack.restored.summary()}; saved every {stack.save_interval:g} s and at exit",
        "           (`make reset` empties it)",
    ]
    if stack.restored.unfinished_downloads:
        count = len(stack.restored.unfinished_downloads)
        lines.append(f"           {count} download(s) were packaging when it stopped: marked failed (interrupted)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Carton on an embedded AWS emulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("CARTON_PORT", "3000")))
    parser.add_argument("--quiet", action="store_true", help="no line per request or workflow step")
    parser.add_argument(
        "--verbose", action="store_true", help="also the functions' own JSON logs (Powertools, INFO and up)"
    )
    parser.add_argument("--reset", action="store_true", help="empty the state directory ($CARTON_HOME/state) and exit")
    args = parser.parse_args()
    home = Path(os.environ.get("CARTON_HOME") or DEFAULT_HOME)
    if args.reset:
        state = StateDir(home / STATE_DIR)
        try:
            state.reset()
        except StateInUse as error:
            sys.exit(f"not reset: {error}")
        print(f"Emptied {state.path.resolve()}: the next start begins afresh.")
        return
    # The functions log JSON for CloudWatch; in a terminal only their warnings and errors
    # show, beside the stack's own lines, unless asked for (POWERTOOLS_LOG_LEVEL wins).
    logger.setLevel(os.environ.get("POWERTOOLS_LOG_LEVEL") or ("INFO" if args.verbose else "WARNING"))
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    try:
        stack = LocalStack(
            host=args.host,
            port=args.port,
            bootstrap_token=os.environ.get("CARTON_BOOTSTRAP_TOKEN") or None,
            access_log=not args.quiet,
            home=home,
        ).start()
    except StateInUse as error:
        sys.exit(f"Carton local stack not started: {error}")
    print(banner(stack), flush=True)
    # Waking up now and then returns the main thread to Python code, where signal handlers run:
    # a wait without a timeout can leave SIGTERM unhandled while other threads keep the GIL busy.
    while not stopping.wait(timeout=0.5):
        pass
    print("Stopping Carton local stack…", flush=True)
    stack.stop()


if __name__ == "__main__":
    main()
