"""A local stand-in for API Gateway's REST API, driven by the route table.

Requests become REST proxy events; routes that need a key go through the TOKEN
authorizer first and carry its context, as on AWS. What API Gateway answers by
itself (unknown path, wrong method, bad key, oversized body) uses the same answers
the CDK API is configured with.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import sys
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from carton.formats import split_suffix
from carton.routes import GATEWAY_ANSWERS, MAX_REQUEST_BYTES, ROUTES, Route
from carton_local.lambdas import ACCOUNT, REGION, FunctionError, LocalFunctions

API_ID = "local"
STAGE = "local"
AUTHORIZER = "authorizer"
_DRAIN_LIMIT = 8 * MAX_REQUEST_BYTES
_TEXT_TYPES = ("application/json", "application/xml", "text/", "application/x-www-form-urlencoded")


@dataclass(frozen=True)
class Match:
    route: Route
    path_parameters: dict[str, str]
    resource: str  # the API Gateway resource that matched (suffixed variants included)


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")


_COMPILED = [(route, _pattern(route.path)) for route in ROUTES]


def match_route(method: str, path: str, routes: Sequence[tuple[Route, re.Pattern[str]]] = _COMPILED) -> Match | str:
    """The matching route, or the name of the gateway answer to give instead.

    As on API Gateway, a `.json`/`.xml` suffix after a static segment matches that
    route's suffixed resource, and after a {parameter} it is part of the value.
    """
    bare, suffix = split_suffix(path)
    candidates = [(path, "")] + ([(bare, path[len(bare) :])] if suffix else [])
    on_path = []
    for candidate, ending in candidates:
        for route, pattern in routes:
            if ending and route.path.endswith("}"):
                continue  # that suffix was already matched as part of the parameter
            if found := pattern.match(candidate):
                on_path.append((route, found, route.path + ending))
    if not on_path:
        return "MISSING_AUTHENTICATION_TOKEN"
    # API Gateway prefers a static segment to a {parameter}: /assets/uploads over /assets/{key}.
    fewest = min(resource.count("{") for _, _, resource in on_path)
    on_path = [match for match in on_path if match[2].count("{") == fewest]
    for route, found, resource in on_path:
        if route.method == method:
            return Match(route, {key: unquote(value) for key, value in found.groupdict().items()}, resource)
    return "METHOD_NOT_ALLOWED"


def _policy_allows(policy: dict[str, Any], method_arn: str) -> bool:
    statements = policy.get("policyDocument", {}).get("Statement", [])
    allowed = any(
        s.get("Effect") == "Allow" and fnmatch.fnmatchcase(method_arn, str(s.get("Resource"))) for s in statements
    )
    denied = any(
        s.get("Effect") == "Deny" and fnmatch.fnmatchcase(method_arn, str(s.get("Resource"))) for s in statements
    )
    return allowed and not denied


class GatewayHandler(BaseHTTPRequestHandler):
    functions: LocalFunctions
    access_log = False
    protocol_version = "HTTP/1.1"

    def _answer(self, name: str, extra_headers: dict[str, str] | None = None) -> None:
        answer = GATEWAY_ANSWERS[name]
        self._write(
            answer.status,
            {"Content-Type": "application/json", **(extra_headers or {})},
            json.dumps(answer.body()).encode(),
        )

    def _write(self, status: int, headers: dict[str, str], body: bytes) -> None:
        if self.access_log:
            print(f"{self.command} {self.path} -> {status}", file=sys.stderr, flush=True)
        self.send_response(status)
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection"):
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        url = urlsplit(self.path)
        path = url.path
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_REQUEST_BYTES:
            self._discard(length)
            self._answer("REQUEST_TOO_LARGE")
            return
        raw_body = self.rfile.read(length) if length else b""
        found = match_route(self.command, path)
        if isinstance(found, str):
            self._answer(found)
            return
        request_id = str(uuid.uuid4())
        method_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{API_ID}/{STAGE}/{self.command}{path}"
        authorizer_context: dict[str, Any] | None = None
        if found.route.authorized:
            token = self.headers.get("Authorization")
            if not token:
                self._answer("UNAUTHORIZED")
                return
            try:
                policy = self.functions.invoke(
                    AUTHORIZER, {"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn}
                )
            except FunctionError as error:
                if error.payload.get("errorMessage") == "Unauthorized":
                    self._answer("UNAUTHORIZED")
                    return
                raise
            if not _policy_allows(policy, method_arn):
                self._answer("ACCESS_DENIED")
                return
            authorizer_context = {**policy.get("context", {}), "principalId": policy.get("principalId")}
        event = self._event(found, url.query, raw_body, request_id, authorizer_context)
        response = self.functions.invoke(found.route.function, event)
        self._respond(response)

    def _discard(self, length: int) -> None:
        """Read an oversized body away, so the client hears the 413 instead of a reset;
        past a bound, just close the connection after answering."""
        if length > _DRAIN_LIMIT:
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1024 * 1024))
            if not chunk:
                break
            length -= len(chunk)

    def _event(
        self, found: Match, query: str, raw_body: bytes, request_id: str, authorizer: dict[str, Any] | None
    ) -> dict[str, Any]:
        # API Gateway tells functions the client's scheme; here it is plain HTTP.
        headers = {**dict(self.headers.items()), "X-Forwarded-Proto": "http"}
        multi_headers: dict[str, list[str]] = {}
        for key, value in headers.items():
            multi_headers.setdefault(key, []).append(value)
        multi_query = parse_qs(query, keep_blank_values=True)
        content_type = self.headers.get("Content-Type", "")
        textual = not content_type or content_type.startswith(_TEXT_TYPES)
        body: str | None = None
        if raw_body:
            body = raw_body.decode("utf-8", errors="replace") if textual else base64.b64encode(raw_body).decode()
        path = urlsplit(self.path).path
        return {
            "resource": found.resource,
            "path": path,
            "httpMethod": self.command,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": {k: v[-1] for k, v in multi_query.items()} or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": found.path_parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": found.resource,
                "httpMethod": self.command,
                "path": f"/{STAGE}{path}",
                "stage": STAGE,
                "requestId": request_id,
                "accountId": ACCOUNT,
                "apiId": API_ID,
                "domainName": self.headers.get("Host", "127.0.0.1"),
                "protocol": self.request_version,
                "requestTimeEpoch": int(time.time() * 1000),
                "identity": {"sourceIp": self.client_address[0], "userAgent": self.headers.get("User-Agent")},
                "authorizer": authorizer,
            },
            "body": body,
            "isBase64Encoded": bool(raw_body) and not textual,
        }

    def _respond(self, response: dict[str, Any]) -> None:
        headers: dict[str, str] = dict(response.get("headers") or {})
        for key, values in (response.get("multiValueHeaders") or {}).items():
            headers[key] = ", ".join(values)
        body = response.get("body") or ""
        raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        self._write(int(response.get("statusCode", 200)), headers, raw)

    def _safe_handle(self) -> None:
        try:
            self._handle()
        except Exception:  # a function crash: API Gateway answers 502 and hides the details
            traceback.print_exc()
            self._write(
                502,
                {"Content-Type": "application/json"},
                json.dumps({"message": "Internal server error", "errors": {}}).encode(),
            )

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _safe_handle  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        pass


def gateway_server(functions: LocalFunctions, host: str, port: int, access_log: bool = False) -> ThreadingHTTPServer:
    handler = type("LocalGateway", (GatewayHandler,), {"functions": functions, "access_log": access_log})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
