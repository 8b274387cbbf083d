"""S3 on a real local URL: moto's server app, behind a check of POST policies.

Presigned URLs and forms are handed to clients, so S3 must be reachable over HTTP; moto's
`ThreadedMotoServer` serves its app on a werkzeug server. This module serves the same app
the same way, behind `PostPolicyGuard`: moto stores whatever a browser-style POST form
uploads, while S3 enforces the form's policy — its expiration, its conditions on the
fields, and `content-length-range` on the file. The guard refuses what S3 refuses, with
S3's status, error code and message (XML), and passes everything else through untouched.

Not checked (moto accepts anything, and so does this guard): the form's signature.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment
from xml.sax.saxutils import escape

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wsgi import get_input_stream

_READ = 64 * 1024
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
# Fields before the file are read into memory; S3 refuses large ones too.
MAX_FIELD_BYTES = 1024 * 1024
# Form fields that no policy condition needs to name (S3's POST policy documentation): the
# signature, the file, the policy, and `x-ignore-*`.
_UNCOVERED = frozenset({"x-amz-signature", "file", "policy"})
_IGNORED_PREFIX = "x-ignore-"
_STATUS = {400: "400 Bad Request", 403: "403 Forbidden"}


class S3Refusal(Exception):
    """What S3 answers a form it refuses: status, error code, message and extra elements."""

    def __init__(self, status: int, code: str, message: str, details: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = tuple(details)

    def xml(self) -> bytes:
        elements = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in self.details)
        request_id = secrets.token_hex(8).upper()
        host_id = base64.b64encode(secrets.token_bytes(48)).decode()
        return (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{escape(self.message)}</Message>{elements}"
            f"<RequestId>{request_id}</RequestId><HostId>{host_id}</HostId></Error>"
        ).encode()


def _denied(message: str) -> S3Refusal:
    return S3Refusal(403, "AccessDenied", f"Invalid according to Policy: {message}")


def _invalid_policy(message: str) -> S3Refusal:
    return S3Refusal(400, "InvalidPolicyDocument", f"Invalid Policy: {message}")


@dataclass
class Form:
    """A POST form as S3 reads it: the fields before the file (those after it are not seen),
    and the file's name and size."""

    fields: list[tuple[str, str]] = field(default_factory=list)
    file_present: bool = False
    filename: str = ""
    file_size: int = 0

    def get(self, name: str) -> str | None:
        lowered = name.lower()
        value = next((value for key, value in self.fields if key.lower() == lowered), None)
        if value is not None and lowered == "key":
            return value.replace("${filename}", self.filename)  # S3 expands it before any check
        return value


def read_form(stream: IO[bytes], boundary: bytes) -> Form:
    """The form in a multipart/form-data body; S3Refusal when it is not one."""
    malformed = S3Refusal(
        400, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data."
    )
    decoder = MultipartDecoder(boundary)
    form = Form()
    reading: str | None = None  # the field whose value is arriving; None in the file or after it
    in_file = False
    value = bytearray()
    field_bytes = 0
    ended = False
    while not ended:
        chunk = stream.read(_READ)
        try:
            decoder.receive_data(chunk or None)
            while not ended:
                event = decoder.next_event()
                if isinstance(event, NeedData):
                    break
                if isinstance(event, Epilogue):
                    ended = True
                elif isinstance(event, Field | File):
                    reading, in_file = None, False
                    if form.file_present:
                        continue  # a part after the file: S3 does not read it
                    if event.name.lower() == "file":
                        form.file_present, in_file = True, True
                        form.filename = event.filename if isinstance(event, File) else ""
                    else:
                        reading = event.name
                        value.clear()
                elif isinstance(event, Data):
                    if in_file:
                        form.file_size += len(event.data)
                    elif reading is not None:
                        value += event.data
                        field_bytes += len(event.data)
                        if field_bytes > MAX_FIELD_BYTES:
                            raise S3Refusal(
                                400,
                                "MaxPostPreDataLengthExceeded",
                                "Your POST request fields preceeding the upload file was too large.",
                            )
                        if not event.more_data:
                            form.fields.append((reading, value.decode("utf-8", errors="replace")))
                            reading = None
        except ValueError as error:
            raise malformed from error
        if not chunk:
            break
    if not ended:
        raise malformed
    return form


@dataclass(frozen=True)
class Policy:
    expiration: datetime
    conditions: list[Any]


