"""What a cold start loads: no function imports Pillow, xmltodict or the OpenAPI machinery
at import time unless it is what the function is for (Pillow loads on first use, xmltodict
when a response is asked for as XML). A check of what is imported, not a timing."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = sorted(path.parent.name for path in (ROOT / "functions").glob("*/handler.py"))
HEAVY = {
    "PIL": set(),
    "xmltodict": {"local_outbox"},
    "carton.web.openapi": {"openapi"},
    "aws_lambda_powertools.event_handler.openapi.swagger_ui": {"docs"},
}
PROBE = (
    "import sys; sys.path[:0] = [sys.argv[1] + '/layers/core/python', sys.argv[1] + '/functions/' + sys.argv[2]]; "
    "import handler; print(' '.join(name for name in sys.argv[3:] if name in sys.modules))"
)


def loaded(function: str) -> set[str]:
    env = {**os.environ, "POWERTOOLS_TRACE_DISABLED": "true", "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(ROOT), function, *HEAVY],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return set(done.stdout.split())


def test_no_function_loads_heavy_modules_it_does_not_need_at_import() -> None:
    with ThreadPoolExecutor(2) as pool:
        found = dict(zip(FUNCTIONS, pool.map(loaded, FUNCTIONS), strict=True))
    wrong = {
        function: sorted(name for name in modules if function not in HEAVY[name])
        for function, modules in found.items()
        if any(function not in HEAVY[name] for name in modules)
    }
    assert wrong == {}
    assert "carton.web.openapi" in found["openapi"]
