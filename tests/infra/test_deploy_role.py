"""The GitHub Actions deploy role (infra/deploy_role.py): one repository's workflows may assume
it, it may only drive CDK's bootstrap roles and read, administer and empty Carton stacks (the
patterns naming their admin function and archives bucket checked against a Carton stack),
cdk-nag and cfn-lint accept it, and its ARN is an output."""

from __future__ import annotations

import json
import subprocess
import sys
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from carton.storage.schema import API_URL_OUTPUT
from infra.deploy_role import (
    CDK_QUALIFIER,
    GITHUB_OIDC_HOST,
    ROLE_ARN_OUTPUT,
    STS_AUDIENCE,
    DeployRoleStack,
    admin_functions,
    archives_buckets,
    github_repository,
)
from infra.stack import ADMIN, CartonStack

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]
REPOSITORY = "acme/carton"
ARCHIVES_OUTPUT = "ArchivesBucket"  # infra/stack.py
EXISTING_PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"


def synthesize(outdir: Path, **kwargs: Any) -> dict[str, Any]:
    """The deploy role's template, synthesized with cdk-nag's AwsSolutions checks as `make deploy-role` does."""
    app = cdk.App(outdir=str(outdir))
    DeployRoleStack(app, "CartonDeployRole", repository=REPOSITORY, **kwargs)
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    try:
        app.synth()
    except RuntimeError as error:  # an unacknowledged cdk-nag finding fails synthesis
        report = outdir / "validation-report.json"
        pytest.fail(f"{error}\n{report.read_text() if report.exists() else ''}")
    document: dict[str, Any] = json.loads((outdir / "CartonDeployRole.template.json").read_text())
    return document


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return synthesize(tmp_path_factory.mktemp("deploy-role"))


def resources(template: dict[str, Any], kind: str) -> dict[str, Any]:
    return {key: value for key, value in template["Resources"].items() if value["Type"] == kind}


