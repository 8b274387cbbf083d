"""The local stack: one process holding the emulated AWS account and Carton on it."""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import threading
from dataclasses import dataclass, field
from email.utils import parseaddr
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

from moto import mock_aws

from carton.accounts.keys import create_account, issue_token, token_hash
from carton.assets.service import store_bytes
from carton.shared import aws, config
from carton.shared.errors import Conflict, NotFound
from carton.storage.schema import S3_FEEDS
from carton.store import Store
from carton_local.console import StepLog
from carton_local.demo import DEMO_ACCOUNT, DEMO_ADMIN, DEMO_ASSETS
from carton_local.executions import ExecutionWatcher, SweepTimer
from carton_local.gateway import gateway_server
from carton_local.hardening import harden
from carton_local.lambdas import REGION, FunctionError, LocalFunctions, invoke_server
from carton_local.poller import QueuePoller
from carton_local.resources import LocalResources, create_all
from carton_local.s3_server import S3Server
from carton_local.state import (
    CURSOR_KEY_FILE,
    DEMO_TOKEN_FILE,
    STATE_DIR,
    Restored,
    StateDir,
    StateSaver,
    restore,
)

# The local stack's sender; on AWS the deploying team sets a verified one (mail_from).
LOCAL_MAIL_FROM = "Carton <no-reply@carton.local>"
# The local stack's own directory (CARTON_HOME) and, in it, how to reach a running stack.
DEFAULT_HOME = ".carton"
ENDPOINTS_FILE = "endpoints.json"
# How often the state is saved when something changed (and always at stop).
SAVE_INTERVAL_SECONDS = 10.0
SWEEP_INTERVAL_SECONDS = 60.0
# The error a download gets when a restart finds it unfinished (its workflow did not survive).
# (A PackagingError's "code: sentence" is what the failure step records as it is.)
INTERRUPTED = {
    "Error": "PackagingError",
    "Cause": "interrupted: the local stack stopped while this download was being packaged; create it again",
}
MOTO_CONFIG = {
    "stepfunctions": {"execute_state_machine": True},
    # Step Functions' Lambda tasks leave moto and reach our local Invoke endpoint.
    "core": {"passthrough": {"services": ["lambda"]}},
}


