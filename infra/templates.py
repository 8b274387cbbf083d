"""The CloudFormation templates of one stack in a cloud assembly: its own and its nested stacks'.

`python -m infra.templates cdk.out Carton` prints their paths, one a line (make synth lints
them all with cfn-lint); the infra tests check the same list.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

NESTED_SUFFIX = ".nested.template.json"


def templates(outdir: Path, stack_name: str) -> list[Path]:
    """The stack's template first, then every nested stack's (all are file assets of the stack)."""
    artifacts: dict[str, Any] = json.loads((outdir / "manifest.json").read_text())["artifacts"]
    stacks = {
        artifact.get("properties", {}).get("stackName", artifact_id): artifact
        for artifact_id, artifact in artifacts.items()
        if artifact.get("type") == "aws:cloudformation:stack"
    }
    if stack_name not in stacks:
        raise LookupError(f"no stack {stack_name!r} in {outdir} (stacks: {', '.join(sorted(stacks)) or 'none'})")
    artifact = stacks[stack_name]
    found = [outdir / artifact["properties"]["templateFile"]]
    for dependency in artifact.get("dependencies", []):
        manifest = artifacts.get(dependency, {})
        if manifest.get("type") != "cdk:asset-manifest":
            continue
        assets = json.loads((outdir / manifest["properties"]["file"]).read_text())
        found += sorted(
            outdir / asset["source"]["path"]
            for asset in assets.get("files", {}).values()
            if asset["source"].get("path", "").endswith(NESTED_SUFFIX)
        )
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m infra.templates <cdk.out> <stack name>", file=sys.stderr)
        return 2
    try:
        found = templates(Path(argv[0]), argv[1])
    except (OSError, LookupError) as error:
        print(error, file=sys.stderr)
        return 1
    print("\n".join(map(str, found)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