def decode_policy(text: str) -> Policy:
    """The policy document a form's `policy` field carries (base64 of JSON)."""
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error as error:
        raise _invalid_policy("invalid Base64 encoding.") from error
    try:
        document = json.loads(decoded)
    except ValueError as error:
        raise _invalid_policy("Invalid JSON.") from error
    if not isinstance(document, dict):
        raise _invalid_policy("Invalid JSON.")
    if "expiration" not in document:
        raise _invalid_policy("Policy missing expiration.")
    if "conditions" not in document:
        raise _invalid_policy("Policy missing conditions.")
    text_expiration = document["expiration"]
    expiration = None
    if isinstance(text_expiration, str) and text_expiration.endswith("Z"):
        try:
            expiration = datetime.fromisoformat(text_expiration)
        except ValueError:
            expiration = None
    if expiration is None:
        raise _invalid_policy(f"Invalid 'expiration' value: '{text_expiration}'")
    if not isinstance(document["conditions"], list):
        raise _invalid_policy("Invalid 'conditions' value: must be a List.")
    return Policy(expiration, document["conditions"])


def _written(items: list[Any]) -> str:
    """A condition as S3 quotes it in an error: `["eq", "$key", "uploads/a"]`."""
    return "[" + ", ".join(json.dumps(item, ensure_ascii=False) for item in items) + "]"


def _bound(value: Any) -> int | None:
    """A bound of content-length-range: a whole number, or a string of digits (None: unreadable)."""
    if isinstance(value, bool | float):
        raise _invalid_policy("Invalid JSON.")
    if isinstance(value, int):
        if value < 0:
            raise _invalid_policy("Invalid JSON.")
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, str):
        return None
    raise _invalid_policy("Invalid JSON.")


def check_form(form: Form, bucket: str, now: datetime) -> None:
    """Raise S3Refusal for what S3 refuses: in S3's order, the policy itself, its expiration,
    each condition, a field no condition names, then the file's size."""
    policy_text = form.get("policy")
    if policy_text is None:
        return
    if form.get("key") is None:
        raise S3Refusal(
            400,
            "InvalidArgument",
            "Bucket POST must contain a field named 'key'.  If it is specified, please check the order of the fields.",
            (("ArgumentName", "key"), ("ArgumentValue", "")),
        )
    policy = decode_policy(policy_text)
    if now > policy.expiration:
        raise _denied("Policy expired.")
    minimum, maximum = 0, None
    named: set[str] = set()
    for condition in policy.conditions:
        if isinstance(condition, dict):
            if len(condition) != 1:
                raise _invalid_policy(
                    "Invalid Simple-Condition: Simple-Conditions must have exactly one property specified."
                )
            ((name, expected),) = condition.items()
            if not isinstance(expected, str):
                raise _invalid_policy("Invalid Simple-Condition: value must be a string.")
            named.add(name.lower())
            if _value(form, bucket, name) != expected:
                raise _denied(f"Policy Condition failed: {_written(['eq', '$' + name, expected])}")
            continue
        if not isinstance(condition, list) or not condition:
            raise _invalid_policy("Invalid condition test: must be a List or Object.")
        operator = condition[0]
        if not isinstance(operator, str):
            raise _invalid_policy("Invalid Condition: missing operation identifier.")
        if len(condition) != 3:
            raise _invalid_policy(f"Invalid {operator}: wrong number of arguments.")
        if operator.lower() == "content-length-range":
            low, high = _bound(condition[1]), _bound(condition[2])
            if low is None or high is None:
                raise _denied(f"Policy Condition failed: {_written(condition)}")
            minimum, maximum = max(minimum, low), high if maximum is None else min(maximum, high)
            continue
        if operator.lower() not in ("eq", "starts-with"):
            raise _invalid_policy(f"Invalid Condition: unknown operation '{operator}'.")
        subject, operand = condition[1], condition[2]
        if not isinstance(subject, str) or not isinstance(operand, str):
            raise _invalid_policy("Invalid JSON.")
        name = subject[1:] if subject.startswith("$") else None  # without `$` it names no field: fails
        if name is not None:
            named.add(name.lower())
        actual = _value(form, bucket, name) if name is not None else None
        if operator.lower() == "eq":
            holds = actual == operand
        elif actual is None:
            holds = False
        elif name is not None and name.lower() == "content-type":
            # S3: a Content-Type with commas is a list, each of whose items must match.
            holds = all(item.strip(" \t").startswith(operand) for item in actual.split(","))
        else:
            holds = actual.startswith(operand)
        if not holds:
            raise _denied(f"Policy Condition failed: {_written(condition)}")
    for name, _ in form.fields:
        lowered = name.lower()
        if lowered not in _UNCOVERED and not lowered.startswith(_IGNORED_PREFIX) and lowered not in named:
            raise _denied(f"Extra input fields: {name}")
    if not form.file_present:
        raise S3Refusal(
            400,
            "InvalidArgument",
            "POST requires exactly one file upload per request.",
            (("ArgumentName", "file"), ("ArgumentValue", "0")),
        )
    if maximum is not None and form.file_size > maximum:
        raise S3Refusal(
            400,
            "EntityTooLarge",
            "Your proposed upload exceeds the maximum allowed size",
            (("ProposedSize", str(form.file_size)), ("MaxSizeAllowed", str(maximum))),
        )
    if form.file_size < minimum:
        raise S3Refusal(
            400,
            "EntityTooSmall",
            "Your proposed upload is smaller than the minimum allowed size",
            (("ProposedSize", str(form.file_size)), ("MinSizeAllowed", str(minimum))),
        )


