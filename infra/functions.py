"""Lambda functions: one per folder under functions/, on the shared core and deps layers."""

from __future__ import annotations

from email.utils import parseaddr

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from carton.shared import config
from infra.bundling import (
    LAMBDA_PYTHON,
    core_layer_code,
    deps_layer_code,
    function_code,
)
from infra.nag import acknowledge
from infra.observability import log_group
from infra.permissions import (
    BUCKET_ACTIONS,
    DEFAULT_SIZING,
    NOTIFIES,
    OBJECT_ACTIONS,
    QUERIES_INDEXES,
    SIZING,
    TABLE_ACTIONS,
    listed_prefixes,
)
from infra.settings import DeploySettings
from infra.storage import Storage

PACK_WORKER = "workflow_pack"


def metrics_namespace(stack_name: str) -> str:
    """Where a stack's functions publish their metrics (and its dashboard reads them)."""
    return f"Carton/{stack_name}"


RUNTIME = lambda_.Runtime(f"python{LAMBDA_PYTHON}", lambda_.RuntimeFamily.PYTHON)
# The context key `architecture` (infra/settings.py) names one of these.
ARCHITECTURES = {"arm64": lambda_.Architecture.ARM_64, "x86_64": lambda_.Architecture.X86_64}


class Functions(Construct):
    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        storage: Storage,
        settings: DeploySettings,
    ) -> None:
        super().__init__(scope, id)
        self._storage = storage
        self._architecture = ARCHITECTURES[settings.architecture]
        self._mail_from = settings.mail_from
        # Pack workers of every download share this many executions, reserved for them and
        # capped: a burst of downloads never takes the concurrency the API needs.
        self._reserved = {PACK_WORKER: settings.pack_reserved_concurrency}
        cursor_key = secretsmanager.Secret(
            self,
            "CursorKey",
            description="Signs Carton's list cursors (tamper-evident paging links)",
            generate_secret_string=secretsmanager.SecretStringGenerator(password_length=48, exclude_punctuation=True),
        )
        acknowledge(
            cursor_key,
            "AwsSolutions-SMG4",
            "Rotating it only invalidates paging links in flight; it guards no data. Rotate by redeploying.",
        )
        runtimes = [RUNTIME]
        self._layers = [
            lambda_.LayerVersion(
                self,
                "DepsLayer",
                code=deps_layer_code(settings.architecture),
                compatible_runtimes=runtimes,
                compatible_architectures=[self._architecture],
                description="Carton third-party runtime dependencies",
            ),
            lambda_.LayerVersion(
                self,
                "CoreLayer",
                code=core_layer_code(),
                compatible_runtimes=runtimes,
                compatible_architectures=[self._architecture],
                description="Carton core library (carton package)",
            ),
        ]
        self._environment = {
            config.ENV_TABLE: storage.table.table_name,
            config.ENV_ASSETS_BUCKET: storage.assets.bucket_name,
            config.ENV_ARCHIVES_BUCKET: storage.archives.bucket_name,
            config.ENV_ARCHIVE_EXPIRY_DAYS: str(settings.archive_expiry_days),
            # Resolved by CloudFormation at deploy time (a dynamic reference), never in the template.
            config.ENV_CURSOR_KEY: cursor_key.secret_value.unsafe_unwrap(),
            # Without a sender (email=off) notifications say so instead of sending.
            **({config.ENV_MAIL_FROM: settings.mail_from} if settings.mail_from else {}),
            # The functions answer CORS for these origins on their own responses.
            **({config.ENV_CORS_ORIGINS: ",".join(settings.cors_origins)} if settings.cors_origins else {}),
            **({config.ENV_PUBLIC_BASE_URL: settings.public_base_url} if settings.public_base_url else {}),
            "POWERTOOLS_SERVICE_NAME": "carton",
            "POWERTOOLS_METRICS_NAMESPACE": metrics_namespace(cdk.Stack.of(self).stack_name),
        }
        self.by_name: dict[str, lambda_.Function] = {}

    def add(self, name: str) -> lambda_.Function:
        if name in self.by_name:
            return self.by_name[name]
        memory, timeout = SIZING.get(name, DEFAULT_SIZING)
        scope = Construct(self, name)
        role = iam.Role(
            scope,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Carton function {name}",
        )
        function_logs = log_group(scope, "Logs", logs.RetentionDays.ONE_MONTH)
        function = lambda_.Function(
            scope,
            "Function",
            runtime=RUNTIME,
            architecture=self._architecture,
            handler="handler.lambda_handler",
            code=function_code(name),
            layers=self._layers,
            memory_size=memory,
            timeout=cdk.Duration.seconds(timeout),
            environment=dict(self._environment),
            role=role,
            log_group=function_logs,
            tracing=lambda_.Tracing.ACTIVE,
            description=f"Carton {name}",
            reserved_concurrent_executions=self._reserved.get(name),
        )
        acknowledge(
            function,
            "AwsSolutions-L1",
            f"python{LAMBDA_PYTHON} on purpose: the Python the tests run under and the deps layer's wheels "
            "are built for (layers/python-version); a newer runtime is adopted there, for all three at once.",
        )
        function_logs.grant_write(role)
        self._grant_storage(name, function)
        if name in NOTIFIES:
            self._grant_notifications(function)
        self.by_name[name] = function
        return function

    def _grant_storage(self, name: str, function: lambda_.Function) -> None:
        table = self._storage.table
        if name in TABLE_ACTIONS:
            resources = [table.table_arn]
            if name in QUERIES_INDEXES:
                resources.append(f"{table.table_arn}/index/*")
            function.add_to_role_policy(iam.PolicyStatement(actions=TABLE_ACTIONS[name], resources=resources))
        object_resources: list[str] = []
        for bucket_name, prefix, actions in OBJECT_ACTIONS.get(name, []):
            resource = self._storage.bucket(bucket_name).arn_for_objects(f"{prefix}*")
            function.add_to_role_policy(iam.PolicyStatement(actions=actions, resources=[resource]))
            object_resources.append(resource)
        for bucket_name, prefixes in listed_prefixes(name).items():
            # A missing key then answers 404 (NoSuchKey), not 403; listing stays within the prefixes.
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=["s3:ListBucket"],
                    resources=[self._storage.bucket(bucket_name).bucket_arn],
                    conditions={"StringLike": {"s3:prefix": [f"{prefix}*" for prefix in prefixes]}},
                )
            )
        for bucket_name, actions in BUCKET_ACTIONS.get(name, []):
            function.add_to_role_policy(
                iam.PolicyStatement(actions=actions, resources=[self._storage.bucket(bucket_name).bucket_arn])
            )
        policy = function.role.node.find_child("DefaultPolicy") if function.role else function
        stack = cdk.Stack.of(self)
        for bucket_name, prefix, _ in OBJECT_ACTIONS.get(name, []):
            bucket = self._storage.bucket(bucket_name).node.default_child
            logical_id = stack.resolve(stack.get_logical_id(bucket))  # type: ignore[arg-type]
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{prefix}*]",
                f"Object access is scoped to the {prefix} prefix of one bucket, whose keys are generated per object.",
            )
        if name in QUERIES_INDEXES:
            logical_id = stack.resolve(stack.get_logical_id(self._storage.table.node.default_child))  # type: ignore[arg-type]
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/index/*]",
                "Lists query every list index of Carton's one table (by account, user, state, type, asset); "
                "the sweeper its activity index.",
            )
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::*]",
            "Only X-Ray tracing (PutTraceSegments, PutTelemetryRecords), which has no resource-level permissions.",
        )

    def _grant_notifications(self, function: lambda_.Function) -> None:
        stack = cdk.Stack.of(self)
        bus = stack.format_arn(service="events", resource="event-bus", resource_name="default")
        function.add_to_role_policy(iam.PolicyStatement(actions=["events:PutEvents"], resources=[bus]))
        if not self._mail_from:
            return  # email=off: no sender, no SES
        identities = stack.format_arn(service="ses", resource="identity", resource_name="*")
        function.add_to_role_policy(
            iam.PolicyStatement(
                actions=["ses:SendEmail"],
                resources=[identities],
                # Only as the configured sender (the bare address of mail_from).
                conditions={"StringEquals": {"ses:FromAddress": parseaddr(self._mail_from)[1]}},
            )
        )
        acknowledge(
            function.role.node.find_child("DefaultPolicy") if function.role else function,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ses:<AWS::Region>:<AWS::AccountId>:identity/*]",
            "SES checks the sender's identity and, in the sandbox, each recipient's (any address a download "
            "notifies); the ses:FromAddress condition pins the sender to mail_from.",
        )
