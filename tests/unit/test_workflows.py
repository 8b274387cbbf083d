"""The GitHub Actions workflows and their local actions (.github/): every action they use is
pinned to a commit, the jobs get only the permissions they use, and what the e2e action reads
from `make account` and from the stack is what those print and output."""

from __future__ import annotations

import io
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from carton.storage.schema import API_URL_OUTPUT
from carton_ops.account import create_account

ROOT = Path(__file__).resolve().parents[2]
GITHUB = ROOT / ".github"
FILES = sorted([*GITHUB.rglob("*.yml"), *GITHUB.rglob("*.yaml")])
WORKFLOWS = [path for path in FILES if path.parent == GITHUB / "workflows"]
E2E_ACTION = GITHUB / "actions/e2e/action.yml"
# `uses: owner/repo[/path]@<commit> # v1.2.3`: a tag can be moved to other code, a commit cannot.
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40} # v\d+(\.\d+){0,2}$")
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(.+?)\s*$")
ASSUMES_ROLE = "aws-actions/configure-aws-credentials@"


def uses(path: Path) -> list[str]:
    return [match.group(1) for line in path.read_text().splitlines() if (match := USES.match(line))]


def jobs(path: Path) -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(path.read_text())["jobs"]
    return found


def test_there_are_workflows_and_actions_to_check() -> None:
    assert {path.name for path in WORKFLOWS} >= {"pull-request.yml", "main.yml"}
    assert E2E_ACTION in FILES


def test_every_action_used_is_pinned_to_a_commit_with_its_version_alongside() -> None:
    unpinned = [
        f"{path.relative_to(ROOT)}: {used}"
        for path in FILES
        for used in uses(path)
        if not used.startswith("./") and not PINNED.match(used)
    ]
    assert not unpinned, "pin each action by its full commit SHA, its tag in a comment:\n" + "\n".join(unpinned)


def test_each_action_is_pinned_to_one_commit_everywhere() -> None:
    commits: dict[str, set[str]] = {}
    for path in FILES:
        for used in uses(path):
            if not used.startswith("./"):
                action, _, pin = used.partition("@")
                commits.setdefault(action, set()).add(pin)
    assert commits and all(len(pins) == 1 for pins in commits.values()), commits


def test_local_actions_exist() -> None:
    local = {used for path in FILES for used in uses(path) if used.startswith("./")}
    assert local and all((ROOT / used / "action.yml").is_file() for used in local), local


def test_workflows_grant_nothing_by_default_and_an_oidc_token_only_to_jobs_that_assume_the_role() -> None:
    for path in WORKFLOWS:
        assert yaml.safe_load(path.read_text())["permissions"] == {}, path
        for name, job in jobs(path).items():
            assumes_role = any(ASSUMES_ROLE in step.get("uses", "") for step in job["steps"])
            expected = {"contents": "read", "id-token": "write"} if assumes_role else {"contents": "read"}
            assert job["permissions"] == expected, f"{path.name}: {name}"


def test_deploys_of_one_stage_never_overlap_and_are_never_cancelled_halfway() -> None:
    for path in WORKFLOWS:
        for name, job in jobs(path).items():
            if any(ASSUMES_ROLE in step.get("uses", "") for step in job["steps"]):
                assert job["concurrency"]["group"], f"{path.name}: {name}"
                assert job["concurrency"]["cancel-in-progress"] is False, f"{path.name}: {name}"


def test_a_pull_requests_stack_is_emptied_of_archives_and_destroyed_whatever_happened() -> None:
    deploy = jobs(GITHUB / "workflows/pull-request.yml")["deploy"]
    assert deploy["env"]["CARTON_STACK"] == "CartonPr${{ github.event.number }}"
    last = deploy["steps"][-1]
    assert last["if"] == "always()"
    assert last["run"].index('aws s3 rm "s3://$archives" --recursive') < last["run"].index(
        "CARTON_DESTROY_FORCE=1 make destroy"
    )


class _AdminFunction:
    """A Lambda client whose admin function creates the account it is asked for."""

    def invoke(self, FunctionName: str, Payload: bytes) -> dict[str, Any]:  # noqa: N803 (boto3's names)
        event = json.loads(Payload)
        answer = {
            "status": 201,
            "account": event["account"],
            "user": {"email": event["email"]},
            "token": "ctn_e2e-key",
        }
        return {"Payload": io.BytesIO(json.dumps(answer).encode())}


def test_the_e2e_action_reads_the_key_make_account_prints_and_the_stacks_api_url() -> None:
    printed = create_account("ci", "ci@example.com", (_AdminFunction(), "admin", "https://api.example/prod/"))
    steps = yaml.safe_load(E2E_ACTION.read_text())["runs"]["steps"]
    script = steps[0]["run"]
    (expression,) = re.findall(r"sed -n '([^']+)'", script)
    parsed = subprocess.run(["sed", "-n", expression], input=printed, capture_output=True, text=True, check=True)
    assert parsed.stdout.strip() == "ctn_e2e-key"
    assert f"OutputKey=='{API_URL_OUTPUT}'" in script