def _value(form: Form, bucket: str, name: str) -> str | None:
    """A condition's subject: `bucket` is the bucket the URL names, anything else a form field."""
    if name.lower() == "bucket":
        return bucket
    return form.get(name)


def bucket_of(environ: WSGIEnvironment) -> str | None:
    """The bucket a POST addresses as a whole (path-style `/bucket`, or virtual-hosted), or
    None when the request names an object or no bucket."""
    segments = [segment for segment in str(environ.get("PATH_INFO", "")).split("/") if segment]
    if len(segments) == 1:
        return segments[0]
    if segments:
        return None
    host = str(environ.get("HTTP_HOST", "")).rsplit(":", 1)[0]
    try:
        ipaddress.ip_address(host.strip("[]"))
        return None
    except ValueError:
        return host.split(".", 1)[0] if "." in host else None


class PostPolicyGuard:
    """WSGI middleware: a POST form to a bucket that carries a policy is checked as S3 checks
    it before moto sees it; any other request reaches moto as it came."""

    def __init__(self, app: WSGIApplication, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.app = app
        self.now = now

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        content_type, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
        bucket = bucket_of(environ)
        if environ.get("REQUEST_METHOD") != "POST" or content_type != "multipart/form-data" or bucket is None:
            return self.app(environ, start_response)
        body = self._buffer(environ)
        try:
            boundary = options.get("boundary", "")
            if not boundary:
                raise S3Refusal(
                    400, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data."
                )
            check_form(read_form(body, boundary.encode("latin-1")), bucket, self.now())
        except S3Refusal as refusal:
            body.close()
            return self._refuse(environ, start_response, refusal)
        body.seek(0)
        return self.app(environ, start_response)

    @staticmethod
    def _buffer(environ: WSGIEnvironment) -> IO[bytes]:
        """Read the body (it is read twice: here, then by moto) and put the copy in its place."""
        source = get_input_stream(environ)
        body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        length = 0
        while chunk := source.read(_READ):
            body.write(chunk)
            length += len(chunk)
        body.seek(0)
        environ["wsgi.input"] = body
        environ["wsgi.input_terminated"] = False
        environ["CONTENT_LENGTH"] = str(length)
        environ.pop("HTTP_TRANSFER_ENCODING", None)
        return body

    @staticmethod
    def _refuse(environ: WSGIEnvironment, start_response: StartResponse, refusal: S3Refusal) -> list[bytes]:
        payload = refusal.xml()
        headers = [("Content-Type", "application/xml"), ("Content-Length", str(len(payload)))]
        if environ.get("HTTP_ORIGIN"):
            headers.append(("Access-Control-Allow-Origin", "*"))  # as moto's server answers every origin
        start_response(_STATUS.get(refusal.status, f"{refusal.status} Error"), headers)
        return [payload]


class S3Server:
    """moto's server (all services, S3 included) on `host`, behind PostPolicyGuard; the
    interface of moto's `ThreadedMotoServer`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        app = PostPolicyGuard(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self._host, self._port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="S3Server", daemon=True)
        self._thread.start()

    def get_host_and_port(self) -> tuple[str, int]:
        if self._server is None:
            raise RuntimeError("start() the server first")
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