def only(found: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    assert len(found) == 1, found
    return next(iter(found.items()))


def joined(value: Any) -> str:
    """An Fn::Join of strings and pseudo parameters, as text: {"Ref": "AWS::Region"} -> <AWS::Region>."""
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return str(separator).join(part if isinstance(part, str) else f"<{part['Ref']}>" for part in parts)


def test_the_oidc_provider_is_githubs_for_sts(template: dict[str, Any]) -> None:
    _, provider = only(resources(template, "AWS::IAM::OIDCProvider"))
    assert provider["Properties"] == {"Url": f"https://{GITHUB_OIDC_HOST}", "ClientIdList": [STS_AUDIENCE]}


def test_only_the_repositorys_pull_requests_environments_and_main_may_assume_the_role(
    template: dict[str, Any],
) -> None:
    provider, _ = only(resources(template, "AWS::IAM::OIDCProvider"))
    _, role = only(resources(template, "AWS::IAM::Role"))
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"] == {"Federated": {"Ref": provider}}
    assert statement["Condition"] == {
        "StringEquals": {
            f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE,
            f"{GITHUB_OIDC_HOST}:sub": [
                f"repo:{REPOSITORY}:pull_request",
                f"repo:{REPOSITORY}:environment:staging",
                f"repo:{REPOSITORY}:environment:production",
                f"repo:{REPOSITORY}:ref:refs/heads/main",
            ],
        }
    }
    mentioned = json.dumps(template).count("repo:")
    assert mentioned == json.dumps(template).count(f"repo:{REPOSITORY}:") == 4


def test_an_existing_oidc_provider_is_trusted_instead_of_a_new_one(tmp_path: Path) -> None:
    template = synthesize(tmp_path, oidc_provider_arn=EXISTING_PROVIDER)
    assert not resources(template, "AWS::IAM::OIDCProvider")
    _, role = only(resources(template, "AWS::IAM::Role"))
    (statement,) = role["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Federated": EXISTING_PROVIDER}


def test_the_role_may_drive_cdks_bootstrap_roles_and_read_administer_and_empty_carton_stacks_only(
    template: dict[str, Any],
) -> None:
    role, properties = only(resources(template, "AWS::IAM::Role"))
    assert "ManagedPolicyArns" not in properties["Properties"] and "Policies" not in properties["Properties"]
    _, policy = only(resources(template, "AWS::IAM::Policy"))
    assert policy["Properties"]["Roles"] == [{"Ref": role}]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert all(statement["Effect"] == "Allow" for statement in statements)
    granted = {statement["Action"]: joined(statement["Resource"]) for statement in statements}
    assert len(granted) == len(statements)
    account, region, partition = "<AWS::AccountId>", "<AWS::Region>", "<AWS::Partition>"
    assert granted == {
        "sts:AssumeRole": f"arn:{partition}:iam::{account}:role/cdk-{CDK_QUALIFIER}-*-{account}-{region}",
        "cloudformation:DescribeStacks": f"arn:{partition}:cloudformation:{region}:{account}:stack/Carton*/*",
        "lambda:InvokeFunction": f"arn:{partition}:lambda:{region}:{account}:function:{admin_functions()}",
        "s3:ListBucket": f"arn:{partition}:s3:::{archives_buckets()}",
        "s3:DeleteObject": f"arn:{partition}:s3:::{archives_buckets()}/*",
    }
    for statement in statements:
        expected = (
            {"StringEquals": {"s3:ResourceAccount": {"Ref": "AWS::AccountId"}}}
            if statement["Action"].startswith("s3:")
            else None
        )
        assert statement.get("Condition") == expected, statement


def test_the_workflows_ask_for_no_longer_a_session_than_the_role_allows(template: dict[str, Any]) -> None:
    _, role = only(resources(template, "AWS::IAM::Role"))
    asked = [
        int(line.split(":")[1])
        for path in (ROOT / ".github/workflows").glob("*.yml")
        for line in path.read_text().splitlines()
        if line.strip().startswith("role-duration-seconds:")
    ]
    assert asked and max(asked) <= role["Properties"]["MaxSessionDuration"]


def test_the_role_arn_is_an_output(template: dict[str, Any]) -> None:
    role, _ = only(resources(template, "AWS::IAM::Role"))
    assert template["Outputs"][ROLE_ARN_OUTPUT]["Value"] == {"Fn::GetAtt": [role, "Arn"]}


def test_the_patterns_name_a_carton_stacks_admin_function_and_archives_bucket_and_the_outputs_exist() -> None:
    app = cdk.App(context={**CONTEXT, "email": "off", "aws:cdk:bundling-stacks": []})
    stack = CartonStack(app, "CartonPr12")

    def logical_id(construct: IConstruct) -> str:
        assert isinstance(construct.node.default_child, cdk.CfnElement), construct.node.path
        return stack.get_logical_id(construct.node.default_child)

    # CloudFormation names what has no name <stack>-<logical id>-<random suffix> (buckets in lowercase).
    functions = {
        function.node.path: f"CartonPr12-{logical_id(function)}-AbCdEf123456"
        for function in stack.node.find_all()
        if isinstance(function, lambda_.Function)
    }
    assert [path for path, name in functions.items() if fnmatchcase(name, admin_functions())] == [
        f"CartonPr12/Functions/{ADMIN}/Function"
    ]
    buckets = {
        bucket.node.path: f"cartonpr12-{logical_id(bucket).lower()}-abcdef123456"
        for bucket in stack.node.find_all()
        if isinstance(bucket, s3.Bucket)
    }
    assert [path for path, name in buckets.items() if fnmatchcase(name, archives_buckets())] == [
        "CartonPr12/Storage/Archives"
    ]
    # What the workflows read: the API (e2e action) and the archives bucket (a pull request's destroy).
    outputs = {child.node.id for child in stack.node.children if isinstance(child, cdk.CfnOutput)}
    assert {API_URL_OUTPUT, ARCHIVES_OUTPUT} <= outputs
    workflows = (ROOT / ".github/actions/e2e/action.yml").read_text() + (
        ROOT / ".github/workflows/pull-request.yml"
    ).read_text()
    for output in (API_URL_OUTPUT, ARCHIVES_OUTPUT):
        assert f"OutputKey=='{output}'" in workflows


def test_cfn_lint_accepts_the_template(template: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "CartonDeployRole.template.json"
    path.write_text(json.dumps(template))
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("repository", ["acme/carton", "Acme-Corp/carton.api", "a/b_c", "acme@123/carton@4567"])
def test_a_github_repository_is_accepted(repository: str) -> None:
    assert github_repository(f" {repository} ") == repository


@pytest.mark.parametrize(
    "wrong",
    ["", "acme", "acme/", "/carton", "acme/carton/x", "acme/*", "acme/carton:*", "-acme/carton", "acme/..", "a b/c"],
)
def test_anything_else_is_refused_with_how_to_name_it(wrong: str) -> None:
    with pytest.raises(ValueError, match=r"make deploy-role GITHUB_REPO=<owner>/<name>"):
        github_repository(wrong)


def test_make_deploy_role_refuses_a_missing_or_wrong_repository_before_cdk_runs() -> None:
    # The Makefile's first step: `python -m infra.deploy_role --check "$GITHUB_REPO"`.
    for wrong in ("", "acme"):
        result = subprocess.run(
            [sys.executable, "-m", "infra.deploy_role", "--check", wrong],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 2
        assert f"GITHUB_REPO={wrong!r} is not a GitHub repository" in result.stderr
    makefile = (ROOT / "Makefile").read_text()
    assert '$(BIN)/python -m infra.deploy_role --check "$$GITHUB_REPO"' in makefile
