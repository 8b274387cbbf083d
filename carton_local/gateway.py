"""A local stand-in for API Gateway's REST API, driven by the route table.

Requests become REST proxy events; routes that need a key go through the TOKEN
authorizer first and carry its context, as on AWS. What API Gateway answers by
itself (unknown path, wrong method, bad key, oversized body) uses the same answers
the CDK API is configured with, and Lambda's payload limits are enforced as Lambda
enforces them: on the JSON event and on the JSON result.

Whatever a client sends, the answer is an HTTP response in the one error body: a
malformed or negative Content-Length, an unknown method, a body that never arrives.
CORS preflights are answered here, as API Gateway answers them on AWS, from
CARTON_CORS_ORIGINS (the functions add CORS headers to their own responses).
"""

from __future__ import annotations

import base64
import fnmatch
import json
import re
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from aws_lambda_powertools.event_handler import CORSConfig

from carton.web.formats import split_suffix
from carton.web.http import cors_config
from carton.web.routes import (
    GATEWAY_ANSWERS,
    MAX_EVENT_BYTES,
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    RESPONSE_TOO_LARGE,
    ROUTES,
    GatewayAnswer,
    Route,
    event_bytes,
    response_bytes,
)
from carton_local.console import clock
from carton_local.httpd import LocalHTTPServer
from carton_local.lambdas import ACCOUNT, REGION, FunctionError, LocalFunctions

API_ID = "local"
STAGE = "local"
AUTHORIZER = "authorizer"
_DRAIN_LIMIT = 8 * MAX_REQUEST_BYTES
_TEXT_TYPES = ("application/json", "application/xml", "text/", "application/x-www-form-urlencoded")
# RFC 9110 `token`: what a method name may be made of.
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_DIGITS = re.compile(r"[0-9]+")
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,16}")
# A client that stops sending mid-request (or idles on a kept-alive connection) frees its thread.
SOCKET_TIMEOUT_SECONDS = 60

# What only this gateway answers: on AWS, CloudFront in front of API Gateway refuses malformed
# HTTP before API Gateway sees it.
BAD_CONTENT_LENGTH = GatewayAnswer(
    400, "Bad request", {"content-length": ["must be one whole number of bytes, at most once"]}
)
BAD_FRAMING = GatewayAnswer(
    400, "Bad request", {"transfer-encoding": ["send either Content-Length or Transfer-Encoding: chunked"]}
)
BAD_CHUNKS = GatewayAnswer(400, "Bad request", {"body": ["malformed chunked body"]})
BAD_METHOD = GatewayAnswer(400, "Bad request", {"method": ["not an HTTP method name"]})
UNSUPPORTED_CODING = GatewayAnswer(501, "Not implemented", {"transfer-encoding": ["only chunked is supported"]})
CRASHED = GatewayAnswer(502, "Internal server error", {})


@dataclass(frozen=True)
class Match:
    route: Route
    path_parameters: dict[str, str]
    resource: str  # the API Gateway resource that matched (suffixed variants included)


