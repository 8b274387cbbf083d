"""Carton on AWS: a thin stack composing one construct per concern."""

from __future__ import annotations

import aws_cdk as cdk
from constructs import Construct

from carton.shared import config
from carton.storage.schema import (
    ADMIN_FUNCTION,
    ADMIN_FUNCTION_OUTPUT,
    API_URL_OUTPUT,
    EXECUTION_ENDED_FUNCTION,
    S3_FEEDS,
    SWEEPER_FUNCTION,
)
from carton.web.routes import deployed_routes, http_functions
from infra.api import Api
from infra.definition import placeholders
from infra.functions import PACK_WORKER, Functions, metrics_namespace
from infra.nag import acknowledge
from infra.observability import Observability
from infra.permissions import WORKFLOW_ACTIONS
from infra.settings import from_context
from infra.storage import Storage
from infra.triggers import Triggers
from infra.workflow import Workflow

AUTHORIZER = "authorizer"
ADMIN = ADMIN_FUNCTION


def deployed_functions(switches: frozenset[str] = frozenset()) -> list[str]:
    """Every function deployed, each once: the authorizer, the API's, the workflow's steps,
    its watcher of ended executions and its sweeper, the S3 feeds' and the operators' admin
    function."""
    names = [
        AUTHORIZER,
        *http_functions(deployed_routes(switches)),
        *placeholders(),
        EXECUTION_ENDED_FUNCTION,
        SWEEPER_FUNCTION,
        *(feed.function for feed in S3_FEEDS),
        ADMIN,
    ]
    return list(dict.fromkeys(names))


class CartonStack(cdk.Stack):
    """Storage, functions, the workflow and the S3 feeds in this stack; the REST API, whose
    methods, resources and CORS preflights grow with every route, in a nested stack of its
    own: each stays well under CloudFormation's 500 resources (tests/infra checks <= 300)."""

    def __init__(self, scope: Construct, id: str, **kwargs: object) -> None:
        super().__init__(scope, id, **kwargs)  # type: ignore[arg-type]
        settings = from_context(self.node.try_get_context)

        storage = Storage(
            self,
            "Storage",
            archive_expiry_days=settings.archive_expiry_days,
            deletion_protection=settings.deletion_protection,
            cors_origins=settings.cors_origins,
        )
        functions = Functions(self, "Functions", storage=storage, settings=settings)
        by_name = {name: functions.add(name) for name in deployed_functions(settings.switches)}

        workflow = Workflow(
            self,
            "Workflow",
            functions=by_name,
            pack_concurrency=settings.pack_concurrency,
        )
        workflow.watch_endings(by_name[EXECUTION_ENDED_FUNCTION])
        workflow.sweep_with(by_name[SWEEPER_FUNCTION])
        for name, actions in WORKFLOW_ACTIONS.items():
            workflow.grant(by_name[name], actions)
            by_name[name].add_environment(config.ENV_STATE_MACHINE, workflow.state_machine.state_machine_arn)
        api_stack = cdk.NestedStack(self, "ApiStack", description="Carton REST API (routes, CORS, gateway answers)")
        api = Api(
            api_stack,
            "Api",
            functions=by_name,
            authorizer_function=by_name[AUTHORIZER],
            routes=deployed_routes(settings.switches),
            name=self.stack_name,
            throttling=(settings.api_rate_limit, settings.api_burst_limit),
            waf_rate_limit=settings.waf_rate_limit if settings.waf else None,
            cors_origins=settings.cors_origins,
        )
        triggers = Triggers(self, "Triggers", storage=storage, functions=by_name)
        observability = Observability(
            self,
            "Observability",
            namespace=metrics_namespace(self.stack_name),
            functions=by_name,
            pack_worker=PACK_WORKER,
            api=api.rest_api,
            state_machine=workflow.state_machine,
            queues=triggers.queues,
            dead_letter_queues=triggers.dead_letter_queues,
            table=storage.table,
            alarm_email=settings.alarm_email,
        )
        self._acknowledge_library_constructs()
        cdk.CfnOutput(self, API_URL_OUTPUT, value=api.url)
        cdk.CfnOutput(self, ADMIN_FUNCTION_OUTPUT, value=by_name[ADMIN].function_name)
        cdk.CfnOutput(self, "ArchivesBucket", value=storage.archives.bucket_name)
        cdk.CfnOutput(self, "AlarmsTopicArn", value=observability.topic.topic_arn)

    def _acknowledge_library_constructs(self) -> None:
        """Findings on roles that aws-cdk-lib creates itself, each with the reason it stays."""
        for child in self.node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                acknowledge(
                    child,
                    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                    "aws-cdk-lib's deploy-time handler that writes bucket notifications; it only needs to log.",
                )
