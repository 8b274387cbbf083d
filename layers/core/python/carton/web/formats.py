"""Representations: JSON by default, XML on request.

A `.json` or `.xml` suffix on any path, or `Accept: application/xml`, selects the
representation (as Orbitvu's API does). The suffix is taken off the event before
routing, so handlers never see it; the body is converted after the handler answered,
with xmltodict, never by string concatenation.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

JSON, XML = "json", "xml"
SUFFIXES = {".json": JSON, ".xml": XML}
_XML_TYPES = ("application/xml", "text/xml")


def split_suffix(path: str) -> tuple[str, str | None]:
    """("/a/b.xml") -> ("/a/b", "xml"); paths without a known suffix are unchanged."""
    for suffix, name in SUFFIXES.items():
        if path.endswith(suffix) and len(path) > len(suffix) and not path.endswith("/" + suffix):
            return path[: -len(suffix)], name
    return path, None


def _accepts_xml(headers: dict[str, str]) -> bool:
    accept = next((value for key, value in headers.items() if key.lower() == "accept"), "") or ""
    wanted = [part.split(";")[0].strip().lower() for part in accept.split(",")]
    return any(kind in _XML_TYPES for kind in wanted) and "application/json" not in wanted[:1]


def negotiate(event: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The event with any format suffix removed, and the representation asked for."""
    path, suffixed = split_suffix(event.get("path") or "")
    chosen = suffixed or (XML if _accepts_xml(event.get("headers") or {}) else JSON)
    if suffixed is None:
        return event, chosen
    stripped = copy.copy(event)
    stripped["path"] = path
    stripped["resource"] = split_suffix(event.get("resource") or "")[0]
    parameters = dict(event.get("pathParameters") or {})
    resource = event.get("resource") or ""
    # A suffix after a {parameter} arrives inside that parameter's value.
    if resource.endswith("}") and parameters:
        last = resource.rsplit("{", 1)[1].rstrip("}")
        if last in parameters:
            parameters[last] = split_suffix(parameters[last])[0]
        stripped["pathParameters"] = parameters
    return stripped, chosen


# XML 1.0 names: a letter or underscore first, then letters, digits, '.', '-', '_'
# (colons left out: they would declare namespaces). Other keys (field names a client sent,
# echoed in errors) become <field name="...">.
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9._-]*")
# Characters XML 1.0 cannot carry at all, not even escaped: shown as U+FFFD.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _xml_ready(value: Any) -> Any:
    if isinstance(value, dict):
        ready: dict[str, Any] = {}
        fields: list[Any] = []
        for key, item in value.items():
            if item is None:
                continue
            name = str(key)
            if _XML_NAME.fullmatch(name) and not name.lower().startswith("xml"):
                ready[name] = _xml_ready(item)
            else:
                content = _xml_ready(item)
                field = {"@name": _xml_text(name)}
                field.update(content if isinstance(content, dict) else {"#text": content})
                fields.append(field)
        if fields:
            ready["field"] = fields
        return ready
    if isinstance(value, list):
        return {"item": [_xml_ready(item) for item in value]}
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _xml_text(value)
    return value


def to_xml(document: Any, root: str = "response") -> str:
    import xmltodict  # only a response asked for as XML pays for it

    return str(xmltodict.unparse({root: _xml_ready(document)}, pretty=False))


def render(response: dict[str, Any], chosen: str) -> dict[str, Any]:
    """Convert a JSON response to XML when XML was asked for."""
    if chosen != XML or not response.get("body") or response.get("isBase64Encoded"):
        return response
    headers = dict(response.get("headers") or {})
    multi = {key: list(values) for key, values in (response.get("multiValueHeaders") or {}).items()}
    content_type = headers.get("Content-Type") or (multi.get("Content-Type") or [""])[0]
    if not content_type.startswith("application/json"):
        return response
    headers.pop("Content-Type", None)
    multi.pop("Content-Type", None)
    headers["Content-Type"] = "application/xml; charset=utf-8"
    converted = dict(response)
    converted["body"] = to_xml(json.loads(response["body"]))
    converted["headers"] = headers
    if "multiValueHeaders" in response:
        # Powertools repeats Content-Type there; an emptied copy must replace it too.
        converted["multiValueHeaders"] = multi
    return converted
