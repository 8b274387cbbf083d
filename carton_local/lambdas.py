"""Runs the functions under functions/ in-process, as Lambda would.

Each function keeps a pool of loaded handler modules ("warm containers"): a module
serves one invocation at a time, as on Lambda, because Powertools resolvers keep the
current event on the module's app. Concurrent calls get another instance.

Powertools' REST resolver also keeps the event and the context on its router *class*
(`BaseRouter.current_event`), which on Lambda (one invocation per process) is harmless and
here would hand one request's event to another running beside it. `LocalFunctions` makes
each resolver keep its own (`own_router_state`).
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.utilities.data_classes.common import BaseProxyEvent

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"
REGION = "us-east-1"
ACCOUNT = "123456789012"
HANDLER = "lambda_handler"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def function_name(name_or_arn: str) -> str:
    """`name`, `arn:...:function:name` or `arn:...:function:name:qualifier` → name."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":")[6]
    return name_or_arn.split(":")[0]


@dataclass
class LambdaContext:
    """What Powertools reads off the real context object."""

    function_name: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 1024
    timeout_ms: int = 900_000

    @property
    def invoked_function_arn(self) -> str:
        return function_arn(self.function_name)

    @property
    def function_version(self) -> str:
        return "$LATEST"

    def get_remaining_time_in_millis(self) -> int:
        return self.timeout_ms


class FunctionError(Exception):
    """A handler raised: carries Lambda's error payload."""

    def __init__(self, payload: dict[str, Any]) -> None:
        super().__init__(payload.get("errorMessage"))
        self.payload = payload


# Powertools' own (also when this module is loaded a second time, after the change).
_CLASS_LEVEL_RESOLVE = getattr(ApiGatewayResolver.resolve, "powertools_resolve", ApiGatewayResolver.resolve)


def _resolve_with_own_state(self: ApiGatewayResolver, event: Any, context: Any) -> dict[str, Any]:
    """Powertools' resolve, with the event and context also set on the resolver itself: its
    routes, middlewares and Carton's handlers read them through the resolver (`app.current_event`),
    so an instance attribute wins over the class attribute another thread may have just set."""
    raw = event.raw_event if isinstance(event, BaseProxyEvent) else event
    self.current_event = self._to_proxy_event(raw)
    self.lambda_context = context
    return _CLASS_LEVEL_RESOLVE(self, event, context)


_resolve_with_own_state.powertools_resolve = _CLASS_LEVEL_RESOLVE  # type: ignore[attr-defined]


def own_router_state() -> None:
    """Every REST resolver of this process keeps its own current event (idempotent)."""
    ApiGatewayResolver.resolve = _resolve_with_own_state  # type: ignore[method-assign]


class LocalFunctions:
    def __init__(self, functions_dir: Path = FUNCTIONS_DIR) -> None:
        own_router_state()
        self._dir = functions_dir
        self._idle: dict[str, list[ModuleType]] = {}
        self._loaded = 0
        self._lock = threading.Lock()
        # Told of every invocation (function, event, result, error payload, seconds): the console.
        self.observer: Callable[[str, Any, Any, dict[str, Any] | None, float], None] | None = None

    def names(self) -> list[str]:
        return sorted(path.parent.name for path in self._dir.glob("*/handler.py"))

    def _load(self, name: str) -> ModuleType:
        path = self._dir / name / "handler.py"
        if not path.is_file():
            raise KeyError(f"no function {name!r} under {self._dir}")
        with self._lock:
            self._loaded += 1
            module_name = f"carton_function_{name}_{self._loaded}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def _acquire(self, name: str) -> ModuleType:
        with self._lock:
            idle = self._idle.setdefault(name, [])
            if idle:
                return idle.pop()
        return self._load(name)

    def _release(self, name: str, module: ModuleType) -> None:
        with self._lock:
            self._idle[name].append(module)

    def invoke(self, name: str, event: Any) -> Any:
        """The handler's result; raises FunctionError with Lambda's payload if it raised."""
        module = self._acquire(name)
        started, result, failure = time.monotonic(), None, None
        try:
            result = getattr(module, HANDLER)(event, LambdaContext(function_name=name))
            return result
        except Exception as error:  # a crash of the handler, reported as Lambda would
            failure = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": traceback.format_exception(error)[-5:],
            }
            raise FunctionError(failure) from error
        finally:
            self._release(name, module)
            if self.observer is not None:
                self.observer(name, event, result, failure, time.monotonic() - started)


class _InvokeHandler(BaseHTTPRequestHandler):
    functions: LocalFunctions
    prefix = "/2015-03-31/functions/"

    def do_POST(self) -> None:
        if not (self.path.startswith(self.prefix) and self.path.endswith("/invocations")):
            self._send(HTTPStatus.NOT_FOUND, {"message": "unknown path"})
            return
        name = function_name(unquote(self.path[len(self.prefix) : -len("/invocations")]))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        event = json.loads(raw) if raw else {}
        try:
            result = self.functions.invoke(name, event)
        except KeyError as error:
            self._send(
                HTTPStatus.NOT_FOUND,
                {"Type": "User", "Message": str(error)},
                {"X-Amzn-ErrorType": "ResourceNotFoundException"},
            )
            return
        except FunctionError as error:
            self._send(HTTPStatus.OK, error.payload, {"X-Amz-Function-Error": "Unhandled"})
            return
        self._send(HTTPStatus.OK, result)

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Amz-Executed-Version", "$LATEST")
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def invoke_server(functions: LocalFunctions, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Lambda's Invoke API on 127.0.0.1, for the emulated Step Functions (a Map state calls it
    in bursts: the server's listen backlog takes them)."""
    from carton_local.httpd import LocalHTTPServer

    handler = type("InvokeHandler", (_InvokeHandler,), {"functions": functions})
    return LocalHTTPServer((host, port), handler)
