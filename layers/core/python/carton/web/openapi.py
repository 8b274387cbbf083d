"""The OpenAPI 3.1 document, generated from the API functions themselves.

Every API function registers its route (from the route table) on a Powertools
resolver with pydantic models; this module loads those functions and merges what
their resolvers describe, then states what Powertools cannot know: the 4xx answers
each route really gives (in the one error body), the gateway's answers (401, 413),
responses without a body (204, 302, 304), Location headers, the query parameters the
list functions read themselves, and which routes need no key. The deployed `openapi`
function serves a copy built at bundling time (`python -m carton.web.openapi FUNCTIONS_DIR
OUT`), the local one builds it on demand.

The fuzz test (tests/e2e/test_fuzz.py) holds the API to this document.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from carton.web.operations import ERROR_DESCRIPTIONS, ERRORS, OPERATIONS, PARAMETERS, SUCCESS_SCHEMAS, TAGS, WITH_BODY
from carton.web.requests import MAX_PATH_PARAMETER_BYTES
from carton.web.routes import DEPLOYED_ROUTES, Route, http_functions
from carton.web.shapes import ErrorBody

TITLE = "Carton"
VERSION = "1.0.0"
OPENAPI_VERSION = "3.1.0"  # the schemas are pydantic's JSON Schema (2020-12: "type": "null")
_BODILESS = {"204", "302", "304"}
_LOCATION = {
    "description": "The resource's absolute URL (302: where to fetch it)",
    "schema": {"type": "string", "format": "uri"},
}
_POWERTOOLS_DEFAULT = "Successful Response"
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}


def _load(functions_dir: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"carton_openapi_{name}", functions_dir / name / "handler.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no function {name} in {functions_dir}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _default_errors(route: Route, operation: dict[str, Any]) -> set[int]:
    """A function not in ERRORS: what any route of its kind may answer."""
    codes = {401, 403} if route.authorized else set()
    if "{" in route.path:
        codes.add(404)
    if "requestBody" in operation:
        codes |= WITH_BODY
    return codes


def _codes_of(route: Route, operation: dict[str, Any]) -> set[int]:
    return ERRORS[route.function] if route.function in ERRORS else _default_errors(route, operation)


def shadowed(route: Route, routes: tuple[Route, ...] = DEPLOYED_ROUTES) -> dict[str, dict[str, list[Route]]]:
    """Path parameter values that reach another resource: {parameter: {value: routes there}}.

    As on API Gateway, the leftmost static segment wins over a {parameter}: `/assets/{key}`
    with key `uploads` is `/assets/uploads` (POST only: GET answers 405), and
    `/assets/{key}/downloads` with key `uploads` is `/assets/uploads/{upload_id}`.
    """
    mine = route.path.split("/")
    found: dict[str, dict[str, list[Route]]] = {}
    for other in routes:
        theirs = other.path.split("/")
        if other.path == route.path or len(theirs) != len(mine):
            continue
        pairs = list(zip(mine, theirs, strict=True))
        differ = [i for i, (a, b) in enumerate(pairs) if a != b]
        if any(a[:1] != "{" and b[:1] != "{" for a, b in (pairs[i] for i in differ)):
            continue  # two different static segments: never the same path
        first = differ[0]
        if mine[first][:1] == "{" and theirs[first][:1] != "{":  # the leftmost difference decides
            found.setdefault(mine[first].strip("{}"), {}).setdefault(theirs[first], []).append(other)
    return found


def error_codes(route: Route, operation: dict[str, Any]) -> set[int]:
    """What the route answers besides success: its function's 4xx, and for path parameter
    values that reach another resource, what that resource answers (405 without the method)."""
    codes = set(_codes_of(route, operation))
    for values in shadowed(route).values():
        for there in values.values():
            same = [other for other in there if other.method == route.method]
            codes |= _codes_of(same[0], {}) if same else {405}
    return codes


def _success(route: Route, responses: dict[str, Any]) -> None:
    declared = [code for code in responses if code[0] in "23"]
    default = responses.get("200", {}).get("description") == _POWERTOOLS_DEFAULT
    if default and len(declared) > 1:
        responses.pop("200")  # Powertools' default beside the declared success
    for code, response in responses.items():
        if code in _BODILESS:
            response.pop("content", None)
        if code in ("201", "302"):
            response.setdefault("headers", {})["Location"] = _LOCATION
    if route.function in SUCCESS_SCHEMAS and "200" in responses:
        responses["200"]["content"] = {"application/json": {"schema": SUCCESS_SCHEMAS[route.function]}}
        if responses["200"].get("description") == _POWERTOOLS_DEFAULT:
            responses["200"]["description"] = "OK"


def _describe(route: Route, operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    for code in [code for code in responses if code[0] == "4"]:
        responses.pop(code)  # Powertools' 422 in its own body: replaced by the errors below
    _success(route, responses)
    for code in sorted(error_codes(route, operation)):
        responses[str(code)] = {"description": ERROR_DESCRIPTIONS[code], "content": _ERROR_CONTENT}
    operation["responses"] = dict(sorted(responses.items()))
    extra = PARAMETERS.get(route.function, [])
    if extra:
        operation["parameters"] = [*operation.get("parameters", []), *extra]
    elsewhere = shadowed(route)
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path":
            schema = {**parameter.get("schema", {}), "minLength": 1}
            taken = sorted(elsewhere.get(parameter["name"], {}))
            if taken:
                schema["not"] = {"enum": taken}
            parameter["schema"] = schema
            parameter.setdefault(
                "description",
                f"an id, at most {MAX_PATH_PARAMETER_BYTES} bytes (longer ones name nothing)"
                + (f"; {', '.join(taken)} is another resource's path" if taken else ""),
            )
    if not route.authorized:
        operation["security"] = []  # no key needed: not under the document's global requirement
    tag, summary, description = OPERATIONS[route.function]
    operation.update(tags=[tag], summary=summary, description=description)


def build_document(functions_dir: Path) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for name in http_functions(DEPLOYED_ROUTES):
        app = _load(functions_dir, name).app
        document = json.loads(
            app.get_openapi_schema(title=TITLE, version=VERSION).model_dump_json(by_alias=True, exclude_none=True)
        )
        for path, operations in document.get("paths", {}).items():
            paths.setdefault(path, {}).update(operations)
        schemas.update(document.get("components", {}).get("schemas", {}))
    for name in ("HTTPValidationError", "ValidationError", "ResponseValidationError"):
        schemas.pop(name, None)
    schemas["ErrorBody"] = ErrorBody.model_json_schema()
    for route in DEPLOYED_ROUTES:
        operation = paths.get(route.path, {}).get(route.method.lower())
        if operation is not None:
            _describe(route, operation)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Bulk downloads: assets in, checksummed ZIP archives out. Append .json or .xml to any "
            "path, or send Accept: application/xml, to choose the representation. Every 4xx answers "
            '{"message": ..., "errors": {field: [reasons]}}; a method a path does not have answers 405 '
            "with an Allow header.\n\nTo try requests here: **Authorize** with your API key (the local stack "
            "prints one at start; `make account` makes one on a deployed stack).",
        },
        "tags": TAGS,
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "key": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "Send `Authorization: Token <key>` (or `Bearer <key>`). In Swagger UI's "
                    "Authorize, paste the key alone: the page adds `Token ` for you.",
                }
            },
        },
        "security": [{"key": []}],
    }


def main() -> None:
    functions_dir, out = Path(sys.argv[1]), Path(sys.argv[2])
    out.write_text(json.dumps(build_document(functions_dir), indent=1))


if __name__ == "__main__":
    main()
