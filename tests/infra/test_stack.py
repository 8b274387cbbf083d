"""The CDK app: resources, least privilege, cdk-nag and cfn-lint on every synthesized template.

Two syntheses: the defaults (as cdk.json, with a sender), and every other setting at
once (CORS for two origins, e-mail off, x86_64).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from carton.shared import config
from carton.storage.schema import (
    ADMIN_FUNCTION_OUTPUT,
    API_URL_OUTPUT,
    ARCHIVE_EXPIRY_TAG,
    ENDED_BADLY,
    EXECUTION_ENDED_FUNCTION,
    S3_FEEDS,
    SWEEP_EVERY_MINUTES,
    SWEEPER_FUNCTION,
    TABLE_INDEXES,
    TABLE_KEYS,
)
from carton.web.routes import (
    CORS_ALLOW_HEADERS,
    CORS_EXPOSE_HEADERS,
    DEPLOYED_ROUTES,
    GATEWAY_ANSWERS,
    deployed_routes,
    http_functions,
)
from infra.api import gateway_cors_headers
from infra.bundling import LAMBDA_PYTHON
from infra.definition import placeholders
from infra.permissions import MISSING_IS_404, OBJECT_ACTIONS, TABLE_ACTIONS, WORKFLOW_ACTIONS
from infra.settings import ConfigurationError
from infra.stack import ADMIN, AUTHORIZER, CartonStack, deployed_functions
from infra.storage import ARCHIVE_EXPOSED_HEADERS
from infra.templates import templates

ROOT = Path(__file__).resolve().parents[2]
CONTEXT = json.loads((ROOT / "cdk.json").read_text())["context"]
MAIL_FROM = "Carton <no-reply@carton.example>"
ORIGINS = ("https://app.example", "https://admin.example")
ALTERNATIVE = {
    "cors_origins": ", ".join(ORIGINS),
    "email": "off",
    "architecture": "x86_64",
    "docs": "on",
    "waf": "on",
    "alarm_email": "ops@carton.example",
    "pack_reserved_concurrency": "off",
    "api_rate_limit": "7",
}
API_FUNCTIONS = set(http_functions(DEPLOYED_ROUTES))
ALTERNATIVE_ROUTES = deployed_routes(frozenset({"docs"}))
FUNCTIONS = set(deployed_functions())
# What Carton's clients send: each must be allowed by the preflight.
BROWSER_SENDS = ("Authorization", "Content-Type", "Idempotency-Key", "If-None-Match", "If-Modified-Since")
# CloudFormation allows 500 resources per stack; this leaves room to grow.
RESOURCE_BUDGET = 300


@dataclass
class Synth:
    stack: Template  # the top-level stack
    api: Template  # the REST API's nested stack
    paths: list[Path]  # every template: the stack's, then the nested ones
    outdir: Path

    def documents(self) -> list[dict[str, Any]]:
        return [json.loads(path.read_text()) for path in self.paths]

    def resources(self, kind: str) -> dict[str, Any]:
        return {
            logical_id: resource
            for document in self.documents()
            for logical_id, resource in document["Resources"].items()
            if resource["Type"] == kind
        }

    def functions(self) -> dict[str, dict[str, Any]]:
        """Carton's functions by name (their description is "Carton <name>")."""
        return {
            f["Properties"]["Description"].removeprefix("Carton "): f
            for f in self.stack.find_resources("AWS::Lambda::Function").values()
            if f["Properties"].get("Handler") == "handler.lambda_handler"
        }

    def logical_id(self, name: str) -> str:
        ids = [
            logical_id
            for logical_id, f in self.stack.find_resources("AWS::Lambda::Function").items()
            if f["Properties"].get("Description") == f"Carton {name}"
        ]
        assert len(ids) == 1, name
        return ids[0]

    def policy_statements(self, name: str) -> list[dict[str, Any]]:
        role = self.functions()[name]["Properties"]["Role"]["Fn::GetAtt"][0]
        return [
            statement
            for policy in self.stack.find_resources("AWS::IAM::Policy").values()
            if {"Ref": role} in policy["Properties"]["Roles"]
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        ]

    def permitted_functions(self, principal: str | None = "apigateway.amazonaws.com") -> list[str]:
        """The function (parent stack logical id) of each AWS::Lambda::Permission granted to
        `principal` (None: to anyone), in any template."""
        parameters = {
            name: value
            for nested in self.stack.find_resources("AWS::CloudFormation::Stack").values()
            for name, value in nested["Properties"].get("Parameters", {}).items()
        }
        found = []
        for permission in self.resources("AWS::Lambda::Permission").values():
            if principal is not None and permission["Properties"]["Principal"] != principal:
                continue
            target = permission["Properties"]["FunctionName"]
            if "Ref" in target and target["Ref"] in parameters:
                target = parameters[target["Ref"]]
            found.append(target["Fn::GetAtt"][0] if "Fn::GetAtt" in target else target["Ref"])
        return found