@dataclass
class LocalStack:
    host: str = "127.0.0.1"
    port: int = 3000
    bootstrap_token: str | None = None
    access_log: bool = False
    token: str = ""
    resources: LocalResources | None = None
    demo_asset_ids: list[str] = field(default_factory=list)
    # Where a running stack says how to reach it (`make account` reads it) and keeps its state
    # (home/state, restored at start, saved while it runs); None: nowhere, nothing kept.
    home: Path | None = None
    save_interval: float = SAVE_INTERVAL_SECONDS
    # How often the sweeper runs (every SWEEP_EVERY_MINUTES on AWS; sooner here, it is cheap).
    sweep_interval: float = SWEEP_INTERVAL_SECONDS
    # False leaves moto as it is (thread-unsafe, leaking): only to measure what hardening changes.
    harden_emulator: bool = True
    restored: Restored = field(default_factory=Restored)
    _servers: list[ThreadingHTTPServer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _state: StateDir | None = None
    _saver: StateSaver | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def state_dir(self) -> Path | None:
        return None if self.home is None else self.home / STATE_DIR

    def start(self) -> LocalStack:
        if self.state_dir is not None:
            self._state = StateDir(self.state_dir)
            self._state.lock()  # before anything starts: a second stack on the same home stops here
        os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
        os.environ["AWS_REGION"] = os.environ["AWS_DEFAULT_REGION"] = REGION
        # Metrics would print an EMF blob per invocation; X-Ray has no daemon here.
        os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
        os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        if self.harden_emulator:
            harden()
        self._mock = mock_aws(config=cast(Any, MOTO_CONFIG))
        self._mock.start()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto server's access log
        # The emulated state machine logs every task failure it catches (a step that found its
        # download deleted, a retried fault) at ERROR: the console's step lines say it better.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        # moto's server, behind a check of POST policies: moto stores any upload, S3 enforces them.
        self._moto = S3Server(self.host, 0)
        self._moto.start()
        moto_host, moto_port = self._moto.get_host_and_port()
        # Presigned URLs must be real URLs a client can fetch: S3 goes through moto's server.
        os.environ["AWS_ENDPOINT_URL_S3"] = f"http://{moto_host}:{moto_port}"

        functions = LocalFunctions()
        if self.access_log:
            functions.observer = StepLog()
        # Bound now (its port goes into links and e-mails), served once everything is ready.
        gateway = gateway_server(functions, self.host, self.port, access_log=self.access_log)
        self.port = gateway.server_address[1]
        invoker = invoke_server(functions, self.host)
        self._serve(invoker)
        os.environ["AWS_ENDPOINT_URL_LAMBDA"] = f"http://{self.host}:{invoker.server_address[1]}"

        self.resources = create_all()
        snapshot = self._state.read() if self._state is not None else None
        if snapshot is not None:
            self.restored = restore(snapshot)
            for dropped in self.restored.dropped:
                print(f"warning: the saved state held a {dropped} the stack no longer defines", file=sys.stderr)
        if self._state is not None:
            self._saver = StateSaver(self._state, self.save_interval)
            self._saver.mark_saved()
        cursor_key = self._state.secret(CURSOR_KEY_FILE) if self._state is not None else None
        os.environ.update(
            {
                config.ENV_TABLE: self.resources.table,
                config.ENV_ASSETS_BUCKET: self.resources.buckets["assets"],
                config.ENV_ARCHIVES_BUCKET: self.resources.buckets["archives"],
                config.ENV_STATE_MACHINE: self.resources.state_machine_arn,
                # Kept with the state: paging links stay valid across a restart.
                config.ENV_CURSOR_KEY: cursor_key or secrets.token_urlsafe(32),
            }
        )
        os.environ[config.ENV_PUBLIC_BASE_URL] = self.url
        os.environ.setdefault(config.ENV_MAIL_FROM, LOCAL_MAIL_FROM)
        config.settings.cache_clear()
        aws.reset()
        # moto's SES, like SES itself, only sends from verified identities.
        aws.ses().verify_email_identity(EmailAddress=parseaddr(os.environ[config.ENV_MAIL_FROM])[1])
        self._fail_unfinished(functions)
        self._bootstrap()

        for feed in S3_FEEDS:
            QueuePoller(functions, self.resources.queues[feed.name], feed.function, self._stop, feed.batch_size).start()
        ExecutionWatcher(functions, self.resources.state_machine_arn, self._stop).start()
        SweepTimer(functions, self.sweep_interval, self._stop).start()
        if self._saver is not None:
            self._saver.start()
        self._serve(gateway)
        if self.home is not None:
            self.home.mkdir(parents=True, exist_ok=True)
            self.endpoints_file.write_text(
                json.dumps({"api_url": self.url, "lambda_endpoint": os.environ["AWS_ENDPOINT_URL_LAMBDA"]}) + "\n"
            )
        return self

    @property
    def endpoints_file(self) -> Path:
        return (self.home or Path()) / ENDPOINTS_FILE

    def _serve(self, server: ThreadingHTTPServer) -> None:
        self._servers.append(server)
        threading.Thread(target=server.serve_forever, name=type(server).__name__, daemon=True).start()

    def _fail_unfinished(self, functions: LocalFunctions) -> None:
        """Downloads a restart finds pending or packaging lost their workflow with the stop:
        each fails (upload aborted, plan removed, error recorded) as the workflow's own
        failure step would do it."""
        for account_id, download_id in self.restored.unfinished_downloads:
            event = {"account_id": account_id, "download_id": download_id, "error": INTERRUPTED}
            try:
                functions.invoke("workflow_fail", event)
            except FunctionError as error:
                print(f"warning: could not fail unfinished download {download_id}: {error}", file=sys.stderr)

    def _bootstrap(self) -> None:
        """The demo account, its admin, a key and the demo assets: made on the first start,
        found again on a restart (nothing duplicated)."""
        store = Store()
        self.token = self._demo_key(store)
        for asset_id, filename, content_type, data in DEMO_ASSETS:
            if store.get_asset(DEMO_ACCOUNT, asset_id) is None:
                store_bytes(store, DEMO_ACCOUNT, asset_id, filename, content_type, data)
            self.demo_asset_ids.append(asset_id)

    def _demo_key(self, store: Store) -> str:
        """A working key of the demo admin: CARTON_BOOTSTRAP_TOKEN when given (added to the
        account if it is not one of its keys yet), else the key the state directory keeps."""
        kept = self._state.secret(DEMO_TOKEN_FILE, make=False) if self._state is not None else None
        wanted = self.bootstrap_token or kept
        try:
            _, _, secret = create_account(store, DEMO_ACCOUNT, DEMO_ADMIN, wanted)
        except Conflict:
            secret = self._existing_demo_key(store, wanted)
        if self._state is not None and self.bootstrap_token is None and secret != kept:
            self._state.keep_secret(DEMO_TOKEN_FILE, secret)
        return secret

    @staticmethod
    def _existing_demo_key(store: Store, wanted: str | None) -> str:
        principal = store.principal_for_token_hash(token_hash(wanted)) if wanted else None
        try:
            store.get_account(DEMO_ACCOUNT)
        except NotFound:
            owner = principal.account_id if principal is not None else "another account"
            raise RuntimeError(f"CARTON_BOOTSTRAP_TOKEN is already a key of {owner}; choose another") from None
        if wanted and principal is not None:
            if principal.account_id != DEMO_ACCOUNT:
                raise RuntimeError(
                    f"CARTON_BOOTSTRAP_TOKEN is a key of account {principal.account_id}, not {DEMO_ACCOUNT}"
                )
            return wanted
        # A restart: the account is there, this key is not (new, or revoked meanwhile).
        admin = store.get_user(DEMO_ACCOUNT, "admin")
        _, secret = issue_token(store, admin, wanted, name="local stack key")
        return secret

    def stop(self) -> None:
        self._stop.set()
        if self.home is not None:
            self.endpoints_file.unlink(missing_ok=True)
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._moto.stop()
        try:
            if self._saver is not None:
                self._saver.stop()  # the last changes, once nothing serves any more
        finally:
            if self._state is not None:
                self._state.unlock()
            self._mock.stop()
