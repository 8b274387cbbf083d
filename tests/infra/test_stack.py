"""The CDK app: resources, least privilege, cdk-nag and cfn-lint on the synthesized template."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from carton import config
from carton.routes import DEPLOYED_ROUTES, http_functions
from carton.schema import S3_FEEDS, TABLE_INDEXES, TABLE_KEYS
from infra.bundling import LAMBDA_PYTHON
from infra.definition import placeholders
from infra.permissions import WORKFLOW_ACTIONS
from infra.stack import CartonStack

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]
FUNCTION_COUNT = len(
    {"authorizer", *http_functions(DEPLOYED_ROUTES), *placeholders(), *(feed.function for feed in S3_FEEDS)}
)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Template, Path]:
    outdir = tmp_path_factory.mktemp("cdk.out")
    # The same feature flags as `cdk synth`; bundling skipped (it is exercised by `make synth`).
    app = cdk.App(context={**CONTEXT, "aws:cdk:bundling-stacks": []}, outdir=str(outdir))
    stack = CartonStack(app, "Carton")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    try:
        app.synth()
    except RuntimeError as error:  # cdk-nag findings fail synthesis
        report = outdir / "validation-report.json"
        pytest.fail(f"{error}\n{report.read_text() if report.exists() else ''}")
    return Template.from_stack(stack), outdir / "Carton.template.json"


def resources(template: Template, kind: str) -> dict[str, Any]:
    found: dict[str, Any] = template.find_resources(kind)
    return found


def test_table_keys_and_indexes_come_from_the_shared_schema(synthesized: tuple[Template, Path]) -> None:
    template, _ = synthesized
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "KeySchema": [
                {"AttributeName": TABLE_KEYS.partition_key, "KeyType": "HASH"},
                {"AttributeName": TABLE_KEYS.sort_key, "KeyType": "RANGE"},
            ],
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "DeletionProtectionEnabled": True,
            "GlobalSecondaryIndexes": [Match.object_like({"IndexName": index.name}) for index in TABLE_INDEXES],
        },
    )


def test_buckets_are_private_encrypted_and_expire_what_they_should(synthesized: tuple[Template, Path]) -> None:
    template, _ = synthesized
    buckets = resources(template, "AWS::S3::Bucket")
    assert len(buckets) == 3  # assets, archives, access logs
    for bucket in buckets.values():
        properties = bucket["Properties"]
        assert properties["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        assert properties["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    rules = [rule for bucket in buckets.values() for rule in bucket["Properties"]["LifecycleConfiguration"]["Rules"]]
    assert sum(1 for rule in rules if rule.get("AbortIncompleteMultipartUpload") == {"DaysAfterInitiation": 1}) == 2
    assert {"ExpirationInDays": CONTEXT["archive_expiry_days"], "Id": "expire-archives", "Status": "Enabled"} in rules
    assert any(b["Properties"].get("VersioningConfiguration") == {"Status": "Enabled"} for b in buckets.values())
    policies = resources(template, "AWS::S3::BucketPolicy")
    assert all("aws:SecureTransport" in json.dumps(policy) for policy in policies.values())


def test_one_function_per_folder_on_both_layers_with_the_right_runtime(synthesized: tuple[Template, Path]) -> None:
    template, _ = synthesized
    functions = {
        name: f
        for name, f in resources(template, "AWS::Lambda::Function").items()
        if f["Properties"].get("Handler") == "handler.lambda_handler"
    }
    assert len(functions) == FUNCTION_COUNT
    for function in functions.values():
        properties = function["Properties"]
        assert properties["Runtime"] == f"python{LAMBDA_PYTHON}"
        assert len(properties["Layers"]) == 2
        assert properties["TracingConfig"] == {"Mode": "Active"}
        assert config.ENV_TABLE in properties["Environment"]["Variables"]
    starting = [
        f for f in functions.values() if config.ENV_STATE_MACHINE in f["Properties"]["Environment"]["Variables"]
    ]
    assert len(starting) == len(WORKFLOW_ACTIONS)


def test_api_methods_come_from_the_route_table(synthesized: tuple[Template, Path]) -> None:
    template, _ = synthesized
    methods = resources(template, "AWS::ApiGateway::Method").values()
    routed = [m["Properties"] for m in methods if m["Properties"]["HttpMethod"] != "ANY"]
    expected = [(route.method, route.authorized) for route in DEPLOYED_ROUTES for _ in route.resource_paths]
    assert sorted((m["HttpMethod"], m["AuthorizationType"] == "CUSTOM") for m in routed) == sorted(expected)
    mocks = [m["Properties"] for m in methods if m["Properties"]["HttpMethod"] == "ANY"]
    assert mocks and all(m["Integration"]["Type"] == "MOCK" for m in mocks)
    template.resource_count_is("AWS::ApiGateway::Authorizer", 1)
    template.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {"ResponseType": "UNAUTHORIZED", "StatusCode": "401", "ResponseTemplates": Match.any_value()},
    )


def test_the_state_machine_runs_the_asl_file_with_every_step(synthesized: tuple[Template, Path]) -> None:
    template, _ = synthesized
    machine = next(iter(resources(template, "AWS::StepFunctions::StateMachine").values()))["Properties"]
    assert set(machine["DefinitionSubstitutions"]) == set(placeholders())
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Level"] == "ALL"


def test_feeds_have_queues_with_dead_letters_and_partial_batch_failures(synthesized: tuple[Template, Path]) -> None:
    template, _ = synthesized
    queues = resources(template, "AWS::SQS::Queue")
    assert len(queues) == 2 * len(S3_FEEDS)
    assert sum(1 for q in queues.values() if "RedrivePolicy" in q["Properties"]) == len(S3_FEEDS)
    mappings = resources(template, "AWS::Lambda::EventSourceMapping")
    assert len(mappings) == len(S3_FEEDS)
    assert all(m["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings.values())


def test_no_policy_of_ours_grants_a_wildcard_action(synthesized: tuple[Template, Path]) -> None:
    template, _ = synthesized
    for name, policy in resources(template, "AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not [a for a in actions if "*" in a], f"{name} grants {actions}"


def test_cfn_lint_accepts_the_template(synthesized: tuple[Template, Path]) -> None:
    _, path = synthesized
    # W3005: aws-cdk-lib adds DependsOn next to GetAtt on purpose; harmless and not ours.
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", "W3005", "--", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
