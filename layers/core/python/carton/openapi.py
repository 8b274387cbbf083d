"""The OpenAPI 3 document, generated from the API functions themselves.

Every API function registers its route (from the route table) on a Powertools
resolver with pydantic models; this module loads those functions and merges what
their resolvers describe. The deployed `openapi` function serves a copy built at
bundling time (`python -m carton.openapi FUNCTIONS_DIR OUT`), the local one builds it
on demand.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

from carton.models import ErrorBody
from carton.routes import DEPLOYED_ROUTES, http_functions

TITLE = "Carton"
VERSION = "1.0.0"
_ERRORS = {
    "400": "Malformed request (JSON, cursor)",
    "401": "Missing or invalid key",
    "403": "The key may not do this",
    "404": "No such resource",
    "409": "Conflict (Idempotency-Key, concurrent change)",
    "410": "Gone (archive expired)",
    "413": "Request over 6 MB (a Lambda request's limit; larger files: POST /api/v1/assets/uploads)",
    "422": "Validation failed: errors name each field",
}


def _load(functions_dir: Path, name: str) -> Any:
    spec = importlib.util.spec_from_file_location(f"carton_openapi_{name}", functions_dir / name / "handler.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no function {name} in {functions_dir}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}}
    public = {route.path for route in DEPLOYED_ROUTES if not route.authorized}
    for path, operations in paths.items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            if any(code != "200" and code[0] in "23" for code in responses):
                responses.pop("200", None)  # Powertools' default beside the declared success
            for code, description in _ERRORS.items():
                responses[code] = {"description": description, **error}
            if path in public:
                operation["security"] = []
    return {
        "openapi": "3.0.3",
        "info": {
            "title": TITLE,
            "version": VERSION,
            "description": "Bulk downloads: assets in, checksummed ZIP archives out. Append .json or .xml to any "
            "path, or send Accept: application/xml, to choose the representation.",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "key": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "'Token <key>' or 'Bearer <key>'",
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