def synthesize(outdir: Path, **context: str) -> Synth:
    # The same feature flags as `cdk synth`, and its AWS::CDK::Metadata resource per stack (so
    # the counts are the deployed ones); bundling skipped (it is exercised by `make synth`).
    app = cdk.App(
        context={
            **CONTEXT,
            "mail_from": MAIL_FROM,
            **context,
            "aws:cdk:bundling-stacks": [],
            "aws:cdk:version-reporting": True,
        },
        outdir=str(outdir),
    )
    stack = CartonStack(app, "Carton")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    try:
        app.synth()
    except RuntimeError as error:  # cdk-nag findings fail synthesis
        report = outdir / "validation-report.json"
        pytest.fail(f"{error}\n{report.read_text() if report.exists() else ''}")
    nested = [child for child in stack.node.children if isinstance(child, cdk.NestedStack)]
    assert len(nested) == 1
    return Synth(Template.from_stack(stack), Template.from_stack(nested[0]), templates(outdir, "Carton"), outdir)


@pytest.fixture(scope="module")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="module")
def alternative(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out"), **ALTERNATIVE)


@pytest.fixture(params=["synthesized", "alternative"])
def each(request: pytest.FixtureRequest) -> Synth:
    found: Synth = request.getfixturevalue(request.param)
    return found


# --- shape -------------------------------------------------------------------------------


def test_every_stack_stays_within_the_resource_budget(each: Synth) -> None:
    counts = {path.name: len(json.loads(path.read_text())["Resources"]) for path in each.paths}
    print("\nresources per stack:", counts)
    assert len(counts) == 2 and next(iter(counts)) == "Carton.template.json"
    assert all(count <= RESOURCE_BUDGET for count in counts.values()), counts


def test_templates_lists_the_stack_and_its_nested_stacks(synthesized: Synth) -> None:
    on_disk = {path.name for path in synthesized.outdir.glob("*.template.json")}
    assert {path.name for path in synthesized.paths} == on_disk
    with pytest.raises(LookupError):
        templates(synthesized.outdir, "NoSuchStack")


def test_cfn_lint_accepts_every_template(each: Synth) -> None:
    # W3005: aws-cdk-lib adds DependsOn next to GetAtt on purpose; harmless and not ours.
    result = subprocess.run(
        [str(Path(sys.executable).parent / "cfn-lint"), "--ignore-checks", "W3005", "--", *map(str, each.paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_table_keys_and_indexes_come_from_the_shared_schema(synthesized: Synth) -> None:
    synthesized.stack.has_resource_properties(
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


def test_buckets_are_private_encrypted_and_expire_what_they_should(synthesized: Synth) -> None:
    buckets = synthesized.resources("AWS::S3::Bucket")
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
    shorter = sorted(rule["ExpirationInDays"] for rule in rules if rule["Id"].startswith("expire-archives-after-"))
    assert shorter == list(range(1, CONTEXT["archive_expiry_days"]))
    one_day = next(rule for rule in rules if rule["Id"] == "expire-archives-after-1-days")
    assert one_day["TagFilters"] == [{"Key": ARCHIVE_EXPIRY_TAG, "Value": "1"}] and one_day["Prefix"] == "archives/"
    assert any(b["Properties"].get("VersioningConfiguration") == {"Status": "Enabled"} for b in buckets.values())
    policies = synthesized.resources("AWS::S3::BucketPolicy")
    assert all("aws:SecureTransport" in json.dumps(policy) for policy in policies.values())


def test_one_function_per_folder_on_both_layers_with_the_right_runtime(synthesized: Synth) -> None:
    functions = synthesized.functions()
    assert set(functions) == FUNCTIONS
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


def test_api_methods_come_from_the_route_table(synthesized: Synth) -> None:
    api = synthesized.api
    methods = api.find_resources("AWS::ApiGateway::Method").values()
    routed = [m["Properties"] for m in methods if m["Properties"]["HttpMethod"] != "ANY"]
    expected = [(route.method, route.authorized) for route in DEPLOYED_ROUTES for _ in route.resource_paths]
    assert sorted((m["HttpMethod"], m["AuthorizationType"] == "CUSTOM") for m in routed) == sorted(expected)
    mocks = [m["Properties"] for m in methods if m["Properties"]["HttpMethod"] == "ANY"]
    assert mocks and all(m["Integration"]["Type"] == "MOCK" for m in mocks)
    # Each 405 says what the path does allow.
    allows = {
        m["Integration"]["IntegrationResponses"][0]["ResponseParameters"]["method.response.header.Allow"] for m in mocks
    }
    assert "'DELETE, GET'" in allows and "'GET, POST'" in allows and "'DELETE, GET, PUT'" in allows
    api.resource_count_is("AWS::ApiGateway::Authorizer", 1)
    api.has_resource_properties(
        "AWS::ApiGateway::GatewayResponse",
        {"ResponseType": "UNAUTHORIZED", "StatusCode": "401", "ResponseTemplates": Match.any_value()},
    )
    assert not synthesized.stack.find_resources("AWS::ApiGateway::Method"), "the API lives in its nested stack"


def test_api_gateway_may_invoke_each_api_function_through_one_permission(synthesized: Synth) -> None:
    permitted = synthesized.permitted_functions()
    assert sorted(permitted) == sorted(synthesized.logical_id(name) for name in {AUTHORIZER, *API_FUNCTIONS})
    permissions = [
        permission
        for permission in synthesized.resources("AWS::Lambda::Permission").values()
        if permission["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    for function, permission in zip(permitted, permissions, strict=True):
        source = json.dumps(permission["Properties"]["SourceArn"])
        if function == synthesized.logical_id(AUTHORIZER):
            assert '"/authorizers/"' in source  # this API's token authorizer only
        else:
            assert source.endswith('"/*/*/*"]]}')  # any method and path of this API (not of another)


def test_the_state_machine_runs_the_asl_file_with_every_step(synthesized: Synth) -> None:
    machine = next(iter(synthesized.resources("AWS::StepFunctions::StateMachine").values()))["Properties"]
    assert set(machine["DefinitionSubstitutions"]) == set(placeholders())
    assert machine["TracingConfiguration"] == {"Enabled": True}
    assert machine["LoggingConfiguration"]["Level"] == "ALL"
    definition = json.loads(machine["DefinitionString"])
    assert definition["States"]["Complete"]["TimeoutSeconds"] == 900
    assert "States.Timeout" in json.dumps(definition["States"]["Prepare"]["Retry"])


def test_feeds_have_queues_with_dead_letters_and_partial_batch_failures(synthesized: Synth) -> None:
    queues = synthesized.resources("AWS::SQS::Queue")
    assert len(queues) == 2 * len(S3_FEEDS)
    assert sum(1 for q in queues.values() if "RedrivePolicy" in q["Properties"]) == len(S3_FEEDS)
    mappings = synthesized.resources("AWS::Lambda::EventSourceMapping")
    assert len(mappings) == len(S3_FEEDS)
    assert all(m["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"] for m in mappings.values())


def test_no_policy_of_ours_grants_a_wildcard_action(each: Synth) -> None:
    for name, policy in each.resources("AWS::IAM::Policy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            assert not [a for a in actions if "*" in a], f"{name} grants {actions}"


# --- the admin function -------------------------------------------------------------------


def test_admin_is_deployed_but_only_iam_principals_may_invoke_it(synthesized: Synth) -> None:
    admin = synthesized.logical_id(ADMIN)
    assert admin not in synthesized.permitted_functions(principal=None)
    assert admin not in json.dumps(synthesized.api.to_json()), "no route, no integration"
    outputs = synthesized.stack.to_json()["Outputs"]
    assert outputs[ADMIN_FUNCTION_OUTPUT]["Value"] == {"Ref": admin}
    assert API_URL_OUTPUT in outputs
    actions = [a for s in synthesized.policy_statements(ADMIN) for a in s["Action"] if a.startswith("dynamodb:")]
    assert sorted(actions) == sorted(TABLE_ACTIONS[ADMIN]) == ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"]


# --- missing objects are 404 --------------------------------------------------------------


@pytest.mark.parametrize("bucket", MISSING_IS_404)
def test_readers_may_list_the_prefixes_they_read(synthesized: Synth, bucket: str) -> None:
    readers = {
        name: sorted(prefix for where, prefix, actions in grants if where == bucket and "s3:GetObject" in actions)
        for name, grants in OBJECT_ACTIONS.items()
    }
    readers = {name: prefixes for name, prefixes in readers.items() if prefixes}
    if bucket == "assets":
        assert {"workflow_prepare", "workflow_pack"} <= set(readers)
    found = [i for i in synthesized.stack.find_resources("AWS::S3::Bucket") if i.startswith(f"Storage{bucket.title()}")]
    arn = {"Fn::GetAtt": [*found, "Arn"]}
    for name in FUNCTIONS:
        listing = [
            s
            for s in synthesized.policy_statements(name)
            if s["Action"] in ("s3:ListBucket", ["s3:ListBucket"]) and s["Resource"] == arn
        ]
        if name not in readers:
            assert not listing, name
            continue
        assert listing == [
            {
                "Action": "s3:ListBucket",
                "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in readers[name]]}},
                "Effect": "Allow",
                "Resource": arn,
            }
        ], name


def test_steps_that_rerun_may_find_earlier_uploads(synthesized: Synth) -> None:
    for name in ("workflow_prepare", "workflow_fail", "delete_download", SWEEPER_FUNCTION, EXECUTION_ENDED_FUNCTION):
        actions = [s["Action"] for s in synthesized.policy_statements(name)]
        assert "s3:ListBucketMultipartUploads" in actions, name


# --- e-mail -------------------------------------------------------------------------------


def test_without_a_sender_synthesis_stops_and_says_what_to_set() -> None:
    app = cdk.App(context={**CONTEXT, "aws:cdk:bundling-stacks": []})
    with pytest.raises(ConfigurationError, match=r"mail_from=.*SES-verified identity.*email=off"):
        CartonStack(app, "Carton")


def test_with_email_on_the_sender_is_configured_and_may_send(synthesized: Synth) -> None:
    for function in synthesized.functions().values():
        assert function["Properties"]["Environment"]["Variables"][config.ENV_MAIL_FROM] == MAIL_FROM
    sending = [s for s in synthesized.policy_statements("workflow_notify") if s["Action"] == "ses:SendEmail"]
    assert len(sending) == 1
    assert sending[0]["Condition"] == {"StringEquals": {"ses:FromAddress": "no-reply@carton.example"}}


def test_with_email_off_no_sender_and_no_ses(alternative: Synth) -> None:
    for function in alternative.functions().values():
        assert config.ENV_MAIL_FROM not in function["Properties"]["Environment"]["Variables"]
    assert "ses:" not in json.dumps(alternative.resources("AWS::IAM::Policy"))
    assert any(s["Action"] == "events:PutEvents" for s in alternative.policy_statements("workflow_notify"))


# --- CORS ---------------------------------------------------------------------------------


def test_without_origins_there_is_no_cors_anywhere(synthesized: Synth) -> None:
    text = json.dumps(synthesized.documents())
    assert "Access-Control" not in text and "CorsConfiguration" not in text
    assert config.ENV_CORS_ORIGINS not in text
    methods = synthesized.api.find_resources("AWS::ApiGateway::Method").values()
    assert not [m for m in methods if m["Properties"]["HttpMethod"] == "OPTIONS"]
    answers = synthesized.resources("AWS::ApiGateway::GatewayResponse").values()
    types = {answer["Properties"]["ResponseType"] for answer in answers}
    assert types == set(GATEWAY_ANSWERS) - {"METHOD_NOT_ALLOWED"}


def test_with_origins_every_function_knows_them(alternative: Synth) -> None:
    for function in alternative.functions().values():
        assert function["Properties"]["Environment"]["Variables"][config.ENV_CORS_ORIGINS] == ",".join(ORIGINS)


def test_with_origins_the_api_answers_preflight_on_every_routed_path(alternative: Synth) -> None:
    methods = [m["Properties"] for m in alternative.api.find_resources("AWS::ApiGateway::Method").values()]
    preflights = [m for m in methods if m["HttpMethod"] == "OPTIONS"]
    assert len(preflights) == len({path for route in ALTERNATIVE_ROUTES for path in route.resource_paths})
    for preflight in preflights:
        assert preflight["AuthorizationType"] == "NONE" and preflight["Integration"]["Type"] == "MOCK"
        (response,) = preflight["Integration"]["IntegrationResponses"]
        headers = response["ResponseParameters"]
        assert headers["method.response.header.Access-Control-Allow-Origin"] == f"'{ORIGINS[0]}'"
        assert headers["method.response.header.Vary"] == "'Origin'"
        allowed = headers["method.response.header.Access-Control-Allow-Headers"].strip("'").split(",")
        assert set(allowed) == set(CORS_ALLOW_HEADERS) == set(BROWSER_SENDS)
        exposed = headers["method.response.header.Access-Control-Expose-Headers"].strip("'").split(",")
        assert set(exposed) == set(CORS_EXPOSE_HEADERS) == {"Location", "ETag", "Last-Modified"}
        # The second origin is echoed only when it is the request's (VTL in the mock's response).
        assert f'$origin == "{ORIGINS[1]}"' in response["ResponseTemplates"]["application/json"]
    routed = {(m["ResourceId"]["Ref"], m["HttpMethod"]) for m in methods if m["HttpMethod"] not in ("ANY", "OPTIONS")}
    for preflight in preflights:
        allow = preflight["Integration"]["IntegrationResponses"][0]["ResponseParameters"][
            "method.response.header.Access-Control-Allow-Methods"
        ]
        assert set(allow.strip("'").split(",")) == {m for r, m in routed if r == preflight["ResourceId"]["Ref"]}


def test_with_origins_the_gateways_own_answers_carry_cors_headers(alternative: Synth) -> None:
    answers = {
        r["Properties"]["ResponseType"]: r["Properties"]
        for r in alternative.resources("AWS::ApiGateway::GatewayResponse").values()
    }
    assert set(answers) == {
        "UNAUTHORIZED",
        "ACCESS_DENIED",
        "MISSING_AUTHENTICATION_TOKEN",
        "REQUEST_TOO_LARGE",
        "DEFAULT_4XX",
        "DEFAULT_5XX",
    }
    for answer in answers.values():
        assert answer["ResponseParameters"] == {
            "gatewayresponse.header.Access-Control-Allow-Origin": "method.request.header.Origin",
            "gatewayresponse.header.Vary": "'Origin'",
        }
        assert "message" in answer["ResponseTemplates"]["application/json"]
    mocks = [
        m["Properties"]
        for m in alternative.api.find_resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "ANY"
    ]
    for mock in mocks:
        (response,) = mock["Integration"]["IntegrationResponses"]
        assert response["ResponseParameters"]["method.response.header.Access-Control-Allow-Origin"] == f"'{ORIGINS[0]}'"
        assert json.loads(response["ResponseTemplates"]["application/json"].rsplit("#end\n", 1)[1])["message"]


def test_gateway_answers_name_one_origin_or_echo_the_request_of_several() -> None:
    assert gateway_cors_headers(()) == {}
    assert gateway_cors_headers(("https://app.example",)) == {
        "Access-Control-Allow-Origin": "'https://app.example'",
        "Vary": "'Origin'",
    }
    assert gateway_cors_headers(ORIGINS)["Access-Control-Allow-Origin"] == "method.request.header.Origin"


def test_with_origins_the_buckets_allow_uploads_and_ranged_downloads(alternative: Synth) -> None:
    rules = {
        logical_id: bucket["Properties"].get("CorsConfiguration", {}).get("CorsRules")
        for logical_id, bucket in alternative.resources("AWS::S3::Bucket").items()
    }
    assets = next(rules[i] for i in rules if i.startswith("StorageAssets"))
    archives = next(rules[i] for i in rules if i.startswith("StorageArchives"))
    assert not next(rules[i] for i in rules if i.startswith("StorageAccessLogs"))
    assert len(assets) == 1
    assert set(assets[0]["AllowedMethods"]) == {"POST", "PUT"}
    assert assets[0]["AllowedOrigins"] == list(ORIGINS)
    assert len(archives) == 1
    assert set(archives[0]["AllowedMethods"]) == {"GET", "HEAD"}
    assert archives[0]["AllowedOrigins"] == list(ORIGINS)
    assert archives[0]["AllowedHeaders"] == ["Range"]
    assert set(archives[0]["ExposedHeaders"]) == set(ARCHIVE_EXPOSED_HEADERS)
    assert set(ARCHIVE_EXPOSED_HEADERS) == {"Content-Range", "Content-Length", "ETag", "Content-Disposition"}


# --- runtime parity -----------------------------------------------------------------------


@pytest.mark.parametrize(("variant", "architecture"), [("synthesized", "arm64"), ("alternative", "x86_64")])
def test_functions_and_layers_share_one_architecture(
    request: pytest.FixtureRequest, variant: str, architecture: str
) -> None:
    synth: Synth = request.getfixturevalue(variant)
    for name, function in synth.functions().items():
        assert function["Properties"]["Architectures"] == [architecture], name
        assert function["Properties"]["Runtime"] == f"python{LAMBDA_PYTHON}", name
    layers = synth.resources("AWS::Lambda::LayerVersion")
    assert len(layers) == 2
    for layer in layers.values():
        assert layer["Properties"]["CompatibleArchitectures"] == [architecture]
        assert layer["Properties"]["CompatibleRuntimes"] == [f"python{LAMBDA_PYTHON}"]


def test_the_tests_run_on_the_lambda_runtimes_python() -> None:
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if running != LAMBDA_PYTHON and not _machine_has_python(LAMBDA_PYTHON):
        pytest.skip(
            f"the Lambda runtime is Python {LAMBDA_PYTHON} (layers/python-version) but this machine has no "
            f"python{LAMBDA_PYTHON} (on PATH or in pyenv), so the tests run under {running}"
        )
    assert running == LAMBDA_PYTHON, (
        f"the tests run under Python {running}, the functions under {LAMBDA_PYTHON}: "
        "remove .venv and run make test to rebuild it with the runtime's version"
    )


def _machine_has_python(version: str) -> bool:
    """Where the Makefile looks for it: on PATH, or installed by pyenv."""
    pyenv = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")
    installed = list(pyenv.glob(f"versions/{version}.*/bin/python{version}"))
    return shutil.which(f"python{version}") is not None or bool(installed)


def test_executions_that_end_badly_reach_the_watcher(synthesized: Synth) -> None:
    rules = synthesized.stack.find_resources("AWS::Events::Rule")
    watching = [
        rule["Properties"]
        for rule in rules.values()
        if rule["Properties"].get("EventPattern", {}).get("source") == ["aws.states"]
    ]
    assert len(watching) == 1
    assert watching[0]["EventPattern"]["detail"]["status"] == list(ENDED_BADLY)
    target = watching[0]["Targets"][0]["Arn"]["Fn::GetAtt"][0]
    assert target == synthesized.logical_id(EXECUTION_ENDED_FUNCTION)
    assert synthesized.logical_id(EXECUTION_ENDED_FUNCTION) in synthesized.permitted_functions("events.amazonaws.com")


def test_the_sweeper_runs_on_a_schedule_and_may_resume_stop_and_read_executions(synthesized: Synth) -> None:
    rules = synthesized.stack.find_resources("AWS::Events::Rule")
    scheduled = [rule["Properties"] for rule in rules.values() if "ScheduleExpression" in rule["Properties"]]
    assert [rule["ScheduleExpression"] for rule in scheduled] == [f"rate({SWEEP_EVERY_MINUTES} minutes)"]
    assert scheduled[0]["Targets"][0]["Arn"]["Fn::GetAtt"][0] == synthesized.logical_id(SWEEPER_FUNCTION)
    assert synthesized.logical_id(SWEEPER_FUNCTION) in synthesized.permitted_functions("events.amazonaws.com")
    actions: list[str] = []
    for statement in synthesized.policy_statements(SWEEPER_FUNCTION):
        actions += statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
    assert {"states:StartExecution", "states:DescribeExecution", "states:StopExecution", "dynamodb:Query"} <= set(
        actions
    )


def test_swagger_ui_is_deployed_only_with_the_docs_switch(synthesized: Synth, alternative: Synth) -> None:
    assert "docs" not in synthesized.functions() and "docs" in alternative.functions()
    parts = {r["Properties"]["PathPart"] for r in alternative.api.find_resources("AWS::ApiGateway::Resource").values()}
    assert "docs" in parts
    docs = [
        m["Properties"]
        for m in alternative.api.find_resources("AWS::ApiGateway::Method").values()
        if m["Properties"]["HttpMethod"] == "GET" and m["Properties"]["AuthorizationType"] == "NONE"
    ]
    assert len(docs) == len([r for r in ALTERNATIVE_ROUTES if not r.authorized for _ in r.resource_paths])
    assert len(ALTERNATIVE_ROUTES) == len(DEPLOYED_ROUTES) + 1


# --- operations -----------------------------------------------------------------------------


def _alarms(synth: Synth) -> dict[str, dict[str, Any]]:
    return {key: value["Properties"] for key, value in synth.stack.find_resources("AWS::CloudWatch::Alarm").items()}


def test_every_alarm_acts_on_the_one_topic_which_mails_the_operators_when_asked(
    synthesized: Synth, alternative: Synth
) -> None:
    for synth in (synthesized, alternative):
        (topic,) = synth.stack.find_resources("AWS::SNS::Topic")
        alarms = _alarms(synth)
        assert len(alarms) > len(FUNCTIONS)
        for alarm in alarms.values():
            assert alarm["AlarmActions"] == [{"Ref": topic}] and alarm["OKActions"] == [{"Ref": topic}]
            assert alarm["AlarmDescription"]
    assert not synthesized.stack.find_resources("AWS::SNS::Subscription")
    alternative.stack.has_resource_properties(
        "AWS::SNS::Subscription", {"Protocol": "email", "Endpoint": "ops@carton.example"}
    )


def test_alarms_cover_the_api_every_function_the_workflow_the_feeds_and_the_table(synthesized: Synth) -> None:
    described = " ".join(alarm["AlarmDescription"] for alarm in _alarms(synthesized).values())
    for name in FUNCTIONS:
        assert f"Function {name} failed or was throttled" in described, name
    for what in (
        "5xx",
        "p90 latency",
        "packaging executions failed",
        "timed out",
        "dead-letter queue",
        "feed has had a message waiting",
        "DynamoDB throttled",
        "no progress for an hour",
    ):
        assert what in described, what


def test_a_dashboard_shows_requests_downloads_bytes_duration_and_queues(synthesized: Synth) -> None:
    (dashboard,) = synthesized.stack.find_resources("AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for shown in (
        "API requests",
        "API latency",
        "DownloadsCompleted",
        "DownloadsFailed",
        "BytesPackaged",
        "PackagingSeconds",
        "Feed queues",
        "Executions",
    ):
        assert shown in body, shown


def test_the_stage_is_throttled_logs_latency_and_packing_has_its_own_concurrency(
    synthesized: Synth, alternative: Synth
) -> None:
    (stage,) = synthesized.api.find_resources("AWS::ApiGateway::Stage").values()
    (settings,) = stage["Properties"]["MethodSettings"]
    assert settings["ThrottlingRateLimit"] == 50 and settings["ThrottlingBurstLimit"] == 100
    log_format = stage["Properties"]["AccessLogSetting"]["Format"]
    assert "$context.responseLatency" in log_format and "$context.integrationLatency" in log_format
    (other,) = alternative.api.find_resources("AWS::ApiGateway::Stage").values()
    assert other["Properties"]["MethodSettings"][0]["ThrottlingRateLimit"] == 7
    pack = synthesized.functions()["workflow_pack"]["Properties"]
    assert pack["ReservedConcurrentExecutions"] == 50
    assert "ReservedConcurrentExecutions" not in alternative.functions()["workflow_pack"]["Properties"]
    for name, function in synthesized.functions().items():
        if name != "workflow_pack":
            assert "ReservedConcurrentExecutions" not in function["Properties"], name


def test_waf_guards_the_stage_only_when_asked_and_lets_large_bodies_through(
    synthesized: Synth, alternative: Synth
) -> None:
    assert not synthesized.api.find_resources("AWS::WAFv2::WebACL")
    (acl,) = alternative.api.find_resources("AWS::WAFv2::WebACL").values()
    common, rate = acl["Properties"]["Rules"]
    managed = common["Statement"]["ManagedRuleGroupStatement"]
    assert managed["Name"] == "AWSManagedRulesCommonRuleSet"
    assert managed["RuleActionOverrides"] == [{"Name": "SizeRestrictions_BODY", "ActionToUse": {"Count": {}}}]
    assert rate["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    alternative.api.resource_count_is("AWS::WAFv2::WebACLAssociation", 1)