def _pattern(path: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")


_COMPILED = [(route, _pattern(route.path)) for route in ROUTES]
Compiled = Sequence[tuple[Route, re.Pattern[str]]]


def _on_path(path: str, routes: Compiled) -> list[tuple[Route, re.Match[str], str]]:
    """The routes of the API Gateway resource that serves `path` (empty: no resource does).

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
        return []
    # API Gateway prefers a static segment to a {parameter}: /assets/uploads over /assets/{key}.
    fewest = min(resource.count("{") for _, _, resource in on_path)
    return [match for match in on_path if match[2].count("{") == fewest]


def match_route(method: str, path: str, routes: Compiled = _COMPILED) -> Match | str:
    """The matching route, or the name of the gateway answer to give instead."""
    on_path = _on_path(path, routes)
    if not on_path:
        return "MISSING_AUTHENTICATION_TOKEN"
    for route, found, resource in on_path:
        if route.method == method:
            return Match(route, {key: unquote(value) for key, value in found.groupdict().items()}, resource)
    return "METHOD_NOT_ALLOWED"


def methods_on(path: str, routes: Compiled = _COMPILED) -> tuple[str, ...]:
    """The methods the resource serving `path` has (empty: no resource serves it)."""
    return tuple(sorted({route.method for route, _, _ in _on_path(path, routes)}))


def _policy_allows(policy: dict[str, Any], method_arn: str) -> bool:
    statements = policy.get("policyDocument", {}).get("Statement", [])
    allowed = any(
        s.get("Effect") == "Allow" and fnmatch.fnmatchcase(method_arn, str(s.get("Resource"))) for s in statements
    )
    denied = any(
        s.get("Effect") == "Deny" and fnmatch.fnmatchcase(method_arn, str(s.get("Resource"))) for s in statements
    )
    return allowed and not denied


class _Refused(Exception):
    """The request cannot be read as sent: answer it and close the connection."""

    def __init__(self, answer: GatewayAnswer) -> None:
        super().__init__(answer.message)
        self.answer = answer


class _ClientGone(Exception):
    """The client closed or stalled before its body arrived: nobody to answer."""


class GatewayHandler(BaseHTTPRequestHandler):
    functions: LocalFunctions
    access_log = False
    cors: CORSConfig | None = None
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_SECONDS

    # --- answers ---------------------------------------------------------------------------

    def _cors_headers(self, preflight_methods: Sequence[str] | None = None) -> dict[str, str]:
        """CORS headers for this request's Origin: none unless CORS is configured and the
        Origin is allowed, matched as the functions' Powertools resolver matches it."""
        if self.cors is None:
            return {}
        headers = {"Vary": "Origin"}
        origin = self.headers.get("Origin")
        allowed = self.cors.allowed_origin(origin) if origin else None
        if allowed is None:
            return headers
        headers.update(self.cors.to_dict(allowed))
        if preflight_methods is not None:
            headers["Access-Control-Allow-Methods"] = ",".join(preflight_methods)
        return headers

    def _allow(self, path: str) -> list[str]:
        """What the Allow header lists for `path`: its methods, and OPTIONS when preflights are served."""
        methods = list(methods_on(path))
        if self.cors is not None and methods:
            methods.append("OPTIONS")
        return sorted(methods)

    def _answer(
        self,
        answer: GatewayAnswer | str,
        extra_headers: dict[str, str] | None = None,
        close: bool = False,
        cors: bool = True,
    ) -> None:
        found = GATEWAY_ANSWERS[answer] if isinstance(answer, str) else answer
        cors_headers = self._cors_headers() if cors else {}
        headers = {"Content-Type": "application/json", **cors_headers, **(extra_headers or {})}
        self._write(found.status, headers, json.dumps(found.body()).encode(), close=close)

    def _write(self, status: int, headers: dict[str, str], body: bytes, close: bool = False) -> None:
        request_id = getattr(self, "request_id", "-")
        if self.access_log:
            started = getattr(self, "started", time.monotonic())
            print(access_line(self.command, self.path, status, time.monotonic() - started, request_id), flush=True)
        self.send_response(status)
        self.send_header(REQUEST_ID_HEADER, request_id)  # as API Gateway does: quote it when reporting
        for key, value in headers.items():
            if key.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(key, value)
        bodiless = status in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED)  # RFC 9110 §8.6
        if not bodiless:
            self.send_header("Content-Length", str(len(body)))
        if close:
            self.close_connection = True
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and not bodiless:
            self.wfile.write(body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """What http.server itself refuses (a malformed request line, oversized headers, an
        unsupported HTTP version), in the one error body instead of an HTML page."""
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "Error"
        answer = GatewayAnswer(code, phrase, {"request": [message or explain or phrase]})
        if self.request_version == "HTTP/0.9":
            self.request_version = self.protocol_version  # an unreadable version: answer in ours
        self._answer(answer, close=True, cors=False)  # the request's headers may not be read yet

    # --- the HTTP framing ------------------------------------------------------------------

    def handle_one_request(self) -> None:
        """http.server's loop, but every method (TRACE, CONNECT, anything) reaches the gateway,
        which answers 405 with Allow, as API Gateway does, instead of http.server's 501 page."""
        try:
            self.raw_requestline = self.rfile.readline(65537)
            if len(self.raw_requestline) > 65536:
                self.requestline = self.request_version = self.command = ""
                self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if not self.parse_request():
                return  # http.server already answered (through send_error)
            self._safe_handle()
            self.wfile.flush()
        except TimeoutError:
            self.close_connection = True

    def handle_expect_100(self) -> bool:
        """Refuse a body that is too large (or framed wrong) before the client sends it."""
        try:
            length = self._declared_length()
        except _Refused as refused:
            self._answer(refused.answer, close=True)
            return False
        if length is not None and length > MAX_REQUEST_BYTES:
            self._answer("REQUEST_TOO_LARGE", close=True)
            return False
        return super().handle_expect_100()

    def _declared_length(self) -> int | None:
        """Content-Length as sent (None: chunked), or _Refused when the framing is ambiguous."""
        codings = self.headers.get_all("Transfer-Encoding") or []
        lengths = [part.strip() for value in self.headers.get_all("Content-Length") or [] for part in value.split(",")]
        if codings and lengths:
            raise _Refused(BAD_FRAMING)  # RFC 9112 §6.3: a request smuggling attempt, or a broken client
        if codings:
            if [coding.strip().lower() for value in codings for coding in value.split(",")] != ["chunked"]:
                raise _Refused(UNSUPPORTED_CODING)
            return None
        if not lengths:
            return 0
        if any(not _DIGITS.fullmatch(value) for value in lengths) or len(set(lengths)) > 1:
            raise _Refused(BAD_CONTENT_LENGTH)
        return int(lengths[0])

    def _read_body(self) -> bytes:
        length = self._declared_length()
        if length is None:
            return self._read_chunked()
        if length > MAX_REQUEST_BYTES:
            self._discard(length)
            raise _Refused(GATEWAY_ANSWERS["REQUEST_TOO_LARGE"])
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            raise _ClientGone
        return body

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise _ClientGone
            size_text = line.split(b";", 1)[0].strip()
            if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size_text):
                raise _Refused(BAD_CHUNKS)
            size = int(size_text, 16)
            if size == 0:
                break
            if len(body) + size > MAX_REQUEST_BYTES:
                raise _Refused(GATEWAY_ANSWERS["REQUEST_TOO_LARGE"])  # the rest is left unread: closed
            chunk = self.rfile.read(size)
            if len(chunk) < size:
                raise _ClientGone
            body += chunk
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _Refused(BAD_CHUNKS)
        for _ in range(100):  # trailer fields, ignored
            trailer = self.rfile.readline(65537)
            if trailer in (b"\r\n", b"\n", b""):
                return bytes(body)
        raise _Refused(BAD_CHUNKS)

    def _discard(self, length: int) -> None:
        """Read an oversized body away, so the client hears the 413 instead of a reset;
        past a bound, just close the connection after answering."""
        if length > _DRAIN_LIMIT:
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1024 * 1024))
            if not chunk:
                break
            length -= len(chunk)

    # --- the gateway -----------------------------------------------------------------------

    def _handle(self) -> None:
        if not _TOKEN.fullmatch(self.command):
            self._answer(BAD_METHOD, close=True)
            return
        try:
            raw_body = self._read_body()
        except _Refused as refused:
            self._answer(refused.answer, close=True)
            return
        except (_ClientGone, TimeoutError, ConnectionError):
            self.close_connection = True
            return
        url = urlsplit(self.path)
        path = url.path
        if self.command == "OPTIONS" and self.cors is not None and methods_on(path):
            self._preflight(path)
            return
        found = match_route(self.command, path)
        if isinstance(found, str):
            allow = {"Allow": ", ".join(self._allow(path))} if found == "METHOD_NOT_ALLOWED" else {}
            self._answer(found, allow)
            return
        request_id = self.request_id
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
        if event_bytes(event) > MAX_EVENT_BYTES:
            # Lambda refuses the invoke (RequestEntityTooLargeException); API Gateway answers 413.
            self._answer("REQUEST_TOO_LARGE")
            return
        response = self.functions.invoke(found.route.function, event)
        if response_bytes(response) > MAX_RESPONSE_BYTES:
            # Lambda fails the invoke and API Gateway would answer 502: Carton answers 413 instead.
            self._answer(RESPONSE_TOO_LARGE)
            return
        self._respond(response)

    def _preflight(self, path: str) -> None:
        """What API Gateway's OPTIONS methods answer (CDK's CORS preflight): 204, with CORS
        headers for an allowed Origin, which may use the path's methods."""
        headers = {"Allow": ", ".join(self._allow(path)), **self._cors_headers(preflight_methods=methods_on(path))}
        self._write(HTTPStatus.NO_CONTENT, headers, b"")

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
        self.started, self.request_id = time.monotonic(), str(uuid.uuid4())
        try:
            self._handle()
        except (ConnectionError, TimeoutError):  # the client went away: nobody to answer
            self.close_connection = True
        except Exception:  # a function crash: API Gateway answers 502 and hides the details
            traceback.print_exc()
            self._answer(CRASHED)

    def log_message(self, format: str, *args: Any) -> None:
        pass


# API Gateway's header naming the request (its access log and the function's logs carry it too).
REQUEST_ID_HEADER = "x-amzn-RequestId"


def access_line(method: str, path: str, status: int, seconds: float, request_id: str) -> str:
    """One line per request, for people: when, what, how it ended, how long, which request."""
    return f"{clock()} {status} {method:6} {path}  {seconds * 1000:.0f} ms  {request_id}"


def gateway_server(
    functions: LocalFunctions,
    host: str,
    port: int,
    access_log: bool = False,
    cors_origins: Sequence[str] | None = None,
) -> LocalHTTPServer:
    """The gateway, bound; CORS from `cors_origins`, by default CARTON_CORS_ORIGINS."""
    attributes = {"functions": functions, "access_log": access_log, "cors": cors_config(cors_origins)}
    handler = type("LocalGateway", (GatewayHandler,), attributes)
    return LocalHTTPServer((host, port), handler)
